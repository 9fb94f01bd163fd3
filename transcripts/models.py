"""Teams, calls and their transcripts. A call's state changes only through its own methods."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver
from django.urls import reverse
from django.utils import timezone

from . import analytics as call_analytics
from . import media, recordings, speakers
from .speakers import MAX_SPEAKERS, REP, ROLES
from .speech.channels import Layout


class Channel(models.IntegerChoices):
    LEFT = 0, "Left"
    RIGHT = 1, "Right"


class Quality(models.TextChoices):
    """Which model transcribes a call (transcripts.quality says which and how well)."""

    FAST = "fast", "Fast"
    ACCURATE = "accurate", "Accurate"


# Every new team starts with these, so a first call already shows tracker hits; teams edit them.
# Phrases match whole words, so plurals are listed too.
DEFAULT_TRACKERS: dict[str, list[str]] = {
    "Competitors": [
        "competitor",
        "competitors",
        "alternative",
        "alternatives",
        "other vendor",
        "other vendors",
        "compare",
        "comparing",
        "switch from",
        "currently using",
    ],
    "Pricing": [
        "price",
        "prices",
        "pricing",
        "cost",
        "costs",
        "budget",
        "discount",
        "per user",
        "per seat",
        "per month",
        "contract",
        "quote",
        "expensive",
    ],
    "Next steps": [
        "next step",
        "next steps",
        "follow up",
        "schedule",
        "demo",
        "calendar invite",
        "send over",
        "proposal",
        "trial",
        "next week",
    ],
}


class Team(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams"
    )
    created_at = models.DateTimeField(default=timezone.now)
    rep_channel = models.PositiveSmallIntegerField(
        "rep's channel",
        choices=Channel.choices,
        default=Channel.LEFT,
        help_text=(
            "Where your dialer records the rep in a stereo recording; the customer is on the "
            "other channel. Applies to new calls: swap the speakers on a call to fix one "
            "transcribed before."
        ),
    )
    quality = models.CharField(
        "transcription quality",
        max_length=10,
        choices=Quality.choices,
        default=Quality.FAST,
        help_text="What the team's uploads are transcribed with, unless the uploader chooses.",
    )
    # Analytics computed before this are out of date (see Call.analytics_stale).
    trackers_changed_at = models.DateTimeField(null=True, blank=True)
    vocabulary = models.TextField(
        blank=True,
        max_length=1000,
        help_text=(
            "Product, company, competitor and people's names the team's calls use, separated by "
            "commas. The engine is told to expect them, so it spells them right more often."
        ),
    )
    # Retention (transcripts.retention): recordings and transcripts are deleted this many days
    # after upload; blank keeps them for ever. Audio never outlives its transcript.
    audio_retention_days = models.PositiveIntegerField(
        "keep recordings for (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Blank keeps them for ever.",
    )
    transcript_retention_days = models.PositiveIntegerField(
        "keep transcripts for (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="The call, its transcript and analytics. Blank keeps them for ever.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(transcript_retention_days__isnull=True)
                | Q(
                    audio_retention_days__isnull=False,
                    audio_retention_days__lte=F("transcript_retention_days"),
                ),
                name="audio_kept_no_longer_than_transcripts",
                violation_error_message=(
                    "Recordings cannot be kept longer than transcripts: a transcript is deleted "
                    "with its call."
                ),
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("transcripts:team_detail", args=[self.slug])

    def add_default_trackers(self) -> None:
        for name, phrases in DEFAULT_TRACKERS.items():
            Tracker.objects.get_or_create(team=self, name=name, defaults={"phrases": phrases})

    def is_manager(self, user) -> bool:
        return self.memberships.filter(user=user, role=Membership.Role.MANAGER).exists()

    def check_room_for_a_tracker(self) -> None:
        if self.trackers.count() >= settings.MAX_TRACKERS_PER_TEAM:
            raise ValidationError(
                f"A team can have up to {settings.MAX_TRACKERS_PER_TEAM} trackers: "
                "delete one, or add its phrases to another."
            )


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


class Profile(models.Model):
    """What callscribe knows of a person beyond Django's user: whether their address is theirs.

    An address counts as verified only once a link sent to it was used: the e-mail of an
    invitation, or a password reset. An account made through a link a manager copied, or by
    someone typing an address, stays unverified (see Invitation for why that matters).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    # The address that was proven, lower-case: a later change of the account's address is
    # not verified by it.
    verified_email = models.EmailField(blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.verified_email or 'no verified address'}"

    @staticmethod
    def has_verified_email(user) -> bool:
        if not user.is_authenticated or not user.email:
            return False
        return Profile.objects.filter(
            user=user, verified_email=user.email.lower(), email_verified_at__isnull=False
        ).exists()

    @staticmethod
    def verify_email(user) -> None:
        """Someone logged in as `user` used a link that was sent to the account's address."""
        Profile.objects.update_or_create(
            user=user,
            defaults={"verified_email": user.email.lower(), "email_verified_at": timezone.now()},
        )


