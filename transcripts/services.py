"""Writes: creating calls and putting them in the queue. Used by views, the admin and commands."""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from .models import Call, Team
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
        model_dir=Path(settings.WHISPER_MODEL_DIR),
        api_key=settings.OPENAI_API_KEY,
        api_base=settings.OPENAI_API_BASE,
        api_model=settings.OPENAI_API_MODEL,
    )


def decode_options() -> DecodeOptions:
    return DecodeOptions(
        beam_size=settings.WHISPER_BEAM_SIZE,
        temperature_fallback=settings.WHISPER_TEMPERATURE_FALLBACK,
        condition_on_previous_text=settings.WHISPER_CONDITION_ON_PREVIOUS_TEXT,
        language=settings.WHISPER_LANGUAGE,
        initial_prompt=settings.WHISPER_INITIAL_PROMPT,
        word_timestamps=settings.WHISPER_WORD_TIMESTAMPS,
        vad=settings.WHISPER_VAD,
        batch_size=settings.WHISPER_BATCH_SIZE,
    )


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


def call_retranscribe(call: Call) -> None:
    """Transcribe a call again from the start (after a failure, or with a better model)."""
    with transaction.atomic():
        call.reset_for_retranscription()
        call_enqueue(call)
