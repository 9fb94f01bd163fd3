"""Teams, calls and their transcripts. A call's state changes only through its own methods."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone


class Team(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("transcripts:team_detail", args=[self.slug])

    def is_manager(self, user) -> bool:
        return self.memberships.filter(user=user, role=Membership.Role.MANAGER).exists()


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        MANAGER = "manager", "Manager"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="one_membership_per_team")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER


def audio_upload_path(call: Call, filename: str) -> str:
    # A random name: the uploaded name is only metadata, and could be anything ("../../x").
    suffix = Path(filename).suffix.lower()
    if not suffix[1:].isalnum() or len(suffix) > 6:
        suffix = ""
    return f"audio/{call.uuid.hex[:2]}/{call.uuid.hex}{suffix}"


class CallQuerySet(models.QuerySet):
    def for_user(self, user) -> CallQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(team__memberships__user=user)

    def queued(self) -> CallQuerySet:
        return self.filter(status=Call.Status.QUEUED)

    def unfinished(self) -> CallQuerySet:
        return self.filter(status__in=[Call.Status.QUEUED, Call.Status.PROCESSING])


class Call(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Stage(models.TextChoices):
        NONE = "", "—"
        DECODING = "decoding", "Decoding audio"
        TRANSCRIBING = "transcribing", "Transcribing"
        SAVING = "saving", "Saving"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="calls")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="uploaded_calls",
    )
    title = models.CharField(max_length=200, blank=True)
    original_filename = models.CharField(max_length=255, blank=True)
    audio = models.FileField(upload_to=audio_upload_path, max_length=255)
    size_bytes = models.BigIntegerField(default=0)
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.NONE, blank=True)
    # Fraction of the audio transcribed, 0..1.
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds of audio.")

    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    transcribing_started_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Seconds spent transcribing (decoding and model time, not time in the queue).
    processing_seconds = models.FloatField(null=True, blank=True)
    # Where this run resumed from after a crash (seconds of audio already transcribed).
    resumed_from = models.FloatField(default=0.0)
    # Where the next window starts: a run that dies mid-window resumes here, so the resumed
    # transcript is exactly what an uninterrupted run would have made.
    resume_at = models.FloatField(default=0.0)

    # What transcribed it, so results can be compared and reproduced.
    engine = models.CharField(max_length=20, blank=True)
    model_name = models.CharField(max_length=40, blank=True)
    device = models.CharField(max_length=20, blank=True)
    compute_type = models.CharField(max_length=20, blank=True)
    decode_options = models.JSONField(default=dict, blank=True)

    # The lease: which worker holds the call, until when. See claim() and heartbeat().
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)

    objects = CallQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "-created_at"])]

    def __str__(self) -> str:
        return self.display_title

    def get_absolute_url(self) -> str:
        return reverse("transcripts:call_detail", args=[self.uuid])

    def can_change(self, user) -> bool:
        """Editing the title or deleting: the uploader, a manager of the team, or staff."""
        if user.is_staff or (self.uploaded_by_id and self.uploaded_by_id == user.pk):
            return True
        return self.team.memberships.filter(user=user, role=Membership.Role.MANAGER).exists()

    @property
    def display_title(self) -> str:
        return self.title or self.original_filename or f"Call {self.uuid.hex[:8]}"

    FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED)

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def percent(self) -> int:
        return int(round(self.progress * 100))

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left, extrapolated from the speed so far; None until there is a speed."""
        if self.stage != self.Stage.TRANSCRIBING or not self.transcribing_started_at:
            return None
        done = self.progress - (self.resumed_from / self.duration if self.duration else 0.0)
        if done <= 0.02:
            return None
        elapsed = (timezone.now() - self.transcribing_started_at).total_seconds()
        return max(0.0, elapsed * (1.0 - self.progress) / done)

    @property
    def speed(self) -> float | None:
        """Seconds of audio transcribed per second of processing."""
        if self.duration and self.processing_seconds:
            return self.duration / self.processing_seconds
        return None

    @property
    def transcript_text(self) -> str:
        return " ".join(segment.text for segment in self.segments.all())

    # --- state transitions, used by the worker, the admin and tests alike ---------------------

    def _update(self, condition: Q | None = None, **fields) -> bool:
        """Write `fields` if the row still matches `condition`; keep this instance in step."""
        rows = Call.objects.filter(pk=self.pk)
        if condition is not None:
            rows = rows.filter(condition)
        changed = rows.update(**fields) == 1
        if changed:
            for name, value in fields.items():
                if not hasattr(value, "resolve_expression"):
                    setattr(self, name, value)
        return changed

    def claim(self, worker: str) -> bool:
        """Take the call for `worker`, if nobody holds a live lease on it.

        One atomic UPDATE decides: of two workers handed the same call (a task re-delivered
        by the broker, or enqueued twice), exactly one wins; the other leaves it alone.
        """
        now = timezone.now()
        claimable = Q(status=self.Status.QUEUED) | Q(
            status=self.Status.PROCESSING, lease_expires_at__lt=now
        )
        claimed = self._update(
            claimable,
            status=self.Status.PROCESSING,
            stage=self.Stage.DECODING,
            lease_owner=worker,
            lease_expires_at=now + self.lease_length(),
            started_at=now,
            attempts=F("attempts") + 1,
            error="",
        )
        if claimed:
            self.refresh_from_db()
        return claimed

    @staticmethod
    def lease_length() -> timedelta:
        return timedelta(seconds=settings.CALL_LEASE_SECONDS)

    def holds_lease(self, worker: str) -> Q:
        return Q(lease_owner=worker, status=self.Status.PROCESSING)

    def heartbeat(self, worker: str) -> bool:
        """Renew the lease; False means the call was taken away (cancelled, or reaped)."""
        return self._update(
            self.holds_lease(worker),
            lease_expires_at=timezone.now() + self.lease_length(),
        )

    def start_transcribing(self, worker: str, *, duration: float, resumed_from: float) -> bool:
        now = timezone.now()
        return self._update(
            self.holds_lease(worker),
            stage=self.Stage.TRANSCRIBING,
            duration=duration,
            resumed_from=resumed_from,
            progress=min(1.0, resumed_from / duration) if duration else 0.0,
            transcribing_started_at=now,
            progress_at=now,
            lease_expires_at=now + self.lease_length(),
        )

    def report_progress(self, worker: str, fraction: float) -> bool:
        now = timezone.now()
        return self._update(
            self.holds_lease(worker),
            progress=max(0.0, min(1.0, fraction)),
            progress_at=now,
            lease_expires_at=now + self.lease_length(),
        )

    def record_engine(self, worker: str, description: dict, options: dict) -> bool:
        return self._update(
            self.holds_lease(worker),
            engine=description.get("engine", ""),
            model_name=description.get("model", ""),
            device=description.get("device", ""),
            compute_type=description.get("compute_type", ""),
            decode_options=options,
        )

    def finish(self, worker: str, *, processing_seconds: float) -> bool:
        return self._update(
            self.holds_lease(worker),
            status=self.Status.DONE,
            stage=self.Stage.NONE,
            progress=1.0,
            finished_at=timezone.now(),
            processing_seconds=processing_seconds,
            # lease_owner stays: it tells ops which worker transcribed the call.
            lease_expires_at=None,
        )

    def fail(self, message: str, *, worker: str | None = None) -> bool:
        """Mark the call failed with a message a person can act on."""
        condition = self.holds_lease(worker) if worker else None
        return self._update(
            condition,
            status=self.Status.FAILED,
            stage=self.Stage.NONE,
            error=message,
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
        )

    def cancel(self) -> bool:
        """Stop a queued or running call. A running worker notices at its next progress report
        or segment (within seconds), because its lease is gone, and stops."""
        return self._update(
            Q(status__in=[self.Status.QUEUED, self.Status.PROCESSING]),
            status=self.Status.CANCELLED,
            stage=self.Stage.NONE,
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
        )

    def reset_for_retranscription(self) -> None:
        """Forget the transcript and put the call back in the queue (the caller enqueues it)."""
        with transaction.atomic():
            self.segments.all().delete()
            self._update(
                None,
                status=self.Status.QUEUED,
                stage=self.Stage.NONE,
                progress=0.0,
                error="",
                queued_at=timezone.now(),
                started_at=None,
                transcribing_started_at=None,
                finished_at=None,
                processing_seconds=None,
                resumed_from=0.0,
                resume_at=0.0,
                lease_owner="",
                lease_expires_at=None,
                attempts=0,
            )


