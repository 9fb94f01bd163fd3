"""Long recordings, window by window: bounded memory, and a place to resume after a crash."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .base import SAMPLE_RATE, DecodeOptions, Engine, ProgressCallback, Segment, Transcription

# Called after each window with what the engine heard in it (Transcription.speech and .unheard),
# as (start, end) pairs in the recording's seconds, cut to the part of the window that was kept.
HeardCallback = Callable[[list[tuple[float, float]], list[tuple[float, float]]], None]

# A segment that ends this close to a window's edge may be cut by it: it is dropped, and the
# next window starts where the last whole segment ended, so it is decoded again in one piece.
SEAM_SECONDS = 3.0
# A last window shorter than this is merged into the one before it.
MIN_WINDOW_SECONDS = 30.0


def transcribe_long(
    engine: Engine,
    audio: np.ndarray,
    options: DecodeOptions,
    *,
    start: float = 0.0,
    on_progress: ProgressCallback | None = None,
    on_window_done: Callable[[float], None] | None = None,
    window_seconds: float | None = None,
    on_heard: HeardCallback | None = None,
) -> Iterator[Segment]:
    """Transcribe `audio` from `start` seconds on, yielding segments with absolute times.

    After each window's segments, `on_window_done(next_start)` says where the next window
    starts. Windows depend only on the audio and the engine, so a run resumed at a reported
    `next_start` makes exactly the segments an uninterrupted run would have made.
    """
    total = len(audio) / SAMPLE_RATE
    position = max(0.0, start)
    window = window_seconds or engine.window_seconds
    while position < total - 0.05:
        window_end = min(position + window, total)
        if total - window_end < min(MIN_WINDOW_SECONDS, window / 2):
            window_end = total
        last_window = window_end >= total
        keep_until = total if last_window else window_end - SEAM_SECONDS
        samples = audio[int(position * SAMPLE_RATE) : int(window_end * SAMPLE_RATE)]
        offset = position

        def progress(seconds: float, offset: float = offset, cap: float = keep_until) -> None:
            if on_progress:
                on_progress(min(offset + seconds, cap))

        last_end = None
        result = engine.transcribe(samples, options, progress)
        for segment in result:
            segment = segment.shifted(offset)
            if segment.end > keep_until and not last_window:
                break
            last_end = segment.end
            yield segment
        if last_window:
            next_position = total
        elif last_end is not None:
            next_position = max(last_end, position + 1.0)
        else:
            next_position = keep_until
        if on_heard and isinstance(result, Transcription):
            speech = _kept(result.speech, offset, position, next_position)
            on_heard(speech, _kept(result.unheard, offset, position, next_position))
        if last_window:
            break
        position = next_position
        if on_window_done:
            on_window_done(position)
    if on_window_done:
        on_window_done(total)
    if on_progress:
        on_progress(total)


def _kept(
    spans: list[tuple[float, float]], offset: float, start: float, end: float
) -> list[tuple[float, float]]:
    """Spans moved by `offset` and cut to [start, end): what this window stands for."""
    moved = ((max(a + offset, start), min(b + offset, end)) for a, b in spans)
    return [(round(a, 3), round(b, 3)) for a, b in moved if b > a]
