"""The engine interface: what every speech engine takes and gives back.

Nothing in transcripts.speech imports Django, so engines can be tested and benchmarked alone.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
# The temperature fallback samples: each engine starts its draws from this seed in every window,
# so the same audio is decoded the same way every time (a window decoded again after a crash
# comes out as before, and benchmark runs can be compared).
RANDOM_SEED = 0

# Called with the number of seconds of the given audio that are transcribed so far.
ProgressCallback = Callable[[float], None]


class TranscriptionError(Exception):
    """A failure a person can act on; the message is shown to them as it is."""


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    words: tuple[Word, ...] = ()
    # Set by the second pass (speech.second_pass) on a line the accurate model decoded again:
    # that model's name, and what the fast model had heard in the same time.
    decoded_by: str = ""
    first_pass_text: str = ""

    def shifted(self, seconds: float) -> Segment:
        """The same segment with every time moved by `seconds` (windows are transcribed alone)."""
        return replace(
            self,
            start=self.start + seconds,
            end=self.end + seconds,
            words=tuple(
                replace(w, start=w.start + seconds, end=w.end + seconds) for w in self.words
            ),
        )

    def as_dict(self) -> dict:
        return asdict(self)


class Transcription(Iterator[Segment]):
    """What an engine that listens for speech gives back: its segments, in time order, and once
    they are all read, what it heard besides.

    `speech` is where voice-activity detection heard speech, and `unheard` the stretches of it
    that yielded no word even when decoded again: (start, end) pairs in the audio's seconds.
    Engines without voice-activity detection yield plain segments instead.
    """

    def __init__(self, segments: Iterable[Segment]):
        self._segments = iter(segments)
        self.speech: list[tuple[float, float]] = []
        self.unheard: list[tuple[float, float]] = []

    def __iter__(self) -> Transcription:
        return self

    def __next__(self) -> Segment:
        return next(self._segments)


@dataclass(frozen=True)
class DecodeOptions:
    """Decoding settings shared by the engines; each engine maps them to its own arguments.

    The defaults are the fastest settings that kept accuracy in docs/benchmarks.md.
    """

    # 0: the engine's own default, chosen by measurement (docs/benchmarks.md).
    beam_size: int = 0
    temperature_fallback: bool = True
    # Off by default: feeding the previous text back in causes repetition loops on long calls.
    condition_on_previous_text: bool = False
    language: str | None = None
    initial_prompt: str | None = None
    # Names the engine should expect (a team's vocabulary), comma separated: faster-whisper
    # takes them as hotwords, the others in the prompt.
    hotwords: str | None = None
    word_timestamps: bool = False
    vad: bool = True
    # 0: the engine's default for its device (4 on a CPU: as fast as 8, with 270 MB less).
    batch_size: int = 0

    @property
    def prompt(self) -> str | None:
        """The initial prompt with the vocabulary in front: how engines without hotwords are
        told which names to expect (Whisper reads a prompt as text said before)."""
        names = f"Names: {self.hotwords}." if self.hotwords else ""
        return " ".join(part for part in (names, self.initial_prompt or "") if part) or None

    @property
    def temperatures(self) -> tuple[float, ...]:
        return (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if self.temperature_fallback else (0.0,)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EngineSpec:
    """Which engine to load, with what weights, where. Hashable: it keys the per-process cache."""

    engine: str = "auto"
    model: str = "tiny.en"
    device: str = "auto"
    threads: int = 0
    # Workers of this machine's cluster: the cores are shared among them when threads is 0.
    workers: int = 1
    model_dir: Path = field(default_factory=lambda: Path("data/models"))
    api_key: str = field(default="", repr=False)
    api_base: str = "https://api.openai.com/v1"
    api_model: str = "whisper-1"

    def resolved_threads(self) -> int:
        if self.threads > 0:
            return self.threads
        return max(1, (os.cpu_count() or 1) // max(1, self.workers))


class Engine(ABC):
    """A loaded model. Loading is slow, so a worker process loads an engine once and keeps it."""

    name: str
    model_name: str
    device: str
    compute_type: str
    # The longest stretch of audio handed to transcribe() at once: longer calls are transcribed
    # window by window, which bounds memory and lets a call resume after a crash.
    window_seconds: float = 600.0

    @abstractmethod
    def transcribe(
        self,
        audio: np.ndarray,
        options: DecodeOptions,
        on_progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        """Transcribe 16 kHz mono float32 audio, yielding segments in time order."""

    def effective_options(self, options: DecodeOptions) -> DecodeOptions:
        """The options as this engine uses them: its own defaults in place of 0."""
        return options

    def describe(self) -> dict:
        return {
            "engine": self.name,
            "model": self.model_name,
            "device": self.device,
            "compute_type": self.compute_type,
        }


def cuda_available() -> bool:
    """Whether a CUDA device is usable, checked in the calling process.

    Called only inside a worker, after Django-Q2 forked it: CUDA initialised in the parent
    cannot be used in a forked child ("Cannot re-initialize CUDA in forked subprocess").
    """
    try:
        import ctranslate2

        # CTranslate2 answers without importing torch (about 240 MB a worker).
        return ctranslate2.get_cuda_device_count() > 0
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - any failure here simply means "no GPU".
        return False
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    return device
