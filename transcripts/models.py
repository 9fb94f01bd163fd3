"""Teams, calls and their transcripts. A call's state changes only through its own methods."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
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
from .speech.base import Segment as SpeechSegment
from .speech.base import Word as SpeechWord
from .speech.channels import Layout

logger = logging.getLogger(__name__)

# "Transcribe again" where the team's retention rules deleted the recording.
NO_RECORDING = (
    "The recording of this call was deleted under the team's retention rules, so it cannot be "
    "transcribed again. Its transcript is kept."
)


def delete_stored_file(storage, name: str) -> None:
    """Delete a stored recording once the transaction commits (a rolled-back delete keeps it).

    Storage that fails then (a full or read-only disk, an object store out of reach) costs the
    file, not the deletion: the row is already gone or marked. The error is logged with the
    file's name, for an administrator to remove it; raised, it failed the page after the call
    was deleted, stopped a retention run for every team after it, and kept the callbacks after
    it (the call.deleted webhook) from running.
    """

    transaction.on_commit(lambda: discard_stored_file(storage, name))


def discard_stored_file(storage, name: str) -> None:
    """Delete a stored file now; a failure is logged with its name, not raised."""
    try:
        storage.delete(name)
    except Exception:
        logger.exception("Could not delete %s from storage: remove it by hand", name)


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
    - not logged in: may create an account, which joins the team, or log in and come back
      (CREATE_ACCOUNT). One page, whether or not an account has the address: the manager holds
      the copied link and may open it logged out, and must not learn who has an account. The
      new account's address is verified only if they came by the e-mail link; where an account
      has the address already, no second one is made (forms.InvitedAccountForm): its owner
      logs in, or takes it over by resetting its password by e-mail (which proves the address).

    So an account made for an address by someone else never joins a team it was not invited
    to with that team's own e-mail, opened by whoever reads that mailbox; a copied link joins
    only a new account or a verified owner; and nothing is ever accepted without a click.
    """

    class Decision(models.TextChoices):
        ACCEPT = "accept", "Accept"
        CREATE_ACCOUNT = "create_account", "Create an account or log in"
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
    return f"audio/{call.uuid.hex[:2]}/{call.uuid.hex}{served_suffix(filename)}"


