"""The charts of a call's page: the timeline's bars (transcripts.charts), on plain segments."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from transcripts.charts import speech_bars


@dataclass
class Seg:
    start: float
    end: float
    text: str
    speaker: str = ""


def test_timeline_merges_bars_closer_than_a_pixel_and_keeps_tiny_ones_visible():
    call = [
        Seg(0, 10, "a", "Rep"),
        Seg(10.2, 20, "b", "Rep"),  # 0.2 s later: under one 0.5 s pixel, so the same bar
        Seg(50, 50.1, "c", "Customer"),  # a fifth of a pixel, drawn one pixel wide
        Seg(90, 100, "d", "Rep"),
    ]

    assert speech_bars(call, 100, 200) == [
        {"speaker": "Rep", "row": 0, "x": 0.0, "width": 40.0, "start": 0.0, "end": 20.0},
        {"speaker": "Rep", "row": 0, "x": 180.0, "width": 20.0, "start": 90.0, "end": 100.0},
        {"speaker": "Customer", "row": 1, "x": 100.0, "width": 1.0, "start": 50.0, "end": 50.1},
    ]


@pytest.mark.parametrize("duration, width", [(0, 200), (100, 0)])
def test_timeline_is_empty_when_there_is_nothing_to_draw(duration, width):
    assert speech_bars([], duration, width) == []
