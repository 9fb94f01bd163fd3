"""Writes: creating calls and putting them in the queue. Used by views, the admin and commands."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from .models import Call, Membership, Segment, Team, Tracker
from .speech import audio
from .speech.base import DecodeOptions, EngineSpec, TranscriptionError

logger = logging.getLogger(__name__)

# The slowest engine setting measured here transcribes at 3.5x real time on 2 cores; a task that
# runs longer than this share of its call's length is stuck, and is killed by the cluster.
TIMEOUT_SECONDS_PER_AUDIO_SECOND = 1.0
MIN_TIMEOUT_SECONDS = 600


def engine_spec() -> EngineSpec:
    return EngineSpec(
        engine=settings.WHISPER_ENGINE,
        model=settings.WHISPER_MODEL,
        device=settings.WHISPER_DEVICE,
        threads=settings.WHISPER_THREADS,
        workers=settings.Q_WORKERS,
        model_dir=Path(settings.WHISPER_MODEL_DIR),
        api_key=settings.OPENAI_API_KEY,
        api_base=settings.OPENAI_API_BASE,
        api_model=settings.OPENAI_API_MODEL,
    )


def decode_options(team: Team | None = None) -> DecodeOptions:
    """The decoding settings, with `team`'s vocabulary where it has one."""
    vocabulary = vocabulary_terms(team.vocabulary) if team is not None else []
    return DecodeOptions(
        beam_size=settings.WHISPER_BEAM_SIZE,
        temperature_fallback=settings.WHISPER_TEMPERATURE_FALLBACK,
        condition_on_previous_text=settings.WHISPER_CONDITION_ON_PREVIOUS_TEXT,
        language=settings.WHISPER_LANGUAGE,
        initial_prompt=settings.WHISPER_INITIAL_PROMPT,
        word_timestamps=settings.WHISPER_WORD_TIMESTAMPS,
        vad=settings.WHISPER_VAD,
        batch_size=settings.WHISPER_BATCH_SIZE,
        hotwords=", ".join(vocabulary) or None,
    )


def effective_decoding(engine: str, spec: EngineSpec) -> list[tuple[str, str]]:
    """The decoding settings as the engine uses them, with names people can read: an engine's
    own default shows as its value, not as 0."""
    options = decode_options()
    holes = "no"
    if engine == "faster":
        from .speech.faster_engine import FALLBACK_MODEL, effective_options

        options = effective_options(options, spec.device)
        retry = f", then with {FALLBACK_MODEL}" if spec.model != FALLBACK_MODEL else ""
        holes = f"yes: alone, with timestamps and fallback{retry}"

    def yes(value: bool) -> str:
        return "yes" if value else "no"

    uses_vad = engine == "faster" and options.vad
    beam = options.beam_size if options.beam_size > 1 else "1 (greedy)"
    batch = options.batch_size or "4 on a CPU, 16 on a GPU"
    return [
        ("Beam size", str(beam) if engine != "api" else "chosen by the API"),
        ("Batch size (speech chunks decoded at once)", str(batch) if uses_vad else "not batched"),
        ("Word timestamps", yes(options.word_timestamps or engine == "api")),
        ("Skip silence (voice-activity detection)", yes(uses_vad)),
        ("Speech with no words decoded again", holes if uses_vad else "no"),
        ("Retry at higher temperatures when decoding fails", yes(options.temperature_fallback)),
        ("Condition on the previous text", yes(options.condition_on_previous_text)),
        ("Language", options.language or "detected (English for .en models)"),
        ("Initial prompt", options.initial_prompt or "none"),
    ]


def vocabulary_terms(text: str) -> list[str]:
    """A team's vocabulary as a list of names: split at commas and new lines, each once."""
    terms = (" ".join(part.split()) for part in text.replace("\n", ",").split(","))
    return list(dict.fromkeys(term for term in terms if term))


def check_recording(source) -> audio.AudioInfo:
    """Refuse, cheaply, what is plainly not a usable recording; the worker catches the rest."""
    try:
        info = audio.probe(source)
    except TranscriptionError as error:
        raise ValidationError(str(error)) from error
    limit = settings.MAX_AUDIO_HOURS * 3600
    if info.duration is not None and info.duration > limit:
        raise ValidationError(
            f"This recording is {info.duration / 3600:.1f} hours long; "
            f"the limit is {settings.MAX_AUDIO_HOURS:g} hours."
        )
    return info


def check_queue_allowance(user) -> None:
    queued = Call.objects.filter(uploaded_by=user).unfinished().count()
    if queued >= settings.MAX_QUEUED_CALLS_PER_USER:
        raise ValidationError(
            f"You already have {queued} calls waiting to be transcribed. "
            "Please wait for some of them to finish before uploading more."
        )


def call_create(*, team: Team, user, upload: File, title: str = "", check: bool = True) -> Call:
    """Store an uploaded recording as a new call and queue it for transcription.

    Returns at once, whatever the recording's length: the work happens in a worker.
    """
    info = None
    if check:
        check_queue_allowance(user)
        info = check_recording(_local_path_or_file(upload))
        upload.seek(0)
    call = Call(
        team=team,
        uploaded_by=user,
        title=title.strip()[:200],
        original_filename=Path(upload.name or "").name[:255],
        size_bytes=upload.size or 0,
        content_type=(getattr(upload, "content_type", "") or "")[:100],
        duration=info.duration if info else None,
    )
    with transaction.atomic():
        call.audio.save(call.original_filename or "recording", upload, save=False)
        call.save()
        call_enqueue(call)
    return call