def served_suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return suffix if media.served_type(suffix) is not None else media.UNKNOWN_EXTENSION


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
    # When the "Finding speakers" stage started (its time left is estimated from it), and why it
    # failed when it did: the transcript is kept and shown without speakers, with this note.
    diarizing_started_at = models.DateTimeField(null=True, blank=True)
    diarization_error = models.CharField(max_length=300, blank=True)
    # Seconds of the rep's channel this dual-channel call added to the rep's voice print; None
    # while it added none. Set in the same transaction as the print, so a call teaches it once
    # (a worker that dies after and runs again, or "Transcribe again", adds nothing more).
    voice_print_seconds = models.FloatField(null=True, blank=True)

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
    def shows_percent(self) -> bool:
        """Whether the stage measures its progress ("Transcribing… 40%", "Finding speakers…
        80%": each stage counts its own work from 0 to 100%)."""
        return self.stage in (self.Stage.TRANSCRIBING, self.Stage.DIARIZING)

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left in the stage, extrapolated from its speed so far; None until there is a
        speed."""
        if self.stage == self.Stage.TRANSCRIBING:
            started = self.transcribing_started_at
            # A resumed run did the part before resumed_from earlier: it is not this run's speed.
            done = self.progress - (self.resumed_from / self.duration if self.duration else 0.0)
        elif self.stage == self.Stage.DIARIZING:
            started, done = self.diarizing_started_at, self.progress
        else:
            return None
        if not started or done <= 0.02:
            return None
        elapsed = (timezone.now() - started).total_seconds()
        return max(0.0, elapsed * (1.0 - self.progress) / done)

    @property
    def speed(self) -> float | None:
        """Seconds of audio transcribed per second of processing."""
        if self.duration and self.processing_seconds:
            return self.duration / self.processing_seconds
        return None

    def export_details(self) -> dict:
        """What every export of the call states besides its lines (see exports.render)."""
        return {
            "title": self.display_title,
            "duration": self.duration or 0.0,
            "analytics": self.analytics,
            "rep": speakers.person_name(self.rep),
            "transcribed_with": self.transcribed_with(),
        }

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
        # Finished still: a call queued again since the run read it needs its recording.
        deleted = self._update(
            Q(retention_hold=False, status__in=self.FINISHED) & ~Q(audio=""),
            audio="",
            audio_deleted_at=timezone.now(),
        )
        if deleted:
            delete_stored_file(storage, name)
        return deleted

    def delete_if_expired(self, uploaded_before: datetime) -> bool:
        """Delete the call and its transcript (the retention rules) if, read again under the
        row's lock, it is still finished, not held and uploaded before `uploaded_before`.

        A retention run reads its list of calls first: a hold put on, or "Transcribe again"
        asked for, while it works through the list must win over it.
        """
        with transaction.atomic():
            current = (
                Call.objects.select_for_update()
                .filter(
                    pk=self.pk,
                    retention_hold=False,
                    status__in=self.FINISHED,
                    created_at__lt=uploaded_before,
                )
                .first()
            )
            if current is None:
                return False
            current.delete()
        return True

    # --- speakers and analytics -----------------------------------------------------------

    @property
    def has_channels(self) -> bool:
        """Whether the speakers are told apart by channel (a dual-channel call: Rep and
        Customer)."""
        return self.channel_layout == ChannelLayout.DUAL and self.rep_channel is not None

    @property
    def has_speakers(self) -> bool:
        """Whether the transcript tells who speaks: by channel, or by voice (diarized)."""
        return self.has_channels or self.has_voices

    @property
    def has_rep_speaker(self) -> bool:
        """Whether one of the speakers is the rep (their channel, or their voice)."""
        return self.has_channels or (self.has_voices and self.rep_voice is not None)

    @property
    def speakers_note(self) -> str:
        """Why a transcript has one unlabelled speaker; "" when speakers are separated."""
        if self.has_speakers:
            return ""
        if self.diarization_error:
            return f"Speakers not separated: {self.diarization_error}"
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
        return given or self.default_voice_name(voice)

    def default_voice_name(self, voice: int) -> str:
        """What voice `voice` is called when people gave it no name."""
        return speakers.voice_label(
            voice,
            rep_voice=self.rep_voice,
            voices=self.voice_count,
            rep_name=speakers.person_name(self.rep),
        )

    def speaker_for_channel(self, channel: int | None) -> str:
        if not self.has_channels or channel is None:
            return ""
        return self.speaker_name(speakers.role(channel, self.rep_channel))

    def voice_choices(self) -> list[tuple[int, str]]:
        """(voice, name) of every voice of a diarized call, the rep's first."""
        if not self.has_voices:
            return []
        voices = sorted(range(self.voice_count), key=lambda v: (v != self.rep_voice, v))
        return [(voice, self.speaker_for_voice(voice)) for voice in voices]

    def rename_speakers(self, names: dict[str, str]) -> None:
        """Give the speakers names on this call; a blank name restores the default (the role,
        or for a voice the rep's name, "Customer"...). `names` is keyed by role ("Rep",
        "Customer") on a dual-channel call, by voice number ("0", "1"...) on a diarized one.

        Segments carry the names themselves, so exports, search and analytics all see them.
        """
        if not self.has_speakers:
            raise ValidationError("This call's speakers are not separated.")
        if self.has_voices:
            keys = [str(voice) for voice in range(self.voice_count)]
            defaults = {str(v): self.default_voice_name(v) for v in range(self.voice_count)}
        else:
            keys, defaults = list(ROLES), {role: role for role in ROLES}
        cleaned = {key: " ".join((names.get(key) or "").split())[:100] for key in keys}
        shown = [(cleaned[key] or defaults[key]).casefold() for key in keys]
        if len(set(shown)) < len(shown):
            raise ValidationError(
                "The two speakers need different names."
                if len(keys) == 2
                else "Each speaker needs a name of their own."
            )
        given = {key: name for key, name in cleaned.items() if name and name != defaults[key]}
        with transaction.atomic():
            self.speaker_names = given
            self.save(update_fields=["speaker_names"])
            self.relabel_speakers()
            self.refresh_analytics()

    def swap_speakers(self) -> None:
        """The rep was on the other channel: exchange the two speakers on this call."""
        if not self.has_channels:
            return
        with transaction.atomic():
            self.rep_channel = 1 - self.rep_channel
            self.save(update_fields=["rep_channel"])
            self.relabel_speakers()
            self.refresh_analytics()

    def relabel_speakers(self) -> None:
        """Write each segment's speaker from its channel and the rep's channel, or from its
        voice and the rep's voice, and the names people gave."""
        if self.has_voices:
            for voice in self.segments.values_list("voice", flat=True).distinct():
                self.segments.filter(voice=voice).update(speaker=self.speaker_for_voice(voice))
            return
        for channel in (Channel.LEFT, Channel.RIGHT):
            self.segments.filter(channel=channel).update(speaker=self.speaker_for_channel(channel))

    # --- fixing the voices by hand (the machine's stay in machine_voice and voice_turns) ---

    def check_voice(self, voice: int, *, new_allowed: bool = False) -> None:
        """Refuse a voice the call does not have (`new_allowed`: or the next, a new speaker)."""
        if not self.has_voices:
            raise ValidationError("This call's speakers were not told apart by voice.")
        limit = self.voice_count + (1 if new_allowed and self.voice_count < MAX_SPEAKERS else 0)
        if not 0 <= voice < limit:
            raise ValidationError("Choose one of this call's speakers.")

    def move_line(self, segment: Segment, voice: int) -> bool:
        """Give a line to another voice (voice_count, a new speaker, where there is room).
        Returns whether it changed."""
        self.check_voice(voice, new_allowed=True)
        if segment.voice == voice:
            return False
        with transaction.atomic():
            segment.voice = voice
            segment.speaker = self.speaker_for_voice(voice)
            segment.save(update_fields=["voice", "speaker"])
            if voice == self.voice_count:
                self._update(None, voice_count=voice + 1)
                # One more voice renames the others ("Customer" becomes "Customer 1").
                self.relabel_speakers()
                segment.refresh_from_db(fields=["speaker"])
        return True

    def merge_voices(self, source: int, target: int) -> int:
        """Every line of voice `source` goes to voice `target` (diarization split one person
        in two). Returns how many lines moved."""
        self.check_voice(source)
        self.check_voice(target)
        if source == target:
            raise ValidationError("Choose two different speakers to merge.")
        with transaction.atomic():
            moved = self.segments.filter(voice=source).update(
                voice=target, speaker=self.speaker_for_voice(target)
            )
            if self.rep_voice == source:
                self._update(None, rep_voice=target)
                self.relabel_speakers()
        return moved

    def set_rep_voice(self, voice: int | None) -> bool:
        """Say which voice is the call's rep (None: the rep does not speak on it)."""
        if voice is not None:
            self.check_voice(voice)
        if voice == self.rep_voice:
            return False
        with transaction.atomic():
            self._update(None, rep_voice=voice)
            self.relabel_speakers()
        return True

    def restore_machine_voices(self) -> bool:
        """Every line back to the voice diarization gave it, and its count of voices."""
        if not self.has_voices:
            return False
        machine = [
            m for m in self.segments.values_list("machine_voice", flat=True) if m is not None
        ]
        turns = [int(turn[2]) for turn in self.voice_turns or []]
        count = max([*machine, *turns], default=0) + 1
        changed = self.segments.exclude(voice=F("machine_voice")).exists() or (
            count != self.voice_count
        )
        if not changed:
            return False
        with transaction.atomic():
            self.segments.exclude(machine_voice=None).update(voice=F("machine_voice"))
            if self.rep_voice is not None and self.rep_voice >= count:
                self._update(None, rep_voice=None)
            self._update(None, voice_count=count)
            self.relabel_speakers()
        return True

    def moved_line_count(self) -> int:
        return self.segments.exclude(machine_voice=None).exclude(voice=F("machine_voice")).count()

    def _heard_by_voice(self, segments: list[Segment]) -> list[tuple[str, float, float]]:
        """What voice-activity detection heard on the mixed recording, given to the voices:
        first by the lines as people left them, then by the turns diarization found (a turn's
        voice followed where people moved most of its lines), then the nearest of either."""
        lines = [(s.start, s.end, s.speaker) for s in segments if s.speaker]
        follows: dict[int, dict[int, int]] = {}
        for segment in segments:
            if segment.machine_voice is not None and segment.voice is not None:
                votes = follows.setdefault(segment.machine_voice, {})
                votes[segment.voice] = votes.get(segment.voice, 0) + 1
        now = {m: max(votes, key=votes.get) for m, votes in follows.items()}
        turns = [
            (float(a), float(b), self.speaker_for_voice(now.get(int(v), int(v))))
            for a, b, v in self.voice_turns or []
        ]
        spans = [(a, b) for a, b, channel in self.heard_speech if channel is None]
        return call_analytics.attribute_heard(spans, [lines, turns])

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
        if self.has_voices:
            heard = self._heard_by_voice(segments)
        else:
            heard = [(self.speaker_for_channel(c), a, b) for a, b, c in self.heard_speech]
        result = call_analytics.analyse(
            segments,
            self.duration or 0.0,
            {name: t.phrases for name, t in trackers.items()},
            heard=heard,
        )
        rep_share = None
        shares = {entry["name"]: entry["talk_share"] for entry in result["speakers"]}
        if self.has_voices:
            # Only when a voice is the rep's: a call the rep is not heard on has no share.
            if self.rep_voice is not None:
                rep_share = shares.get(self.speaker_for_voice(self.rep_voice), 0.0)
        elif self.has_channels:
            rep_share = shares.get(self.speaker_name(REP), 0.0)
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
                None,
                resume_track=0,
                resume_at=0.0,
                resume_segments=0,
                heard_speech=[],
                unheard=[],
                **self.NO_VOICES,
            )
        else:
            # By index, not by time: a segment is kept exactly when the checkpoint counted it.
            self.segments.filter(index__gte=self.resume_segments).delete()
            self.forget_heard_after(track=self.resume_track, seconds=self.resume_at)

    def transcribed_all(self, tracks: int) -> bool:
        """Whether the last checkpoint is the end of the last of the recording's `tracks`: the
        whole transcript is saved, and a run that resumes goes on to what comes after it."""
        return self.resume_track >= tracks

    # What a call holds while its speakers have not been told apart by voice.
    NO_VOICES = {
        "voice_count": None,
        "rep_voice": None,
        "voice_turns": [],
        "rep_similarity": {},
        "diarizing_started_at": None,
        "diarization_error": "",
    }

    def start_diarizing(self, worker: str) -> bool:
        """The "Finding speakers" stage: its progress counts from 0 again."""
        now = timezone.now()
        return self._update(
            self.holds_lease(worker),
            stage=self.Stage.DIARIZING,
            progress=0.0,
            diarizing_started_at=now,
            progress_at=now,
            lease_expires_at=now + self.lease_length(),
        )

    def attribute_voices(
        self,
        worker: str,
        *,
        lines: list[tuple[int, SpeechSegment]],
        voices: int,
        turns: list[list],
        rep_voice: int | None,
        rep_similarity: dict[str, float],
    ) -> bool:
        """Replace the transcript by `lines`, (voice, segment) in time order as diarization
        split it, each named after its voice, and record what diarization found.

        All at once: a worker that dies before the commit leaves the transcript as it was, and
        one that dies after finds voice_count set and does not diarize again. The checkpoint
        counts the new lines, so a resumed run keeps them all (forget_unfinished_window).
        """
        with transaction.atomic():
            if not self._update(
                self.holds_lease(worker),
                voice_count=voices,
                rep_voice=rep_voice,
                voice_turns=turns,
                rep_similarity=rep_similarity,
                diarization_error="",
                resume_segments=len(lines),
                lease_expires_at=timezone.now() + self.lease_length(),
            ):
                return False
            self.segments.all().delete()
            Segment.objects.bulk_create(
                [
                    Segment.from_speech(
                        self,
                        index,
                        segment,
                        voice=voice,
                        machine_voice=voice,
                        speaker=self.speaker_for_voice(voice),
                    )
                    for index, (voice, segment) in enumerate(lines)
                ],
                batch_size=500,
            )
        return True

    def diarization_failed(self, worker: str, message: str) -> bool:
        """Finding the speakers failed: the call finishes with its transcript and this note."""
        return self._update(
            self.holds_lease(worker), **{**self.NO_VOICES, "diarization_error": message[:300]}
        )

    def teach_rep_voice(self, worker: str, vector, seconds: float, pitch=None) -> bool:
        """Fold the rep's speech on this dual-channel call into the rep's voice print, once:
        the call records what it added in the same transaction."""
        with transaction.atomic():
            if not self._update(
                self.holds_lease(worker) & Q(voice_print_seconds__isnull=True),
                voice_print_seconds=round(seconds, 3),
            ):
                return False
            VoicePrint.learn(self.rep, vector, seconds, from_call=True, pitch=pitch)
        return True

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
        if not self.edits_to_carry:
            # Nothing waits (or a run that died after carrying them is finishing the call):
            # the list of those that did not come back stays as it is.
            return
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

    def speech_on_channel(self, channel: int | None) -> list[tuple[float, float]]:
        """Where someone speaks on `channel`: what voice-activity detection heard, or with an
        engine without it, the lines' times."""
        heard = [(a, b) for a, b, c in self.heard_speech if c == channel]
        if heard:
            return heard
        return list(self.segments.filter(channel=channel).values_list("start", "end"))

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

    def reset_for_retranscription(self) -> bool:
        """Forget the transcript and put the call back in the queue (the caller enqueues it), if
        it is finished. Returns whether it was.

        People's corrections are kept aside, to be put back on the lines that come back at the
        same time (carry_over_edits); the title and speaker names stay as they are.

        The row is locked and read again first: of two people asking at once (a double click
        on two web workers, two API clients), one resets the call and the other finds it queued.
        Reset twice, the worker that took the call lost it and transcribed it for nothing, and
        the second reset kept aside the edits of a stale copy, whose lines the first had deleted.
        """
        with transaction.atomic():
            current = (
                Call.objects.select_for_update()
                .filter(pk=self.pk, status__in=self.FINISHED)
                .first()
            )
            if current is None:
                return False
            if not current.audio:
                raise ValidationError(NO_RECORDING)
            edits = [
                {
                    "start": s.start,
                    "end": s.end,
                    "channel": s.channel,
                    "text": s.text,
                    "original_text": s.original_text,
                }
                for s in current.edited_segments()
            ]
            current.segments.all().delete()
            return self._update(
                Q(status__in=self.FINISHED),
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
                edits_to_carry=edits + current.edits_to_carry,
                edits_not_carried=[],
                analytics=None,
                analytics_at=None,
                rep_talk_share=None,
                # Found again; a call's voice print lesson (voice_print_seconds) is kept, so
                # transcribing it again does not teach the rep's print the same call twice.
                **self.NO_VOICES,
            )


