"""How this deployment transcribes: the engine, its decoding options and how long a task may
run, read from the settings. The worker, `manage.py transcribe`, the settings page and the
benchmark all read them here, so they describe the same thing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from django.conf import settings

from .speech import audio
from .speech.base import DecodeOptions, EngineSpec

# The slowest engine setting measured here transcribes at 3.5x real time on 2 cores; a task that
# runs longer than this share of its call's length is stuck, and is killed by the cluster.
TIMEOUT_SECONDS_PER_AUDIO_SECOND = 1.0
MIN_TIMEOUT_SECONDS = 600


def engine_spec(**changes) -> EngineSpec:
    """The engine the workers load; `changes` replace fields (the command's --model, the
    benchmark's configurations)."""
    spec = EngineSpec(
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
    return replace(spec, **changes)


def decode_options(**changes) -> DecodeOptions:
    options = DecodeOptions(
        beam_size=settings.WHISPER_BEAM_SIZE,
        temperature_fallback=settings.WHISPER_TEMPERATURE_FALLBACK,
        condition_on_previous_text=settings.WHISPER_CONDITION_ON_PREVIOUS_TEXT,
        language=settings.WHISPER_LANGUAGE,
        initial_prompt=settings.WHISPER_INITIAL_PROMPT,
        word_timestamps=settings.WHISPER_WORD_TIMESTAMPS,
        vad=settings.WHISPER_VAD,
        batch_size=settings.WHISPER_BATCH_SIZE,
    )
    return replace(options, **changes)


def window_seconds() -> float | None:
    """The longest stretch of audio transcribed at once; None: the engine's own."""
    return settings.WHISPER_WINDOW_SECONDS or None


def max_audio_seconds() -> float:
    """Longer recordings are refused, at upload when the header says so, else while decoding."""
    return settings.MAX_AUDIO_HOURS * 3600


def probe_limits() -> audio.Limits:
    """How long and how much memory the child process checking an upload may take."""
    return audio.Limits(seconds=settings.PROBE_TIMEOUT_SECONDS, memory_mb=settings.DECODE_MEMORY_MB)


def decode_limits() -> audio.Limits:
    """How long and how much memory the child process decoding a call may take."""
    return audio.Limits(
        seconds=settings.DECODE_TIMEOUT_SECONDS, memory_mb=settings.DECODE_MEMORY_MB
    )


def task_timeout(duration: float | None) -> int:
    """Seconds a worker may spend on a call `duration` seconds long (None: not known yet)."""
    seconds = (duration or max_audio_seconds()) * TIMEOUT_SECONDS_PER_AUDIO_SECOND
    return int(min(settings.Q_TIMEOUT, max(MIN_TIMEOUT_SECONDS, seconds)))
