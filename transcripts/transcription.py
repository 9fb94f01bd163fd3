"""How this deployment transcribes: the engine, its decoding options and how long a task may
run, read from the settings. The worker, `manage.py transcribe`, the settings page and the
benchmark all read them here, so they describe the same thing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from .speech import audio
from .speech.base import DecodeOptions, EngineSpec

if TYPE_CHECKING:
    from .models import Team
    from .speech.second_pass import SecondPass

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


def second_pass(spec: EngineSpec) -> SecondPass | None:
    """The second pass for a call transcribed by `spec`: its unsure lines decoded again with
    the Accurate model (speech.second_pass). None where it is turned off, the call is Accurate
    already, or the Accurate model is not installed here."""
    wanted = second_pass_settings()
    if not wanted:
        return None
    from .speech.second_pass import load_second_pass

    return load_second_pass(spec, **wanted)


def second_pass_settings() -> dict:
    """load_second_pass's arguments as this deployment sets them; empty where it is off."""
    if not settings.WHISPER_SECOND_PASS:
        return {}
    return {
        "model": settings.WHISPER_ACCURATE_MODEL,
        "wide_band": settings.WHISPER_SECOND_PASS_WIDE_BAND,
    }


def decode_options(team: Team | None = None, **changes) -> DecodeOptions:
    """The decoding settings, with `team`'s vocabulary where it has one."""
    vocabulary = vocabulary_terms(team.vocabulary) if team is not None else []
    options = DecodeOptions(
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
    return replace(options, **changes)


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
        (
            "Phone-line calls (8 kHz audio)",
            "read through from start to end, conditioned on the previous text"
            if uses_vad
            else "as any other call",
        ),
        ("Retry at higher temperatures when decoding fails", yes(options.temperature_fallback)),
        ("Condition on the previous text", yes(options.condition_on_previous_text)),
        ("Language", options.language or "detected (English for .en models)"),
        ("Initial prompt", options.initial_prompt or "none"),
    ]


def vocabulary_terms(text: str) -> list[str]:
    """A team's vocabulary as a list of names: split at commas and new lines, each once."""
    terms = (" ".join(part.split()) for part in text.replace("\n", ",").split(","))
    return list(dict.fromkeys(term for term in terms if term))


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