@receiver(post_delete, sender=Call)
def delete_audio_file(sender, instance: Call, **kwargs) -> None:
    # The audio goes with the call, however it is deleted (page, admin, bulk, team removal);
    # only once the deletion is committed, so a rolled-back delete keeps its file.
    if instance.audio.name:
        delete_stored_file(instance.audio.storage, instance.audio.name)


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

    @classmethod
    def from_speech(cls, call: Call, index: int, segment: SpeechSegment, **fields) -> Segment:
        """A row for what an engine heard (unsaved); `fields` set the rest (channel, speaker)."""
        return cls(
            call=call,
            index=index,
            start=round(segment.start, 3),
            end=round(segment.end, 3),
            text=segment.text,
            avg_logprob=segment.avg_logprob,
            no_speech_prob=segment.no_speech_prob,
            compression_ratio=segment.compression_ratio,
            decoded_by=segment.decoded_by,
            first_pass_text=segment.first_pass_text,
            words=[
                {"start": w.start, "end": w.end, "word": w.word, "probability": w.probability}
                for w in segment.words
            ],
            **fields,
        )

    def as_speech(self) -> SpeechSegment:
        """The row as the speech modules take a segment (diarization splits it by its words)."""
        return SpeechSegment(
            start=self.start,
            end=self.end,
            text=self.text,
            avg_logprob=self.avg_logprob,
            no_speech_prob=self.no_speech_prob,
            compression_ratio=self.compression_ratio,
            decoded_by=self.decoded_by,
            first_pass_text=self.first_pass_text,
            words=tuple(
                SpeechWord(w["start"], w["end"], w["word"], w.get("probability"))
                for w in self.words or []
            ),
        )

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
    # The median pitch of their voiced speech, Hz (diarization.speech_pitch), folded like the
    # vector; None: not measured (a print made before pitch was), and then the vector decides
    # alone.
    pitch = models.FloatField(null=True, blank=True)
    enrolled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"voice print of {self.user} ({self.seconds:.0f} s)"

    @property
    def as_array(self) -> np.ndarray:
        return np.asarray(self.vector, dtype=np.float32)

    @classmethod
    def learn(
        cls, user, vector: np.ndarray, seconds: float, *, from_call: bool, pitch=None
    ) -> VoicePrint:
        """Fold `seconds` of `user`'s speech, as a d-vector and its median `pitch` (Hz, None if
        unknown), into their print (made if they have none): a mean weighted by seconds, so a
        long call counts for more than a word."""
        from .speech import diarization

        now = timezone.now()
        with transaction.atomic():
            # Locked: two workers finishing two of the rep's calls at once both count.
            voice_print, _ = cls.objects.select_for_update().get_or_create(user=user)
            if voice_print.vector and voice_print.seconds > 0:
                vector = diarization.fold(
                    voice_print.as_array, voice_print.seconds, np.asarray(vector), seconds
                )
            voice_print.pitch = diarization.fold_pitch(
                voice_print.pitch, voice_print.seconds, pitch, seconds
            )
            voice_print.vector = [round(float(x), 6) for x in vector]
            voice_print.seconds += seconds
            if from_call:
                voice_print.calls += 1
            else:
                voice_print.enrolled_at = now
            voice_print.updated_at = now
            voice_print.save()
        return voice_print


