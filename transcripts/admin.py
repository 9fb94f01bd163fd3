from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from . import formats, services
from .forms import PhrasesField, UniqueEmailUserChangeForm
from .health import queue_figures
from .models import (
    Call,
    ClusterHeartbeat,
    Invitation,
    Membership,
    Profile,
    Segment,
    Team,
    Tracker,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    list_display = ["name", "slug", "audio_retention_days", "transcript_retention_days"]
    readonly_fields = ["trackers_changed_at"]
    inlines = [MembershipInline]


class TrackerAdminForm(forms.ModelForm):
    phrases = PhrasesField()

    class Meta:
        model = Tracker
        fields = ["team", "name", "phrases"]


@admin.register(Tracker)
class TrackerAdmin(admin.ModelAdmin):
    form = TrackerAdminForm
    list_display = ["name", "team", "phrase_list"]
    list_filter = ["team"]
    search_fields = ["name", "team__name"]
    list_select_related = ["team"]

    @admin.display(description="Phrases")
    def phrase_list(self, tracker: Tracker) -> str:
        return ", ".join(tracker.phrases)

    # Calls are searched again for a changed tracker, however it was changed.
    def save_model(self, request, tracker, form, change):
        services.tracker_save(tracker=tracker)

    def delete_model(self, request, tracker):
        services.tracker_delete(tracker=tracker)

    def delete_queryset(self, request, queryset):
        for tracker in queryset.select_related("team"):
            services.tracker_delete(tracker=tracker)


class SegmentInline(admin.TabularInline):
    model = Segment
    extra = 0
    fields = ["index", "start", "end", "speaker", "text", "original_text", "avg_logprob"]
    # Speakers follow the call's channels and names (renamed on the call's page).
    readonly_fields = ["index", "start", "end", "speaker", "original_text", "avg_logprob"]
    show_change_link = False


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = [
        "display_title",
        "team",
        "uploaded_by",
        "status",
        "stage",
        "percent",
        "length",
        "engine",
        "model_name",
        "created_at",
    ]
    list_filter = ["status", "engine", "model_name", "team", "created_at"]
    search_fields = ["title", "original_filename", "uuid", "uploaded_by__username", "error"]
    date_hierarchy = "created_at"
    list_select_related = ["team", "uploaded_by"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "uuid",
                    "title",
                    "team",
                    "uploaded_by",
                    "original_filename",
                    "recording",
                    "size_bytes",
                    "content_type",
                ]
            },
        ),
        ("Status", {"fields": ["status", "stage", "progress", "error", "duration"]}),
        (
            "Transcription",
            {"fields": ["engine", "model_name", "device", "compute_type", "decode_options"]},
        ),
        ("What was heard", {"fields": ["unheard", "edits_not_carried"]}),
        (
            "Timing",
            {
                "fields": [
                    "queued_at",
                    "started_at",
                    "transcribing_started_at",
                    "progress_at",
                    "finished_at",
                    "processing_seconds",
                    "resumed_from",
                ]
            },
        ),
        ("Worker", {"fields": ["lease_owner", "lease_expires_at", "attempts", "task_id"]}),
        ("Retention", {"fields": ["retention_hold", "audio_deleted_at"]}),
        (
            "Speakers and analytics",
            {
                "fields": [
                    "channel_layout",
                    "rep_channel",
                    "speaker_names",
                    "analytics_at",
                    "rep_talk_share",
                ]
            },
        ),
    ]
    # Apart from what the call is and whose it is, every field is the worker's record.
    readonly_fields = [
        name
        for _, group in fieldsets
        for name in group["fields"]
        if name not in ("title", "team", "uploaded_by", "retention_hold")
    ]
    inlines = [SegmentInline]
    actions = ["retranscribe"]

    def changelist_view(self, request, extra_context=None):
        # Ops see at a glance whether the workers keep up.
        extra_context = {**(extra_context or {}), "queue": queue_figures()}
        return super().changelist_view(request, extra_context)

    def save_model(self, request, call, form, change):
        # A call moved to another team keeps no rep from the old one: their name would show on
        # the new team's dashboard and on the call's voices. Its uploader leads it if a member.
        if "team" in form.changed_data and call.rep_id:
            if not call.team.memberships.filter(user_id=call.rep_id).exists():
                call.rep = services.default_rep(call.team, call.uploaded_by)
        super().save_model(request, call, form, change)

    def save_formset(self, request, form, formset, change):
        if formset.model is Segment:
            for line in formset.forms:
                if line.instance.pk and "text" in line.changed_data:
                    # The rule of a correction on the call's page: Whisper's text is kept.
                    line.instance.text = line.initial["text"]
                    line.instance.edit_text(line.cleaned_data["text"])
        super().save_formset(request, form, formset, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.instance.status == Call.Status.DONE:
            form.instance.refresh_analytics()

    @admin.display(description="Recording")
    def recording(self, call: Call) -> str:
        if not call.has_audio:
            when = f" on {call.audio_deleted_at:%Y-%m-%d}" if call.audio_deleted_at else ""
            return f"Deleted under the team's retention rules{when}"
        # Audio has no public URL: link to the view that streams it to team members.
        return format_html(
            '<a href="{}">{}</a> ({} bytes)',
            reverse("transcripts:call_audio", args=[call.uuid]),
            call.audio.name,
            call.size_bytes,
        )

    @admin.display(description="Length", ordering="duration")
    def length(self, call: Call) -> str:
        return "–" if call.duration is None else formats.clock(call.duration)

    @admin.display(description="Progress")
    def percent(self, call: Call) -> str:
        return f"{call.percent}%"

    @admin.action(description="Transcribe the selected calls again")
    def retranscribe(self, request: HttpRequest, queryset: QuerySet[Call]) -> None:
        count = 0
        for call in queryset:
            try:
                count += services.call_retranscribe(call)
            except ValidationError as error:  # its recording was deleted
                self.message_user(request, f"{call}: {' '.join(error.messages)}", messages.ERROR)
        self.message_user(request, f"{count} call(s) queued again.", messages.SUCCESS)


@admin.register(ClusterHeartbeat)
class ClusterHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "seen_at"]
    ordering = ["-seen_at"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Read and revoke only: an invitation is made on the team page, which e-mails its link
    (only the links' hashes are stored, so nothing here could send one)."""

    list_display = ["email", "team", "role", "invited_by", "sent_at", "accepted_at", "revoked_at"]
    list_filter = ["team"]
    search_fields = ["email"]
    readonly_fields = [
        "team",
        "email",
        "role",
        "invited_by",
        "created_at",
        "sent_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
    ]
    exclude = ["email_token_hash", "link_token_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "verified_email", "email_verified_at"]
    search_fields = ["user__username", "verified_email"]
    readonly_fields = ["user", "verified_email", "email_verified_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class UniqueEmailUserAdmin(UserAdmin):
    form = UniqueEmailUserChangeForm


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UniqueEmailUserAdmin)
