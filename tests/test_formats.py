"""Times and shares read the same on every page and in every export (transcripts.formats)."""

import pytest

from transcripts import exports
from transcripts.formats import clock, percent
from transcripts.templatetags import callscribe


@pytest.mark.parametrize(
    "seconds, shown",
    [(0, "0:00"), (9.99, "0:09"), (75, "1:15"), (3599.9, "59:59"), (3725, "1:02:05"), (-1, "0:00")],
)
def test_a_clock_reads_minutes_and_seconds_then_hours(seconds, shown):
    assert clock(seconds) == shown


def test_pages_and_exports_use_the_same_clock_and_percent():
    assert callscribe.clock(75) == exports.clock(75) == "1:15"
    assert callscribe.clock(None) == "–"
    assert callscribe.percent(0.4312) == exports.percent(0.4312) == percent(0.4312) == "43%"