def voice_sample_path(enrolment: VoiceEnrolment, filename: str) -> str:
    # A random name, like a call's recording; the file lives only until a worker has read it.
    return f"voice/{uuid.uuid4().hex}{served_suffix(filename)}"


class VoiceEnrolment(models.Model):
    """A short recording a person made of themselves, waiting for a worker to learn their
    voice print from it (services.voice_enrolment_create, tasks.enrol_voice). The recording is
    deleted as soon as it is read, whatever came of it; the row tells the profile page how it
    went."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        DONE = "done", "Learned"
        FAILED = "failed", "Failed"

    # A recording long enough to hold this much speech, and no longer than this.
    MIN_SPEECH_SECONDS = 10.0
    MAX_SECONDS = 120.0
    MAX_BYTES = 25 * 1024 * 1024

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="voice_enrolments"
    )
    audio = models.FileField(upload_to=voice_sample_path, max_length=255, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    message = models.CharField(max_length=300, blank=True)
    # Seconds of speech the print learned from it.
    seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"voice enrolment of {self.user} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.QUEUED

    def _close(self, **fields) -> None:
        """Record how it went and delete the recording: no audio of a person is kept."""
        name, storage = self.audio.name, self.audio.storage
        fields = {**fields, "audio": "", "finished_at": timezone.now()}
        VoiceEnrolment.objects.filter(pk=self.pk).update(**fields)
        for field, value in fields.items():
            setattr(self, field, value)
        if name:
            transaction.on_commit(lambda: storage.delete(name))

    def learned(self, seconds: float) -> None:
        self._close(status=self.Status.DONE, seconds=round(seconds, 1), message="")

    def fail(self, message: str) -> None:
        self._close(status=self.Status.FAILED, message=message[:300])


@receiver(post_delete, sender=VoiceEnrolment)
def delete_voice_sample(sender, instance: VoiceEnrolment, **kwargs) -> None:
    # An account deleted while its recording waits takes the recording with it.
    if instance.audio.name:
        delete_stored_file(instance.audio.storage, instance.audio.name)


class ClusterHeartbeat(models.Model):
    """When each worker cluster last showed it was alive, for /healthz and the admin."""

    name = models.CharField(max_length=200, unique=True)
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%H:%M:%S}"

    @classmethod
    def beat(cls, name: str) -> None:
        cls.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})
