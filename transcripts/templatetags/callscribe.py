from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from transcripts import charts, formats
from transcripts.confidence import marked_pieces
from transcripts.selectors import term_patterns
from transcripts.speakers import person_name

register = template.Library()


@register.filter
def clock(seconds: float | None) -> str:
    """Seconds as a clock reading (formats.clock): 75 -> "1:15"; "–" when unknown."""
    return "–" if seconds is None else formats.clock(seconds)


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


@register.filter
def speaker_css(channel: int | None, call) -> str:
    """The class that colours a channel's speaker on a call (charts.speaker_css)."""
    return charts.speaker_css(call, channel)


@register.filter
def line_css(segment, call) -> str:
    """The class that colours a line's speaker, by channel or by voice (charts.line_css)."""
    return charts.line_css(call, segment)


@register.filter
def is_moved(segment) -> bool:
    """Whether a person gave the line to another voice than the machine did."""
    return segment.machine_voice is not None and segment.voice != segment.machine_voice


@register.filter
def voice_name(voice: int | None, call) -> str:
    """What the call calls voice `voice` now."""
    return call.speaker_for_voice(voice)


@register.filter
def percent(share: float | None) -> str:
    """A 0..1 share for people (formats.percent): 0.4312 -> "43%"; "–" when unknown."""
    return "–" if share is None else formats.percent(share)


@register.filter
def css_percent(share: float | None) -> str:
    """A 0..1 share for a CSS length, never localised: 0.4312 -> "43.12"."""
    return f"{max(0.0, min(1.0, share or 0.0)) * 100:.2f}"


@register.filter
def highlight(text: str, query: str) -> SafeString:
    """The text, escaped, with the words of a search query in <mark>."""
    patterns = term_patterns(query or "")
    text = str(text)
    if not patterns:
        return escape(text)
    spans = sorted(match.span() for pattern in patterns for match in pattern.finditer(text))
    pieces, position = [], 0
    for start, end in spans:
        if start < position:  # overlapping matches: the first one wins
            continue
        pieces += [escape(text[position:start]), "<mark>", escape(text[start:end]), "</mark>"]
        position = end
    pieces.append(escape(text[position:]))
    return mark_safe("".join(pieces))


@register.filter
def confidence_marks(segment) -> SafeString:
    """The line's text, escaped, with the words Whisper was unsure of underlined and their
    probability on hover. An edited line is shown as written: its words are Whisper's, not its
    text's."""
    if segment.is_edited or not segment.words:
        return escape(segment.text)
    html = []
    for piece, probability in marked_pieces(segment.text, segment.words):
        if probability is None:
            html.append(escape(piece))
        else:
            html.append(
                f'<span class="unsure" title="Whisper was {probability:.0%} sure of this word">'
                f"{escape(piece)}</span>"
            )
    return mark_safe("".join(html))


@register.filter
def voice_css(voice: int | None, call) -> str:
    return charts.voice_css(call, voice)


@register.filter
def default_voice_name(voice: int, call) -> str:
    """What a voice is called when people gave it no name."""
    return call.default_voice_name(voice)


@register.filter
def get_key(mapping: dict | None, key) -> str:
    """mapping[str(key)], "" when missing (a JSON dict's keys are strings)."""
    return (mapping or {}).get(str(key), "")


@register.filter
def person(user) -> str:
    """A team member's name as transcripts show it."""
    return person_name(user)
