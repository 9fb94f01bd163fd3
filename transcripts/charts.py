"""What the transcript page draws from a call's stored analytics: who spoke when, the talk
ratio, and the tracker hits on the timeline, with each speaker's colour. All the timeline's
geometry is here. Presentation only: no queries, no writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .analytics import SegmentLike, effective_duration, speaker_of

# The SVG timeline's coordinate width; the browser scales it to the page.
TIMELINE_WIDTH = 1000


@dataclass
class SpeakerRow:
    name: str
    # "rep", "customer" or "voice": which colour the speaker has everywhere on the page.
    css: str
    bars: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Timeline:
    duration: float
    rows: list[SpeakerRow]
    marks: list[dict[str, Any]]
    # Speech the engine heard but could not make words of: drawn as unheard, not as silence.
    unheard: list[dict[str, Any]] = field(default_factory=list)
    width: int = TIMELINE_WIDTH


def speaker_css(call, channel: int | None) -> str:
    """The CSS class that colours the speaker of `channel` on this call, everywhere on its page
    (lines, timeline, talk ratio): "rep", "customer", or "voice" when speakers are not apart."""
    if channel is None or not call.has_channels:
        return "voice"
    return "rep" if channel == call.rep_channel else "customer"


def voice_css(call, voice: int | None) -> str:
    """The colour of a voice of a diarized call: "rep" for the rep's, then "customer",
    "voice-2", "voice-3"... for the others in order (or all of them when nobody is the rep)."""
    if voice is None or not call.has_voices:
        return "voice"
    if voice == call.rep_voice:
        return "rep"
    others = [v for v in range(max(call.voice_count, voice + 1)) if v != call.rep_voice]
    position = others.index(voice)
    return "customer" if position == 0 else f"voice-{position % 5 + 1}"


def line_css(call, segment) -> str:
    """The colour of a transcript line's speaker."""
    if call.has_voices:
        return voice_css(call, segment.voice)
    return speaker_css(call, segment.channel)


def speaker_classes(call) -> dict[str, str]:
    """Each speaker's name on this call -> the CSS class that colours it."""
    if call.has_voices:
        return {name: voice_css(call, voice) for voice, name in call.voice_choices()}
    if not call.has_channels:
        return {"": "voice"}
    # The rep first: the order of the rows and of the talk ratio.
    channels = (call.rep_channel, 1 - call.rep_channel)
    return {call.speaker_for_channel(channel): speaker_css(call, channel) for channel in channels}


def timeline(call, segments: Sequence[Any], analytics: dict | None) -> Timeline:
    """Rows of speech per speaker (the rep first) and tracker hits as marks, in SVG units."""
    duration = effective_duration(
        segments, (analytics or {}).get("duration") or call.duration or 0.0
    )
    classes = speaker_classes(call)
    rows: dict[str, SpeakerRow] = {
        name: SpeakerRow(name or "Speech", css) for name, css in classes.items()
    }
    for bar in speech_bars(segments, duration):
        name = bar["speaker"]
        row = rows.setdefault(name, SpeakerRow(name or "Speech", "voice"))
        row.bars.append(bar)
    marks = [
        {**hit, "x": _x(hit["start"], duration)}
        for hit in (analytics or {}).get("tracker_hits", [])
    ]
    unheard = [
        {
            **span,
            "x": _x(span["start"], duration),
            # At least a pixel or two, so a short stretch is still seen.
            "width": max(_x(span["end"], duration) - _x(span["start"], duration), 2.0),
        }
        for span in call.unheard_spans()
    ]
    return Timeline(duration, [row for row in rows.values() if row.bars], marks, unheard)


def speaker_stats(call, analytics: dict | None) -> list[dict[str, Any]]:
    """The analytics of each labelled speaker, with the CSS class of their colour; the rep
    first. Also what the talk-ratio bar is drawn from."""
    classes = speaker_classes(call)
    order = list(classes)
    entries = [
        {**entry, "css": classes.get(entry["name"], "voice")}
        for entry in (analytics or {}).get("speakers", [])
    ]
    return sorted(entries, key=lambda e: order.index(e["name"]) if e["name"] in order else 99)


def _x(seconds: float, duration: float) -> float:
    if duration <= 0:
        return 0.0
    return round(min(max(seconds / duration, 0.0), 1.0) * TIMELINE_WIDTH, 2)


def speech_bars(
    segments: Iterable[SegmentLike], duration: float, width: int = TIMELINE_WIDTH
) -> list[dict[str, Any]]:
    """Speech as bars for an SVG timeline `width` pixels wide.

    Each bar is {"speaker", "row" (speaker's order of appearance, for the y position), "x",
    "width", "start", "end"}. A speaker's stretches closer together than one pixel merge into
    one bar, so a long call gives a few hundred rectangles rather than thousands; every bar is
    at least one pixel wide so short remarks stay visible.
    """
    segments = list(segments)
    total = effective_duration(segments, duration)
    if total <= 0 or width <= 0:
        return []
    pixel_seconds = total / width
    rows: dict[str, int] = {}
    bars: list[dict[str, Any]] = []
    for name, spans in _spans_by_speaker(segments, rows).items():
        for start, end in _merge_close(spans, pixel_seconds):
            x = min(start / pixel_seconds, width - 1.0)
            bars.append(
                {
                    "speaker": name,
                    "row": rows[name],
                    "x": round(x, 2),
                    "width": round(min(max((end - start) / pixel_seconds, 1.0), width - x), 2),
                    "start": round(start, 3),
                    "end": round(end, 3),
                }
            )
    return bars


def _spans_by_speaker(
    segments: Sequence[SegmentLike], rows: dict[str, int]
) -> dict[str, list[tuple[float, float]]]:
    spans: dict[str, list[tuple[float, float]]] = {}
    for segment in segments:
        name = speaker_of(segment)
        rows.setdefault(name, len(rows))
        spans.setdefault(name, []).append((max(0.0, float(segment.start)), float(segment.end)))
    return spans


def _merge_close(spans: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] < gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