def _local_path_or_file(upload: File):
    # Large uploads are already on disk: probing them there reads only the first frames.
    if hasattr(upload, "temporary_file_path"):
        return Path(upload.temporary_file_path())
    upload.seek(0)
    return upload


def task_timeout(call: Call) -> int:
    seconds = (call.duration or settings.MAX_AUDIO_HOURS * 3600) * TIMEOUT_SECONDS_PER_AUDIO_SECOND
    return int(min(settings.Q_TIMEOUT, max(MIN_TIMEOUT_SECONDS, seconds)))


def call_enqueue(call: Call) -> None:
    """Hand the call to the workers once the current transaction commits.

    Enqueueing after the commit means a worker never looks for a call that is not there yet.
    """
    from django_q.tasks import async_task

    def enqueue() -> None:
        task_id = async_task(
            "transcripts.tasks.transcribe_call",
            call.pk,
            task_name=f"transcribe {call.uuid.hex[:8]} at {timezone.now():%H:%M:%S.%f}",
            group="transcribe",
            timeout=task_timeout(call),
        )
        Call.objects.filter(pk=call.pk).update(task_id=str(task_id or ""))

    transaction.on_commit(enqueue)


def work_on_call(call: Call) -> dict:
    """What people changed on a call that "Transcribe again" must not silently lose: edited
    lines, speaker names, the title. Empty when there is nothing."""
    work = {}
    edited = call.edited_segments() if call.status == Call.Status.DONE else []
    if edited:
        work["edits"] = edited
    if any(call.speaker_names.values()):
        work["speaker_names"] = {role: name for role, name in call.speaker_names.items() if name}
    if call.title:
        work["title"] = call.title
    return work


def call_retranscribe(call: Call) -> None:
    """Transcribe a call again from the start (after a failure, or with a better model)."""
    with transaction.atomic():
        call.reset_for_retranscription()
        call_enqueue(call)


def member_add(*, team: Team, identifier: str, role: str) -> tuple[Membership, bool]:
    """Add a person to a team by username or email, creating their account if needed.

    Returns the membership and whether the account is new (it then has no password yet: the
    manager hands over a set-password link, see password_setup_path).
    """
    from django.contrib.auth import get_user_model

    User = get_user_model()
    identifier = identifier.strip()
    user = (
        User.objects.filter(email__iexact=identifier).first()
        if "@" in identifier
        else User.objects.filter(username__iexact=identifier).first()
    )
    created = user is None
    if created:
        if "@" not in identifier:
            raise ValidationError(
                f"No one is called {identifier!r} here: give their email address to invite them."
            )
        username = _free_username(identifier.split("@")[0])
        user = User(username=username, email=identifier)
        user.set_unusable_password()
        user.save()
    membership, added = Membership.objects.get_or_create(
        user=user, team=team, defaults={"role": role}
    )
    if not added:
        raise ValidationError(f"{user.get_username()} is already in {team.name}.")
    return membership, created


def _free_username(base: str) -> str:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    base = "".join(c for c in base if c.isalnum() or c in "._-")[:30] or "user"
    candidate, number = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        number += 1
        candidate = f"{base}{number}"
    return candidate


def password_setup_path(user) -> str:
    """A one-time link for a new member to choose their password (Django's reset token)."""
    from django.contrib.auth.tokens import default_token_generator
    from django.urls import reverse
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    return reverse(
        "password_reset_confirm",
        args=[
            urlsafe_base64_encode(force_bytes(user.pk)),
            default_token_generator.make_token(user),
        ],
    )


def member_remove(*, membership: Membership) -> None:
    """Remove a person from a team. The last manager stays: a team always has one."""
    team = membership.team
    if (
        membership.is_manager
        and not team.memberships.filter(role=Membership.Role.MANAGER)
        .exclude(pk=membership.pk)
        .exists()
    ):
        raise ValidationError("A team needs a manager: make someone else manager first.")
    membership.delete()


# --- Transcript corrections and trackers ------------------------------------------------------


def segment_edit(*, segment: Segment, text: str) -> bool:
    """Correct a line of a transcript (Whisper's version is kept); the analytics follow."""
    with transaction.atomic():
        changed = segment.edit_text(text)
        if changed:
            segment.call.refresh_analytics()
    return changed


def segment_restore(*, segment: Segment) -> bool:
    """Put back what Whisper heard."""
    with transaction.atomic():
        changed = segment.restore_text()
        if changed:
            segment.call.refresh_analytics()
    return changed


def tracker_save(*, tracker: Tracker) -> None:
    with transaction.atomic():
        tracker.save()
        trackers_changed(tracker.team)


def tracker_delete(*, tracker: Tracker) -> None:
    with transaction.atomic():
        tracker.delete()
        trackers_changed(tracker.team)


def trackers_changed(team: Team) -> None:
    """The team's trackers changed, so every call's hits must be found again.

    A worker goes through the team's calls (there may be thousands); until it gets to a call,
    the call's page recomputes it when someone opens it (see Call.analytics_stale).
    """
    from django_q.tasks import async_task

    team.trackers_changed_at = timezone.now()
    team.save(update_fields=["trackers_changed_at"])
    transaction.on_commit(
        lambda: async_task(
            "transcripts.tasks.refresh_team_analytics",
            team.pk,
            task_name=f"analytics {team.slug} at {timezone.now():%H:%M:%S.%f}",
            group="analytics",
        )
    )


def call_ensure_analytics(call: Call) -> None:
    """Compute a finished call's analytics if they are missing or older than its trackers."""
    if call.analytics_stale:
        call.refresh_analytics()
