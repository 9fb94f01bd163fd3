from django import template

register = template.Library()


@register.filter
def clock(seconds: float | None) -> str:
    """Seconds as a clock reading: 75 -> "1:15", 3725 -> "1:02:05"."""
    if seconds is None:
        return "–"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def span(seconds: float | None) -> str:
    """Seconds as words for people: 42 -> "42 s", 750 -> "12 min 30 s", 5400 -> "1 h 30 min"."""
    if seconds is None:
        return "–"
    total = int(round(seconds))
    if total < 60:
        return f"{total} s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"