def _token_hash(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


class InvitationQuerySet(models.QuerySet):
    def unanswered(self) -> InvitationQuerySet:
        """Neither accepted nor revoked (expired ones included: a resend renews them)."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)

    def pending(self) -> InvitationQuerySet:
        """Invitations whose links work now."""
        return self.unanswered().filter(expires_at__gt=timezone.now())


class Invitation(models.Model):
    """An offer to join a team, made to an e-mail address. Nobody joins a team without
    accepting one, and the answer to "invite" never says whether the address has an account.

    Who may accept, and why (issue 9: a manager made an account for carol@, set its password
    through the link he was shown, and when another team later added carol@ "she" joined it
    silently and he read that team's calls):

    An invitation has two secrets. The *e-mail token* is only ever sent to the invited
    address, so using it proves control of the address. The *link token* is what a manager
    may copy and hand over another way; the manager holds it too, so it proves nothing.
    Only hashes of both are stored. With either link, a visitor who is:

    - logged in with the invited address, verified: may accept (ACCEPT);
    - logged in with the invited address, unverified: may accept with the e-mail link, which
      verifies the address; with a copied link they are sent to the e-mail (CONFIRM_ADDRESS);
    - logged in with another address: must log out first (OTHER_ACCOUNT);
    - not logged in, no account has the address: may create an account, which joins the team
      (CREATE_ACCOUNT); its address is verified only if they came by the e-mail link;
    - not logged in, an account has the address: must log in as it, or take it over by
      resetting its password by e-mail (which proves the address), then come back (LOG_IN).

    So an account made for an address by someone else never joins a team it was not invited
    to with that team's own e-mail, opened by whoever reads that mailbox; a copied link joins
    only a new account or a verified owner; and nothing is ever accepted without a click.
    """

    class Decision(models.TextChoices):
        ACCEPT = "accept", "Accept"
        CREATE_ACCOUNT = "create_account", "Create an account"
        LOG_IN = "log_in", "Log in first"
        CONFIRM_ADDRESS = "confirm_address", "Use the e-mailed link"
        OTHER_ACCOUNT = "other_account", "Log out first"
        CLOSED = "closed", "No longer valid"

    class Via(models.TextChoices):
        EMAIL = "email", "the e-mailed link"
        LINK = "link", "a copied link"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(
        max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitations_sent",
    )
    email_token_hash = models.CharField(max_length=64, unique=True)
    link_token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the e-mail last went out (a resend renews the links and the expiry).
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invitations_accepted",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_unanswered_invitation_per_address",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.team}"

    def save(self, *args, **kwargs) -> None:
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    @property
    def is_open(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )

    def issue_tokens(self) -> tuple[str, str]:
        """New links (the old ones stop working) and a new expiry. Returns the e-mail token
        and the link token: they are not stored, so this is the only time they are known."""
        import secrets

        email_token, link_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = timezone.now()
        self.email_token_hash = _token_hash(email_token)
        self.link_token_hash = _token_hash(link_token)
        self.sent_at = now
        self.expires_at = now + timedelta(days=settings.INVITATION_DAYS)
        return email_token, link_token

    @classmethod
    def find(cls, token: str) -> tuple[Invitation | None, str]:
        """The invitation a link's token belongs to, and which link it was (Via)."""
        digest = _token_hash(token)
        invitation = (
            cls.objects.select_related("team")
            .filter(Q(email_token_hash=digest) | Q(link_token_hash=digest))
            .first()
        )
        if invitation is None:
            return None, ""
        via = cls.Via.EMAIL if invitation.email_token_hash == digest else cls.Via.LINK
        return invitation, via

    def address_has_account(self) -> bool:
        from django.contrib.auth import get_user_model

        return get_user_model().objects.filter(email__iexact=self.email).exists()

    def decide(self, user, via: str) -> str:
        """What the visitor `user`, who came by `via`, may do with this invitation (the rule is
        in the class docstring)."""
        if not self.is_open:
            return self.Decision.CLOSED
        if user.is_authenticated:
            if (user.email or "").lower() != self.email:
                return self.Decision.OTHER_ACCOUNT
            if via == self.Via.EMAIL or Profile.has_verified_email(user):
                return self.Decision.ACCEPT
            return self.Decision.CONFIRM_ADDRESS
        if self.address_has_account():
            return self.Decision.LOG_IN
        return self.Decision.CREATE_ACCOUNT

    def accept(self, user, via: str) -> Membership:
        """`user` joins the team. The caller has checked decide() (ACCEPT, or CREATE_ACCOUNT
        for the account it just made for the invited address)."""
        if (user.email or "").lower() != self.email:
            raise ValidationError("This invitation is for another address.")
        with transaction.atomic():
            # Locked, so that one link cannot be accepted twice at the same moment.
            current = Invitation.objects.select_for_update().get(pk=self.pk)
            if not current.is_open:
                raise ValidationError("This invitation is no longer valid.")
            membership, _ = Membership.objects.get_or_create(
                user=user, team=self.team, defaults={"role": self.role}
            )
            self.accepted_at, self.accepted_by = timezone.now(), user
            self.save(update_fields=["accepted_at", "accepted_by"])
            if via == self.Via.EMAIL:
                Profile.verify_email(user)
        return membership

    def revoke(self) -> None:
        if self.accepted_at is None and self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


def audio_upload_path(call: Call, filename: str) -> str:
    # A random name: the uploaded name is only metadata, and could be anything ("../../x").
    # Only an extension the audio view serves as audio survives (call_create names the file
    # after its decoded container); "x.html" is stored as .bin and only ever downloaded.
    suffix = Path(filename).suffix.lower()
    if media.served_type(suffix) is None:
        suffix = media.UNKNOWN_EXTENSION
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

    def with_stale_analytics(self) -> CallQuerySet:
        """Finished calls whose analytics are missing, or older than their team's trackers or
        the last correction of their text (the rule of Call.analytics_stale, for many calls)."""
        return self.filter(status=Call.Status.DONE).filter(
            Q(analytics__isnull=True)
            | Q(analytics_at__isnull=True)
            | Q(analytics_at__lt=F("team__trackers_changed_at"))
            | Q(analytics_at__lt=F("transcript_changed_at"))
        )


# Sent once a call is done or failed, after the change is committed: webhooks and e-mail
# notices (the api app) listen, and do their work in tasks of their own.
call_finished = Signal()  # arguments: call


def _announce_finished(call: Call) -> None:
    # Robust: a receiver's error is logged, and never undoes or fails the transition.
    transaction.on_commit(lambda: call_finished.send(sender=Call, call=call), robust=True)


class ChannelLayout(models.TextChoices):
    UNKNOWN = "", "Not analysed"
    MONO = Layout.MONO, "mono recording"
    SAME = Layout.SAME, "both channels carry the same audio"
    ONE_SIDED = Layout.ONE_SIDED, "only one channel has speech"
    DUAL = Layout.DUAL, "one speaker per channel"


# A kept correction goes back on a new line whose start and end are each this close to its own.
EDIT_MATCH_SECONDS = 0.5


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
        DIARIZING = "diarizing", "Finding speakers"
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
    # The team member who led the call (not always who uploaded it): the dashboard's talk share
    # per rep is theirs, and on a mono call their voice print names them.
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="calls_as_rep",
        help_text="The team member who led the call.",
    )
    original_filename = models.CharField(max_length=255, blank=True)
    # Empty once the retention rules deleted the recording (audio_deleted_at says when).
    audio = models.FileField(upload_to=audio_upload_path, max_length=255, blank=True)
    audio_deleted_at = models.DateTimeField(null=True, blank=True)
    # A manager's hold: the retention rules delete nothing of a held call.
    retention_hold = models.BooleanField(
        "on hold", default=False, help_text="Kept whatever the team's retention rules say."
    )
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
    # The last checkpoint (see checkpoint()): a run that dies mid-window resumes at resume_at
    # seconds into track resume_track (a dual-channel call's channels are tracks 0 and 1),
    # keeping the first resume_segments segments, so the resumed transcript is exactly what an
    # uninterrupted run would have made.
    resume_track = models.PositiveSmallIntegerField(default=0)
    resume_at = models.FloatField(default=0.0)
    resume_segments = models.PositiveIntegerField(default=0)

    # Fast or Accurate, chosen at upload (the team's setting by default): the model it gets.
    quality = models.CharField(max_length=10, choices=Quality.choices, default=Quality.FAST)
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

    # Speakers: a dual-channel call has the rep on one channel and the customer on the other.
    channel_layout = models.CharField(max_length=10, choices=ChannelLayout.choices, blank=True)
    # Copied from the team when the call is first transcribed; swap_speakers() flips it.
    rep_channel = models.PositiveSmallIntegerField(choices=Channel.choices, null=True, blank=True)
    # Role ("Rep", "Customer") -> the name people gave that speaker on this call.
    speaker_names = models.JSONField(default=dict, blank=True)
    # Speakers told apart by voice (a mono call: speech/diarization.py). Given on upload when
    # known; else found, between 1 and MAX_SPEAKERS.
    speakers_expected = models.PositiveSmallIntegerField(
        "people on the call",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SPEAKERS)],
        help_text="If you know how many people speak; blank finds out.",
    )
    # How many voices diarization found; None: the call's speakers were not told apart by voice.
    voice_count = models.PositiveSmallIntegerField(null=True, blank=True)
    # The voice recognised as the call's rep (by voice print, or set by a person); None: nobody.
    rep_voice = models.PositiveSmallIntegerField(null=True, blank=True)
    # What diarization found, kept as the machine said it: [start, end, voice] turns, and each
    # voice's cosine similarity to the rep's voice print ({"0": 0.81, ...}).
    voice_turns = models.JSONField(default=list, blank=True)
    rep_similarity = models.JSONField(default=dict, blank=True)

    # What voice-activity detection heard as speech, and the stretches of it that gave no words
    # even when decoded again ("unheard": shown on the timeline, never counted as silence):
    # [start, end, channel] lists, channel None where the channels were mixed.
    heard_speech = models.JSONField(default=list, blank=True)
    unheard = models.JSONField(default=list, blank=True)
    # People's corrections across "Transcribe again": those waiting to be put back on the new
    # transcript, and those whose line did not come back (shown on the call's page).
    edits_to_carry = models.JSONField(default=list, blank=True)
    edits_not_carried = models.JSONField(default=list, blank=True)

    # analytics.analyse() of the transcript, kept up to date by refresh_analytics().
    analytics = models.JSONField(null=True, blank=True)
    analytics_at = models.DateTimeField(null=True, blank=True)
    # When a person last corrected the transcript: analytics older than this are out of date.
    transcript_changed_at = models.DateTimeField(null=True, blank=True)
    # The rep's share of the talk time, copied out of the analytics for the dashboard.
    rep_talk_share = models.FloatField(null=True, blank=True)

    objects = CallQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "-created_at"])]

    def __str__(self) -> str:
        return self.display_title

    def get_absolute_url(self) -> str:
        return reverse("transcripts:call_detail", args=[self.uuid])

    def retitle(self, title: str) -> None:
        """Give the call a title; a blank one shows the file's name instead."""
        self.title = title.strip()[:200]
        self.save(update_fields=["title"])

    def can_change(self, user) -> bool:
        """Renaming, deleting, transcribing again or cancelling: the uploader, a manager of the
        team, or staff."""
        if user.is_staff or (self.uploaded_by_id and self.uploaded_by_id == user.pk):
            return True
        return self.team.is_manager(user)

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

    # --- the recording and its retention ---------------------------------------------------

    @property
    def quality_summary(self) -> str:
        """'Fast (tiny.en); 3 unsure lines decoded again with base': for its page and exports."""
        from .quality import call_summary

        return call_summary(self)

    def transcribed_with(self) -> dict:
        """The quality, model and second pass that made the transcript, for exports and the
        API."""
        return {
            "quality": self.quality,
            "engine": self.engine,
            "model": self.model_name,
            "second_pass": (self.decode_options or {}).get("second_pass"),
            "lines_decoded_again": self.segments.exclude(decoded_by="").count(),
            "summary": self.quality_summary,
        }

    @property
    def has_audio(self) -> bool:
        return bool(self.audio.name)

    @contextmanager
    def recording_on_disk(self) -> Iterator[Path]:
        """The recording as a file on this machine for the block's length: the file itself on
        local storage, else a temporary copy fetched from the object store and removed after."""
        with recordings.local_copy(self.audio.storage, self.audio.name) as path:
            yield path

    def _retention_date(self, days: int | None) -> datetime | None:
        if days is None or self.retention_hold:
            return None
        return self.created_at + timedelta(days=days)

    @property
    def audio_expires_at(self) -> datetime | None:
        """When the retention rules will delete the recording; None: never (or already gone)."""
        if not self.has_audio:
            return None
        return self._retention_date(self.team.audio_retention_days)

    @property
    def transcript_expires_at(self) -> datetime | None:
        return self._retention_date(self.team.transcript_retention_days)

    def set_retention_hold(self, held: bool) -> None:
        self._update(None, retention_hold=held)

    def delete_audio(self) -> bool:
        """Delete the recording but keep the call and its transcript (the retention rules).
        The object goes once the change is committed; a held call keeps it."""
        name, storage = self.audio.name, self.audio.storage
        if not name:
            return False
        deleted = self._update(
            Q(retention_hold=False) & ~Q(audio=""), audio="", audio_deleted_at=timezone.now()
        )
        if deleted:
            transaction.on_commit(lambda: storage.delete(name))
        return deleted

    # --- speakers and analytics -----------------------------------------------------------

    @property
    def has_speakers(self) -> bool:
        """Whether the transcript tells the rep from the customer (a dual-channel call)."""
        return self.channel_layout == ChannelLayout.DUAL and self.rep_channel is not None

    @property
    def speakers_note(self) -> str:
        """Why a transcript has one unlabelled speaker; "" when speakers are separated."""
        if self.has_speakers:
            return ""
        if self.channel_layout:
            return f"Speakers not separated: {self.get_channel_layout_display()}"
        return "Speakers not separated: transcribed before speakers were detected"

    def speaker_name(self, role: str) -> str:
        """What this call calls the speaker in `role`: a name people gave, or the role."""
        return (self.speaker_names or {}).get(role) or role

    @property
    def has_voices(self) -> bool:
        """Whether the speakers were told apart by voice (a mono call, diarized)."""
        return self.voice_count is not None

    def speaker_for_voice(self, voice: int | None) -> str:
        """What this call calls voice `voice`: a name people gave ("0" -> name in
        speaker_names), else the rep's name, "Customer 1"... (speakers.voice_label)."""
        if voice is None or not self.has_voices:
            return ""
        given = (self.speaker_names or {}).get(str(voice))
        return given or speakers.voice_label(
            voice,
            rep_voice=self.rep_voice,
            voices=self.voice_count,
            rep_name=speakers.person_name(self.rep),
        )

    def speaker_for_channel(self, channel: int | None) -> str:
        if not self.has_speakers or channel is None:
            return ""
        return self.speaker_name(speakers.role(channel, self.rep_channel))

    def rename_speakers(self, names: dict[str, str]) -> None:
        """Give the rep and the customer names on this call; a blank name restores the role.

        Segments carry the names themselves, so exports, search and analytics all see them.
        """
        if not self.has_speakers:
            raise ValidationError("This call's speakers are not separated.")
        cleaned = {role: " ".join((names.get(role) or "").split())[:100] for role in ROLES}
        if len({(cleaned[role] or role).casefold() for role in ROLES}) < len(ROLES):
            raise ValidationError("The two speakers need different names.")
        given = {role: name for role, name in cleaned.items() if name and name != role}
        with transaction.atomic():
            self.speaker_names = given
            self.save(update_fields=["speaker_names"])
            self.relabel_speakers()
            self.refresh_analytics()

    def swap_speakers(self) -> None:
        """The rep was on the other channel: exchange the two speakers on this call."""
        if not self.has_speakers:
            return
        with transaction.atomic():
            self.rep_channel = 1 - self.rep_channel
            self.save(update_fields=["rep_channel"])
            self.relabel_speakers()
            self.refresh_analytics()

    def relabel_speakers(self) -> None:
        """Write each segment's speaker from its channel, the rep's channel and the names."""
        for channel in (Channel.LEFT, Channel.RIGHT):
            self.segments.filter(channel=channel).update(speaker=self.speaker_for_channel(channel))

    def put_segments_in_time_order(self) -> None:
        """Number the segments in time order: the two channels of a call are transcribed one
        after the other, and the transcript reads by index."""
        segments = list(self.segments.order_by("start", "channel", "index").only("pk", "index"))
        moved = [s for position, s in enumerate(segments) if s.index != position]
        if not moved:
            return
        with transaction.atomic():
            # Out of the way first: (call, index) is unique at every step of the update.
            clear = max(s.index for s in segments) + 1
            Segment.objects.filter(pk__in=[s.pk for s in moved]).update(index=F("index") + clear)
            for position, segment in enumerate(segments):
                segment.index = position
            Segment.objects.bulk_update(moved, ["index"], batch_size=500)

    @property
    def analytics_stale(self) -> bool:
        """A finished transcript whose analytics are missing, or older than the team's trackers
        or the last correction of its text."""
        if self.status != self.Status.DONE:
            return False
        if self.analytics is None or self.analytics_at is None:
            return True
        changes = (self.team.trackers_changed_at, self.transcript_changed_at)
        return any(changed is not None and self.analytics_at < changed for changed in changes)

    def transcript_changed(self) -> None:
        """A person corrected the transcript: its analytics are out of date until a worker
        recomputes them (see services.call_refresh_analytics_later)."""
        self._update(None, transcript_changed_at=timezone.now())

    def refresh_analytics(self) -> None:
        """Compute the analytics of the transcript as it is now, with the team's trackers."""
        # Taken before the trackers are read: a tracker changed meanwhile makes these stale.
        now = timezone.now()
        segments = list(self.segments.all())
        trackers = {tracker.name: tracker for tracker in self.team.trackers.all()}
        heard = [(self.speaker_for_channel(c), a, b) for a, b, c in self.heard_speech]
        result = call_analytics.analyse(
            segments,
            self.duration or 0.0,
            {name: t.phrases for name, t in trackers.items()},
            heard=heard,
        )
        rep_share = None
        if self.has_speakers:
            rep = self.speaker_name(REP)
            shares = {entry["name"]: entry["talk_share"] for entry in result["speakers"]}
            rep_share = shares.get(rep, 0.0)
        hits = [
            TrackerHit(
                call=self,
                tracker=trackers[hit["tracker"]],
                segment=segments[hit["segment"]],
                phrase=hit["phrase"][:200],
                speaker=hit["speaker"][:100],
                start=hit["start"],
            )
            for hit in result["tracker_hits"]
        ]
        with transaction.atomic():
            self._update(None, analytics=result, analytics_at=now, rep_talk_share=rep_share)
            self.tracker_hits.all().delete()
            TrackerHit.objects.bulk_create(hits)

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

    def record_task(self, task_id: str) -> None:
        """The broker's id of the task queued for this call (the reaper looks for calls
        queued without one)."""
        self._update(None, task_id=task_id[:64])

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

    def lease_expired(self) -> Q:
        """Processing, but its worker stopped renewing the lease: it died, or hangs."""
        return Q(status=self.Status.PROCESSING, lease_expires_at__lt=timezone.now())

    def requeue_if_lease_expired(self) -> bool:
        """Put the call back in the queue if its worker died (the caller enqueues it). The
        next worker resumes from the last checkpoint."""
        return self._update(
            self.lease_expired(),
            status=self.Status.QUEUED,
            stage=self.Stage.NONE,
            lease_owner="",
            lease_expires_at=None,
            queued_at=timezone.now(),
        )

    def fail_if_lease_expired(self, message: str) -> bool:
        """Give up on a call whose worker died once too often (see reap_stale_calls)."""
        failed = self._update(
            self.lease_expired(),
            status=self.Status.FAILED,
            stage=self.Stage.NONE,
            lease_owner="",
            lease_expires_at=None,
            finished_at=timezone.now(),
            error=message,
        )
        if failed:
            # Webhooks and notices hear of it like of any other failure.
            _announce_finished(self)
        return failed

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

    def checkpoint(self, worker: str, *, track: int, seconds: float, segments: int) -> bool:
        """A window is transcribed and its segments saved: a run that dies from now on resumes
        at `seconds` into `track`, keeping the first `segments` segments."""
        return self._update(
            self.holds_lease(worker),
            resume_track=track,
            resume_at=seconds,
            resume_segments=segments,
        )

    def forget_unfinished_window(self, *, dual: bool) -> None:
        """Delete what a run that died wrote after its last checkpoint, so this run can go on
        from there. Segments that hear the channels otherwise than `dual` (the layout was
        decided differently) cannot be carried on from: everything starts again."""
        if self.segments.filter(channel__isnull=dual).exists():
            self.segments.all().delete()
            self._update(
                None, resume_track=0, resume_at=0.0, resume_segments=0, heard_speech=[], unheard=[]
            )
        else:
            # By index, not by time: a segment is kept exactly when the checkpoint counted it.
            self.segments.filter(index__gte=self.resume_segments).delete()
            self.forget_heard_after(track=self.resume_track, seconds=self.resume_at)

    def start_saving(self, worker: str) -> bool:
        return self._update(self.holds_lease(worker), stage=self.Stage.SAVING)

    def report_progress(self, worker: str, fraction: float) -> bool:
        now = timezone.now()
        return self._update(
            self.holds_lease(worker),
            progress=max(0.0, min(1.0, fraction)),
            progress_at=now,
            lease_expires_at=now + self.lease_length(),
        )

    def record_channels(self, worker: str, *, layout: str, rep_channel: int | None) -> bool:
        return self._update(
            self.holds_lease(worker), channel_layout=layout, rep_channel=rep_channel
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

    def record_heard(
        self,
        worker: str,
        *,
        channel: int | None,
        speech: list[tuple[float, float]],
        unheard: list[tuple[float, float]],
    ) -> bool:
        """Add what the engine heard in a window of `channel` (see speech.Transcription)."""
        return self._update(
            self.holds_lease(worker),
            heard_speech=self.heard_speech + [[a, b, channel] for a, b in speech],
            unheard=self.unheard + [[a, b, channel] for a, b in unheard],
        )

    def forget_heard_after(self, *, track: int, seconds: float) -> None:
        """Drop what was heard from `seconds` into `track` on (see forget_unfinished_window).
        Each window's spans start where the window does, so those a checkpoint covers are
        kept exactly. A channel's track is its number; a mixed recording (None) is track 0."""

        def kept(spans: list) -> list:
            return [
                s for s in spans if (s[2] or 0) < track or ((s[2] or 0) == track and s[0] < seconds)
            ]

        self._update(None, heard_speech=kept(self.heard_speech), unheard=kept(self.unheard))

    def carry_over_edits(self) -> None:
        """Put kept corrections back on the new transcript, where a line on the same channel
        spans the same time (within EDIT_MATCH_SECONDS at either end); list the others."""
        lost = []
        segments = list(self.segments.all())
        taken: set[int] = set()
        for edit in self.edits_to_carry:
            match = next(
                (
                    s
                    for s in segments
                    if s.pk not in taken
                    and s.channel == edit["channel"]
                    and abs(s.start - edit["start"]) <= EDIT_MATCH_SECONDS
                    and abs(s.end - edit["end"]) <= EDIT_MATCH_SECONDS
                ),
                None,
            )
            if match is None:
                lost.append(edit)
                continue
            taken.add(match.pk)
            if match.text != edit["text"]:
                match.original_text, match.text = match.text, edit["text"]
                match.save(update_fields=["text", "original_text"])
        self._update(None, edits_to_carry=[], edits_not_carried=lost)

    def unheard_spans(self) -> list[dict]:
        """The unheard stretches with the speaker they belong to, for the page and exports."""
        return [
            {"start": start, "end": end, "speaker": self.speaker_for_channel(channel)}
            for start, end, channel in self.unheard
        ]

    def finish(self, worker: str, *, processing_seconds: float) -> bool:
        finished = self._update(
            self.holds_lease(worker),
            status=self.Status.DONE,
            stage=self.Stage.NONE,
            progress=1.0,
            finished_at=timezone.now(),
            processing_seconds=processing_seconds,
            # lease_owner stays: it tells ops which worker transcribed the call.
            lease_expires_at=None,
        )
        if finished:
            _announce_finished(self)
        return finished

    def fail(self, message: str, *, worker: str | None = None) -> bool:
        """Mark the call failed with a message a person can act on."""
        condition = self.holds_lease(worker) if worker else None
        failed = self._update(
            condition,
            status=self.Status.FAILED,
            stage=self.Stage.NONE,
            error=message,
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
        )
        if failed:
            _announce_finished(self)
        return failed

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

    def edited_segments(self) -> list[Segment]:
        return [s for s in self.segments.exclude(original_text="") if s.is_edited]

    def reset_for_retranscription(self) -> None:
        """Forget the transcript and put the call back in the queue (the caller enqueues it).

        People's corrections are kept aside, to be put back on the lines that come back at the
        same time (carry_over_edits); the title and speaker names stay as they are.
        """
        with transaction.atomic():
            edits = [
                {
                    "start": s.start,
                    "end": s.end,
                    "channel": s.channel,
                    "text": s.text,
                    "original_text": s.original_text,
                }
                for s in self.edited_segments()
            ]
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
                resume_track=0,
                resume_at=0.0,
                resume_segments=0,
                lease_owner="",
                lease_expires_at=None,
                attempts=0,
                channel_layout="",
                heard_speech=[],
                unheard=[],
                edits_to_carry=edits + self.edits_to_carry,
                edits_not_carried=[],
                analytics=None,
                analytics_at=None,
                rep_talk_share=None,
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
    # A mono call's speakers told apart by voice: the voice the line is given to now (people can
    # move it), and the one diarization gave it (kept, to show and to restore).
    voice = models.PositiveSmallIntegerField(null=True, blank=True)
    machine_voice = models.PositiveSmallIntegerField(null=True, blank=True)
    # Which channel it was heard on, for a dual-channel call; None when channels were mixed.
    channel = models.PositiveSmallIntegerField(choices=Channel.choices, null=True, blank=True)
    # What Whisper heard, kept when a person corrects the text; "" while it is unedited.
    original_text = models.TextField(blank=True)
    # The model of the second pass, where it decoded this line again and was surer of it than
    # the call's model (blank: the call's model), and what the call's model had heard.
    decoded_by = models.CharField(max_length=40, blank=True)
    first_pass_text = models.TextField(blank=True)
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

    @property
    def is_edited(self) -> bool:
        return bool(self.original_text) and self.original_text != self.text

    def edit_text(self, text: str) -> bool:
        """Correct what Whisper heard, keeping its version. Returns whether the text changed."""
        text = " ".join(text.split())
        if not text:
            raise ValidationError("A line cannot be empty.")
        if len(text) > settings.MAX_LINE_CHARS:
            raise ValidationError(line_too_long_message())
        if text == self.text:
            return False
        if not self.original_text:
            self.original_text = self.text
        if text == self.original_text:
            self.original_text = ""
        self.text = text
        self.save(update_fields=["text", "original_text"])
        return True

    def restore_text(self) -> bool:
        """Go back to what Whisper heard."""
        if not self.original_text:
            return False
        self.text, self.original_text = self.original_text, ""
        self.save(update_fields=["text", "original_text"])
        return True


def line_too_long_message() -> str:
    return f"Keep a line under {settings.MAX_LINE_CHARS:,} characters: split a long one."


def validate_tracker_phrases(phrases: list[str]) -> None:
    """The limits on one tracker's phrases: every call's analytics search for all of them."""
    if not phrases:
        raise ValidationError("Give at least one word or phrase.")
    if len(phrases) > settings.MAX_TRACKER_PHRASES:
        raise ValidationError(
            f"A tracker can have up to {settings.MAX_TRACKER_PHRASES} phrases; "
            f"this one has {len(phrases)}."
        )
    if any(len(phrase) > settings.MAX_TRACKER_PHRASE_CHARS for phrase in phrases):
        raise ValidationError(
            f"Keep each phrase under {settings.MAX_TRACKER_PHRASE_CHARS} characters."
        )


class Tracker(models.Model):
    """Phrases a team wants to hear about (competitors, pricing, next steps), found in every
    call's transcript. Their number and length are limited (settings.MAX_TRACKERS_PER_TEAM and
    the others) because every call's analytics search for all of them."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="trackers")
    name = models.CharField(max_length=60)
    phrases = models.JSONField(
        default=list, blank=True, help_text="Whole words or phrases; case does not matter."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "team",
                name="one_tracker_name_per_team",
                violation_error_message="The team already has a tracker with this name.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if isinstance(self.phrases, list):
            validate_tracker_phrases(self.phrases)
        if self.pk is None and self.team_id is not None:
            self.team.check_room_for_a_tracker()


class TrackerHit(models.Model):
    """A tracker's phrase said in a call. The same hits are in Call.analytics; these rows let
    the database count and search them across calls."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="tracker_hits")
    tracker = models.ForeignKey(Tracker, on_delete=models.CASCADE, related_name="hits")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="tracker_hits")
    phrase = models.CharField(max_length=200)
    speaker = models.CharField(max_length=100, blank=True)
    start = models.FloatField()

    class Meta:
        ordering = ["call", "start"]

    def __str__(self) -> str:
        return f"{self.tracker}: {self.phrase!r} at {self.start:.1f} s"


@receiver(post_save, sender=Team)
def add_default_trackers(sender, instance: Team, created: bool, raw: bool = False, **kwargs):
    # However a team is made (the portal, the admin, ensure_admin), it starts with trackers.
    if created and not raw:
        instance.add_default_trackers()


class VoicePrint(models.Model):
    """What a team member's voice sounds like to the speaker encoder: the mean of d-vectors of
    their speech (speech/diarization.py), learned from their channel of dual-channel calls and
    from an enrolment recording on their profile page. On a mono call, the voice closest to the
    call's rep's print is named after them. Only the vector is kept, never the audio."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="voice_print"
    )
    # L2-normalised, diarization.EMBEDDING_SIZE floats.
    vector = models.JSONField(default=list)
    # Seconds of speech it was learned from, in all, and from how many calls: a new call's
    # print is folded in weighted by its seconds.
    seconds = models.FloatField(default=0.0)
    calls = models.PositiveIntegerField(default=0)
    enrolled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"voice print of {self.user} ({self.seconds:.0f} s)"


class ClusterHeartbeat(models.Model):
    """When each worker cluster last showed it was alive, for /healthz and the admin."""

    name = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%H:%M:%S}"

    @classmethod
    def beat(cls, name: str) -> None:
        cls.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})
