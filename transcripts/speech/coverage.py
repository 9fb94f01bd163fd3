"""Holes in a transcript: stretches where voice-activity detection heard speech but no word landed.

A batched decoder can return nothing for a chunk of speech, or stop before its end, without any
error: the transcript just goes quiet. Comparing what the VAD heard with where words landed finds
those stretches, so they can be decoded again, or shown as unheard rather than as silence.
Plain Python and numpy: no Django, no model.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np

# Speech this long with no word in it is a hole worth decoding again: shorter gaps are the VAD's
# padding (0.4 s a side) and pauses inside a turn.
MIN_HOLE_SECONDS = 2.0
# A word's times are estimates from attention weights, often a little early or late: speech this
# close to a word counts as heard.
WORD_REACH_SECONDS = 0.3


@dataclass(frozen=True)
class Span:
    """A stretch of time in seconds, [start, end)."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)

    def shifted(self, seconds: float) -> Span:
        return Span(self.start + seconds, self.end + seconds)

    def as_list(self) -> list[float]:
        return [round(self.start, 3), round(self.end, 3)]


def merge(spans: Iterable[Span], gap: float = 0.0) -> list[Span]:
    """The spans in time order, overlapping ones (or ones under `gap` apart) joined."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if span.seconds <= 0:
            continue
        if merged and span.start <= merged[-1].end + gap:
            last = merged[-1]
            merged[-1] = Span(last.start, max(last.end, span.end))
        else:
            merged.append(span)
    return merged


class Timeline:
    """Spans merged into time order, to ask which one a moment falls in."""

    def __init__(self, spans: Iterable[Span]):
        self.spans = merge(spans)
        self._starts = [span.start for span in self.spans]

    def latest_start(self, moment: float) -> Span | None:
        """The last span starting at or before `moment` (which may have ended by then)."""
        at = bisect.bisect_right(self._starts, moment) - 1
        return self.spans[at] if at >= 0 else None

    def __contains__(self, moment: float) -> bool:
        span = self.latest_start(moment)
        return span is not None and moment < span.end


def total_seconds(spans: Iterable[Span]) -> float:
    return sum(span.seconds for span in merge(spans))


def within(spans: Iterable[Span], start: float, end: float) -> list[Span]:
    """The parts of `spans` between start and end."""
    cut = (Span(max(span.start, start), min(span.end, end)) for span in spans)
    return [span for span in cut if span.seconds > 0]


def subtract(spans: Iterable[Span], taken: Iterable[Span]) -> list[Span]:
    """The parts of `spans` that no span of `taken` covers."""
    taken = merge(taken)
    left: list[Span] = []
    for span in merge(spans):
        position = span.start
        for cover in taken:
            if cover.end <= position or cover.start >= span.end:
                continue
            if cover.start > position:
                left.append(Span(position, cover.start))
            position = max(position, cover.end)
        if position < span.end:
            left.append(Span(position, span.end))
    return left


def covered_seconds(spans: Iterable[Span], cover: Iterable[Span]) -> float:
    """How many seconds of `spans` some span of `cover` covers."""
    spans = merge(spans)
    return total_seconds(spans) - total_seconds(subtract(spans, cover))


def find_holes(
    speech: Sequence[Span],
    words: Iterable[tuple[float, float]],
    *,
    min_seconds: float = MIN_HOLE_SECONDS,
    reach: float = WORD_REACH_SECONDS,
) -> list[Span]:
    """Stretches of `speech` at least `min_seconds` long with no word (start, end) near them."""
    heard = [Span(start - reach, end + reach) for start, end in words]
    return [hole for hole in subtract(speech, heard) if hole.seconds >= min_seconds]


def padded(
    voiced: Sequence[Span], pad: float, audio_seconds: float, sample_rate: int
) -> list[Span]:
    """Regions of voiced speech (in time order) padded `pad` seconds a side, as Silero VAD pads
    them: where two are less than two pads apart, they meet halfway across the pause. Counted
    in whole samples, as Silero counts them, so the regions are its own to the sample (a sample
    more or less of a hole's audio can change what Whisper hears in it)."""
    pad_samples = int(pad * sample_rate)
    length = round(audio_seconds * sample_rate)
    regions = [[round(span.start * sample_rate), round(span.end * sample_rate)] for span in voiced]
    for index, region in enumerate(regions):
        if index == 0:
            region[0] = max(0, region[0] - pad_samples)
        if index + 1 < len(regions):
            after = regions[index + 1]
            pause = after[0] - region[1]
            reach = pause // 2 if pause < 2 * pad_samples else pad_samples
            region[1] = min(length, region[1] + reach)
            after[0] = max(0, after[0] - reach)
        else:
            region[1] = min(length, region[1] + pad_samples)
    return [Span(start / sample_rate, end / sample_rate) for start, end in regions]


def plan_chunks(speech: Sequence[Span], max_seconds: float) -> list[Span]:
    """Stretches of audio to decode one at a time, each at most `max_seconds` long.

    Each runs from the start of a speech region to the end of a later one, whole regions only
    (the VAD splits a region longer than that), so no word is cut at a chunk's edge and the
    silence between chunks is never decoded. Pauses inside a chunk stay as they were spoken.
    """
    chunks: list[Span] = []
    # Not merged first: the VAD's padding makes regions touch across short pauses.
    for region in sorted(speech, key=lambda s: s.start):
        if chunks and region.end - chunks[-1].start <= max_seconds:
            chunks[-1] = Span(chunks[-1].start, region.end)
        else:
            chunks.append(region)
    return chunks


class Timed(Protocol):
    start: float
    end: float


T = TypeVar("T", bound=Timed)

# Packed clips: at most this long, this much silence between their pieces.
CLIP_SECONDS = 28.0
SEPARATOR_SECONDS = 0.5


@dataclass(frozen=True)
class Piece(Generic[T]):
    """The audio decoded for `span` (a hole, an unsure stretch), context included, as it lies in
    a packed clip: from `at` seconds of the clip, taken from `start` seconds of the window."""

    span: T
    start: float
    end: float
    at: float

    def to_window(self, seconds: float) -> float:
        return self.start + (seconds - self.at)

    def to_clip(self, seconds: float) -> float:
        """Where `seconds` of the window lie in the clip (the inverse of to_window)."""
        return self.at + (seconds - self.start)

    @property
    def at_end(self) -> float:
        return self.at + (self.end - self.start)

    def holds(self, seconds: float) -> bool:
        """Whether `seconds` of the clip are this piece's audio."""
        return self.at <= seconds < self.at_end


def pack(
    spans: Sequence[T],
    audio_seconds: float,
    *,
    context: float,
    clip_seconds: float = CLIP_SECONDS,
) -> list[list[Piece[T]]]:
    """The spans, in time order, each with `context` seconds of audio either side (within the
    audio's `audio_seconds`), packed into clips of at most `clip_seconds`, a short silence
    between pieces: Whisper pads whatever it decodes to 30 s, so a few seconds decoded alone
    cost as much as a full clip (as faster-whisper's sequential VAD path joins speech). A span
    longer than a clip is one alone."""
    clips: list[list[Piece[T]]] = []
    length = 0.0
    for span in sorted(spans, key=lambda s: s.start):
        start = max(0.0, span.start - context)
        end = min(audio_seconds, span.end + context)
        if not clips or length + SEPARATOR_SECONDS + (end - start) > clip_seconds:
            clips.append([])
            length = -SEPARATOR_SECONDS
        at = length + SEPARATOR_SECONDS
        clips[-1].append(Piece(span, start, end, at))
        length = at + (end - start)
    return clips


def packed_audio(audio: np.ndarray, clip: Sequence[Piece], sample_rate: int) -> np.ndarray:
    """The clip's samples: its pieces' audio, the separator's silence between them."""
    gap = np.zeros(int(SEPARATOR_SECONDS * sample_rate), dtype=audio.dtype)
    parts = []
    for piece in clip:
        if parts:
            parts.append(gap)
        parts.append(audio[int(piece.start * sample_rate) : int(piece.end * sample_rate)])
    return np.concatenate(parts)