@receiver(post_delete, sender=Call)
def delete_audio_file(sender, instance: Call, **kwargs) -> None:
    # The audio goes with the call, however it is deleted (page, admin, bulk, team removal);
    # only once the deletion is committed, so a rolled-back delete keeps its file.
    storage, name = instance.audio.storage, instance.audio.name
    if name:
        transaction.on_commit(lambda: storage.delete(name))


class Segment(models.Model):
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="segments")
    index = models.PositiveIntegerField()
    start = models.FloatField()
    end = models.FloatField()
    text = models.TextField()
    speaker = models.CharField(max_length=100, blank=True)
    # Whisper's confidence figures for the segment.
    avg_logprob = models.FloatField(null=True, blank=True)
    no_speech_prob = models.FloatField(null=True, blank=True)
    compression_ratio = models.FloatField(null=True, blank=True)
    words = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["call", "index"]
        constraints = [
            models.UniqueConstraint(fields=["call", "index"], name="one_segment_per_index")
        ]

    def __str__(self) -> str:
        return f"[{self.start:.1f}-{self.end:.1f}] {self.text}"

    @property
    def confidence(self) -> float | None:
        """avg_logprob as a 0..1 figure (the mean token probability), for people to read."""
        import math

        return math.exp(self.avg_logprob) if self.avg_logprob is not None else None


class ClusterHeartbeat(models.Model):
    """When each worker cluster last showed it was alive, for /healthz and the admin."""

    name = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%H:%M:%S}"

    @classmethod
    def beat(cls, name: str) -> None:
        cls.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})
