"""openai-whisper (PyTorch): the reference implementation, used where faster-whisper is not.

Weights come from weights.load_openai_model: packaged CTranslate2 weights converted once, or
openai's own download by name.
"""

from __future__ import annotations

import importlib
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .base import (
    RANDOM_SEED,
    SAMPLE_RATE,
    DecodeOptions,
    Engine,
    EngineSpec,
    ProgressCallback,
    Segment,
    Word,
    resolve_device,
)
from .weights import load_openai_model

# whisper.transcribe counts progress in mel frames, one per 160 samples.
HOP_LENGTH = 160


class OpenAIWhisperEngine(Engine):
    name = "openai"
    # Shorter than faster-whisper's: openai-whisper is several times slower on a CPU, and a
    # crashed call resumes from the last finished window.
    window_seconds = 300.0

    def __init__(self, spec: EngineSpec):
        import torch

        self.model_name = spec.model
        self.device = resolve_device(spec.device)
        if self.device == "cpu":
            torch.set_num_threads(spec.resolved_threads())
        # openai-whisper keeps float32 weights and casts them per layer when decoding in fp16
        # (its LayerNorm needs float32 weights), so "float16" is the compute width on a GPU.
        self.fp16 = self.device.startswith("cuda")
        self.compute_type = "float16" if self.fp16 else "float32"
        self.model = load_openai_model(spec.model, spec.model_dir, self.device)
        self.model.eval()

    def transcribe(
        self,
        audio: np.ndarray,
        options: DecodeOptions,
        on_progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        import whisper

        # float64 samples would make whisper compute the whole spectrogram in float64.
        audio = np.asarray(audio, dtype=np.float32)
        duration = len(audio) / SAMPLE_RATE
        with _reporting_progress(on_progress, duration), self._seeded_sampling():
            result = whisper.transcribe(self.model, audio, **self._arguments(options))
        for segment in result["segments"]:
            converted = _segment(segment)
            if converted is not None:
                yield converted
        if on_progress:
            # Windows whisper skips as silence never advance its progress bar.
            on_progress(duration)

    @contextmanager
    def _seeded_sampling(self) -> Iterator[None]:
        """The temperature fallback samples from torch's generator: seeded from RANDOM_SEED
        for each window, the same audio is decoded the same way every time, whatever this
        process decoded before. The process's own generator is put back afterwards."""
        import torch

        devices = [torch.device(self.device).index or 0] if self.fp16 else []
        with torch.random.fork_rng(devices=devices, device_type="cuda"):
            torch.manual_seed(RANDOM_SEED)
            yield

    def _arguments(self, options: DecodeOptions) -> dict[str, Any]:
        english_only = self.model_name.endswith(".en") or not self.model.is_multilingual
        arguments: dict[str, Any] = dict(
            # None prints nothing at all; False would print tqdm's bar, True every segment.
            verbose=None,
            fp16=self.fp16,
            temperature=options.temperatures,
            condition_on_previous_text=options.condition_on_previous_text,
            # None lets a multilingual model detect the language from the first 30 s.
            language="en" if english_only else options.language,
            initial_prompt=options.prompt,
            word_timestamps=options.word_timestamps,
        )
        # openai-whisper has no voice-activity filter or batching: `vad` and `batch_size` do
        # not apply. best_of is the number of samples tried when falling back to temperature.
        if options.beam_size > 1:
            arguments.update(beam_size=options.beam_size, best_of=options.beam_size)
        return arguments


def _segment(raw: dict[str, Any]) -> Segment | None:
    text = raw["text"].strip()
    if not text:
        # whisper blanks segments that are instantaneous or hold only whitespace.
        return None
    return Segment(
        start=float(raw["start"]),
        end=float(raw["end"]),
        text=text,
        avg_logprob=float(raw["avg_logprob"]),
        no_speech_prob=float(raw["no_speech_prob"]),
        compression_ratio=float(raw["compression_ratio"]),
        words=tuple(
            Word(
                start=float(w["start"]),
                end=float(w["end"]),
                word=w["word"].strip(),
                probability=float(w["probability"]),
            )
            for w in raw.get("words") or ()
            if w["word"].strip()
        ),
    )


# --- Progress --------------------------------------------------------------------------------
#
# openai-whisper reports progress only through `tqdm.tqdm(total=frames, ...)` in
# whisper/transcribe.py. Its module attribute `tqdm` is replaced, once, by a stand-in that
# builds a silent counter for a thread that asked for progress and the real bar for anyone
# else. Nothing is swapped back and forth per call, so threads do not race on the attribute.

_callbacks = threading.local()


class _FrameCounter:
    """Enough of tqdm's interface for whisper.transcribe; never prints anything."""

    def __init__(self, callback: ProgressCallback, duration: float, **_: Any):
        self.callback = callback
        self.duration = duration
        self.n = 0

    def __enter__(self) -> _FrameCounter:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def update(self, frames: int = 1) -> None:
        self.n += frames
        # Frames may overshoot the samples by a fraction of a hop: never report past the end.
        self.callback(min(self.n * HOP_LENGTH / SAMPLE_RATE, self.duration))

    def close(self) -> None:
        return None


class _TqdmStandIn(types.ModuleType):
    """Stands in for the tqdm module inside whisper.transcribe."""

    def __init__(self, real: types.ModuleType):
        super().__init__(real.__name__)
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def tqdm(self, *args: Any, **kwargs: Any) -> Any:
        active = getattr(_callbacks, "active", None)
        if active is None:
            return self._real.tqdm(*args, **kwargs)
        callback, duration = active
        return _FrameCounter(callback, duration, **kwargs)


_install_lock = threading.Lock()


def _install_stand_in() -> None:
    # whisper/__init__ re-exports the function under the same name, so `whisper.transcribe`
    # is the function: the module is found through importlib.
    module = importlib.import_module("whisper.transcribe")
    with _install_lock:
        if not isinstance(module.tqdm, _TqdmStandIn):
            module.tqdm = _TqdmStandIn(module.tqdm)


@contextmanager
def _reporting_progress(callback: ProgressCallback | None, duration: float) -> Iterator[None]:
    """While inside, whisper.transcribe on this thread reports progress to `callback`."""
    if callback is None:
        yield
        return
    _install_stand_in()
    previous = getattr(_callbacks, "active", None)
    _callbacks.active = (callback, duration)
    try:
        yield
    finally:
        _callbacks.active = previous
