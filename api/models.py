"""What the API and its webhooks keep: tokens, webhook endpoints and their deliveries, the keys
of idempotent requests, imports by URL, and each person's e-mail notice switch."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from transcripts.models import Call, Team

TOKEN_PREFIX = "cs_"


def hash_token(token: str) -> str:
    # A token is 256 random bits: a fast hash is enough, as GitHub and Stripe do.
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A personal token: it acts as its owner, in all of the owner's teams. Only its hash is
    stored; the token itself is shown once, when it is made."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The first characters, so people can tell their tokens apart.
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user, name: str, expires_at=None) -> tuple[ApiToken, str]:
        """A new token for `user`; returns it with the secret, which is not kept anywhere.
        ValidationError where they already have API_TOKENS_PER_PERSON that work: every one
        is a key to their teams' calls, and one forgotten in a script is one to leak."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with transaction.atomic():
            # The person's row locked: two requests at once cannot both take the last place.
            list(get_user_model().objects.select_for_update().filter(pk=user.pk).values("pk"))
            limit = settings.API_TOKENS_PER_PERSON
            if cls.objects.filter(user=user).usable().count() >= limit:
                raise ValidationError(
                    f"You have {limit} tokens that work, the most one person may have: revoke "
                    "one you no longer use, then make the new one.",
                    code="too_many_tokens",
                )
            token = cls.objects.create(
                user=user,
                name=name.strip()[:100] or "API token",
                prefix=secret[:10],
                token_hash=hash_token(secret),
                expires_at=expires_at,
            )
        return token, secret

    @classmethod
    def find(cls, secret: str) -> ApiToken | None:
        return (
            cls.objects.usable()
            .select_related("user")
            .filter(token_hash=hash_token(secret), user__is_active=True)
            .first()
        )

    @property
    def is_usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def mark_used(self) -> None:
        # At most one write a minute per token: the list and poll requests stay reads.
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at > timedelta(minutes=1):
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


class IdempotencyKey(models.Model):
    """The call a POST with an Idempotency-Key header made, so a retry gets it back."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    # What the request asked for: the same key with a different request is refused.
    fingerprint = models.CharField(max_length=64)
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")
        ]

    def __str__(self) -> str:
        return self.key


class UrlImport(models.Model):
    """A call whose recording a worker downloads from a URL (what dialers send)."""

    class Status(models.TextChoices):
        DOWNLOADING = "downloading", "Downloading"
        DONE = "done", "Downloaded"
        FAILED = "failed", "Failed"

    call = models.OneToOneField(Call, on_delete=models.CASCADE, related_name="url_import")
    url = models.URLField(max_length=2000)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DOWNLOADING)
    size_bytes = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.url


class NoticePreference(models.Model):
    """Whether a person gets an e-mail when a call they uploaded is done or failed."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notice_preference"
    )
    email_when_finished = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.user}: {'on' if self.email_when_finished else 'off'}"

    @classmethod
    def wants_email(cls, user) -> bool:
        preference = cls.objects.filter(user=user).first()
        return preference is None or preference.email_when_finished


class Event(models.TextChoices):
    CALL_DONE = "call.done", "call.done"
    CALL_FAILED = "call.failed", "call.failed"
    CALL_DELETED = "call.deleted", "call.deleted"


def default_events() -> list[str]:
    return list(Event.values)


def new_secret() -> str:
    # Standard Webhooks' form: "whsec_" and 24 to 64 random bytes in base64.
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    """A URL of the team's own systems that is told when its calls are done, failed or deleted."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=default_events)
    secret = models.CharField(max_length=100, default=new_secret)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One message to one endpoint, with every attempt to deliver it counted."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        RETRYING = "retrying", "Retrying"
        FAILED = "failed", "Failed"

    BEING_TRIED = (Status.PENDING, Status.RETRYING)

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The webhook-id header: the same for every attempt, so receivers can drop repeats.
    message_id = models.CharField(max_length=40, default="", editable=False)
    event = models.CharField(max_length=20, choices=Event.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint}"

    def save(self, *args, **kwargs):
        if not self.message_id:
            self.message_id = f"msg_{uuid.uuid4().hex}"
        super().save(*args, **kwargs)

    @property
    def is_being_tried(self) -> bool:
        """An attempt is queued or scheduled: its round of attempts is not over."""
        return self.status in self.BEING_TRIED
