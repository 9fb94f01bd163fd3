"""The benchmark's configurations: which engine, model and options each runs, on which clips."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Config:
    """One engine with one set of options, run in its own process over `clips` in order.

    The first clip pays the model load; later clips show what a warm worker pays.
    """

    name: str
    engine: str
    model: str
    settings: str
    clips: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    threads: int = 0
    device: str = "auto"
    # "engine" runs the product's engine as it is; the others call faster-whisper's batched
    # pipeline directly with other timestamp settings, to price the engine's word timestamps.
    variant: str = "engine"
    # Cheap enough to run --repeat times (the median is reported).
    repeatable: bool = False
    # The configuration a fresh install runs (EngineSpec() and DecodeOptions() defaults).
    default: bool = False
    # The second pass (transcripts.speech.second_pass): keyword arguments of its
    # load_second_pass ({"model": "base"}); empty: none; None: the deployment's, as the worker
    # runs it (transcription.second_pass_settings).
    second_pass: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.name}:{self.clips[0]}"


@dataclass(frozen=True)
class QueueConfig:
    """`workers` processes with `threads` each, draining a queue of `queued` calls at once."""

    name: str
    engine: str
    model: str
    workers: int
    threads: int
    queued: int
    clip: str

    @property
    def label(self) -> str:
        return f"{self.name}:{self.clip}"

    @property
    def clips(self) -> tuple[str, ...]:
        return (self.clip,)


TINY, BASE = "tiny.en", "base"


LONG, SHORT, PHONE, TWO_HOURS = "call_20min", "call_1min", "call_1min_phone", "call_2h"


def faster(
    name: str, settings: str, clips: tuple[str, ...], model: str = TINY, **kwargs: Any
) -> Config:
    return Config(f"faster-{model}-{name}", "faster", model, settings, clips, **kwargs)


def openai(
    name: str, settings: str, clips: tuple[str, ...], model: str = TINY, **kwargs: Any
) -> Config:
    return Config(f"openai-{model}-{name}", "openai", model, settings, clips, **kwargs)


# faster-whisper's batched pipeline decodes at the first temperature only: no fallback.
BATCHED = "int8, VAD, batched {batch}, beam {beam}, word times (the engine)"


NO_VAD = "int8, no VAD, sequential, beam 1 + temperature fallback"


GREEDY = "fp32, beam 1 + temperature fallback (transcribe() defaults)"


NO_FALLBACK = "fp32, beam 1, no temperature fallback"


BEAM5 = "fp32, beam 5 + temperature fallback"


BYPASS = "int8, VAD, batched 8, beam {beam}, {how} (bypasses the engine)"


BYPASS_HOW = {
    "tokens": "timestamp tokens, no word times",
    "chunks": "no timestamps: one segment a voice chunk",
}


def batched(
    batch: int, clips: tuple[str, ...], model: str = TINY, beam: int = 1, **kwargs: Any
) -> Config:
    return faster(
        f"b{batch}" + (f"-beam{beam}" if beam > 1 else ""),
        BATCHED.format(batch=batch, beam=beam),
        clips,
        model,
        options={"batch_size": batch, "beam_size": beam},
        # The engine's defaults on a CPU (transcripts/speech/faster_engine.py).
        default=batch == 4 and model == TINY and beam == 5,
        **kwargs,
    )


def bypass(variant: str, clips: tuple[str, ...], beam: int = 1, **kwargs: Any) -> Config:
    """faster-whisper's batched pipeline called another way than the engine does (VARIANTS)."""
    return faster(
        "b8" + (f"-beam{beam}" if beam > 1 else "") + f"-{variant}",
        BYPASS.format(beam=beam, how=BYPASS_HOW[variant]),
        clips,
        options={"batch_size": 8, "beam_size": beam},
        variant=variant,
        **kwargs,
    )


def full_configs() -> list[Config]:
    main = (LONG, PHONE)
    configs = [
        batched(4, main, beam=5, repeatable=True),
        batched(4, main, repeatable=True),
        batched(8, main, beam=5, repeatable=True),
        batched(16, main, beam=5, repeatable=True),
        bypass("tokens", (LONG,), repeatable=True),
        bypass("chunks", (LONG,)),
        faster("novad", NO_VAD, main, options={"vad": False, "beam_size": 1}),
        openai("greedy", GREEDY, main),
        openai("nofallback", NO_FALLBACK, main, options={"temperature_fallback": False}),
        openai("beam5", BEAM5, main, options={"beam_size": 5}),
        batched(4, (TWO_HOURS,), beam=5),
    ]
    return configs + short_configs()


def short_configs() -> list[Config]:
    """tiny.en against base on the one-minute call, clean then over the phone."""
    clips = (SHORT, PHONE)
    return [
        batched(4, clips, beam=5),
        batched(4, clips, model=BASE, beam=5),
        openai("greedy", GREEDY, clips),
        openai("greedy", GREEDY, clips, model=BASE),
    ]


def quick_configs() -> list[Config]:
    return short_configs() + [
        faster("novad", NO_VAD, (SHORT,), options={"vad": False, "beam_size": 1}),
        batched(4, (SHORT,)),
        bypass("tokens", (SHORT,)),
        openai("nofallback", NO_FALLBACK, (SHORT,), options={"temperature_fallback": False}),
        openai("beam5", BEAM5, (SHORT,), options={"beam_size": 5}),
    ]


def api_configs(quick: bool) -> list[Config]:
    """The OpenAI API, only where a key is set: with it, audio leaves this machine."""
    if not os.environ.get("OPENAI_API_KEY"):
        return []
    clips = (SHORT, PHONE) if quick else (LONG, SHORT)
    model = os.environ.get("OPENAI_API_MODEL", "whisper-1")
    return [Config(f"api-{model}", "api", model, "OpenAI API, Opus upload", clips)]


def queue_configs(clip: str) -> list[QueueConfig]:
    """One worker with every core against one worker per core, with 1 and 4 calls waiting.

    2 x 2 is what Q_WORKERS=2 with WHISPER_THREADS=2 gives: each worker takes all cores.
    """
    cores = os.cpu_count() or 1
    shapes = [(1, cores, 1), (1, cores, 4)]
    if cores > 1:
        shapes += [(cores, 1, 1), (cores, 1, 4)]
    if cores > 1 and clip == LONG:
        # With one call queued, a second worker idles: 2 x 2 then behaves like 1 x 2.
        shapes.append((cores, cores, 4))
    return [
        QueueConfig(
            f"queue-{workers}x{threads}-q{queued}", "faster", TINY, workers, threads, queued, clip
        )
        for workers, threads, queued in shapes
    ]


def select(configs: list, pattern: str | None) -> list:
    """Configurations whose label ("name:first clip") matches a glob or contains `pattern`."""
    if not pattern:
        return configs
    return [c for c in configs if fnmatch.fnmatch(c.label, pattern) or pattern in c.label]
