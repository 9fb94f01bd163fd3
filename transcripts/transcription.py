"""How this deployment transcribes: the engine, its decoding options and how long a task may
run, read from the settings. The worker, `manage.py transcribe`, the settings page and the
benchmark all read them here, so they describe the same thing."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from .speech.base import DecodeOptions, EngineSpec

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


def task_timeout(duration: float | None) -> int:
    """Seconds a worker may spend on a call `duration` seconds long (None: not known yet)."""
    seconds = (duration or settings.MAX_AUDIO_HOURS * 3600) * TIMEOUT_SECONDS_PER_AUDIO_SECOND
    return int(min(settings.Q_TIMEOUT, max(MIN_TIMEOUT_SECONDS, seconds)))
