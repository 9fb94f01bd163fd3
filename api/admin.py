from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import webhooks
from .models import ApiToken, NoticePreference, UrlImport, WebhookDelivery, WebhookEndpoint


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    # Tokens are made on the profile page or by `create_api_token`, which show the secret once.
    readonly_fields = ["user", "prefix", "token_hash", "created_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            token.revoke()


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ["event", "status", "attempts", "response_status", "last_attempt_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    ordering = ["-created_at"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "team", "events", "is_active", "created_at"]
    list_filter = ["is_active", "team"]
    inlines = [WebhookDeliveryInline]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "event",
        "endpoint",
        "status",
        "attempts",
        "response_status",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "event"]
    readonly_fields = [
        "endpoint",
        "message_id",
        "event",
        "payload",
        "status",
        "attempts",
        "response_status",
        "error",
        "created_at",
        "last_attempt_at",
        "next_attempt_at",
    ]
    actions = ["send_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Send again")
    def send_again(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        deliveries = list(queryset.select_related("endpoint"))
        sent = sum(webhooks.send_again(delivery) for delivery in deliveries)
        messages.success(request, f"{sent} deliveries will be sent again.")
        if sent < len(deliveries):
            messages.warning(
                request, f"{len(deliveries) - sent} still being tried were left to their retries."
            )


@admin.register(UrlImport)
class UrlImportAdmin(admin.ModelAdmin):
    list_display = ["url", "call", "status", "size_bytes", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = ["call", "url", "status", "size_bytes", "error", "created_at", "finished_at"]


admin.site.register(NoticePreference)
