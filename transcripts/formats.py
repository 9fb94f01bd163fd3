"""How times and shares read for people, the same on every page and in every export.
Plain Python with no Django import; the template filters of templatetags/callscribe.py wrap it."""

from __future__ import annotations


def clock(seconds: float) -> str:
    """Seconds as a player's clock, truncated: 75 -> "1:15", 3725 -> "1:02:05"."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def percent(share: float) -> str:
    """A 0..1 share as a whole percentage: 0.4312 -> "43%"."""
    return f"{round(share * 100)}%"
