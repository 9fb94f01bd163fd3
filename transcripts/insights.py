"""What the transcript page draws from a call's stored analytics: who spoke when, the talk
ratio, and the tracker hits on the timeline. Presentation only: no queries, no writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import analytics as call_analytics
from .speakers import CUSTOMER, REP

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


def speaker_classes(call) -> dict[str, str]:
    """Each speaker's name on this call -> the CSS class that colours it."""
    if not call.has_speakers:
        return {"": "voice"}
    return {call.speaker_name(REP): "rep", call.speaker_name(CUSTOMER): "customer"}


def timeline(call, segments: Sequence[Any], analytics: dict | None) -> Timeline:
    """Rows of speech per speaker (the rep first) and tracker hits as marks, in SVG units."""
    duration = (analytics or {}).get("duration") or call.duration or 0.0
    classes = speaker_classes(call)
    rows: dict[str, SpeakerRow] = {
        name: SpeakerRow(name or "Speech", css) for name, css in classes.items()
    }
    for bar in call_analytics.timeline(segments, duration, TIMELINE_WIDTH):
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
