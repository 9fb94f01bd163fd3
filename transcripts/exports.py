"""Transcript exports: plain text, SRT and WebVTT subtitles, JSON and Word (DOCX).

Plain Python with no Django import. Every exporter takes the call's segments (duck-typed, as in
transcripts.analytics) and the keyword arguments `title`, `duration`, `analytics` (the dict
from analytics.analyse, or None), `rep` (the name of the team member who led the call, or "")
and `transcribed_with` (Call.transcribed_with(): the quality and model, with a readable
"summary"; or None). Text formats return str, DOCX returns bytes; `render` gives bytes for any
format so a view can serve EXPORT_FORMATS without caring which is which.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from docx import Document

from transcripts.analytics import SegmentLike, speaker_names, speaker_of, time_order
from transcripts.confidence import LOW_PROBABILITY, is_low
from transcripts.formats import clock, percent

# Characters XML 1.0 forbids; python-docx refuses text holding them, and they have no place in
# subtitles either. Tab, newline and carriage return are allowed.
_XML_ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class _Turn:
    """Consecutive segments of one labelled speaker, shown as one paragraph."""

    speaker: str
    start: float
    text: str


# --- Shared helpers ---------------------------------------------------------------------------


def _clean(text: str) -> str:
    """One line of text: illegal characters dropped, runs of whitespace (newlines too) collapsed."""
    return " ".join(_XML_ILLEGAL_RE.sub("", text).split())


def _speaker(segment: SegmentLike) -> str:
    """The speaker's name ready to print ("" when unlabelled)."""
    return _clean(speaker_of(segment))


def _in_time_order(segments: Iterable[SegmentLike]) -> list[SegmentLike]:
    segments = list(segments)
    return [segments[i] for i in time_order(segments)]


def _timestamp(seconds: float, separator: str) -> str:
    # Whole milliseconds first, so 59.9996 s becomes 00:01:00.000 and never 00:00:60.000.
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _turns(segments: Iterable[SegmentLike]) -> list[_Turn]:
    """Speaker turns in time order. Unlabelled segments stay one per line: merging them would
    turn a whole unlabelled call into a single paragraph."""
    turns: list[_Turn] = []
    for segment in _in_time_order(segments):
        text, name = _clean(segment.text), _speaker(segment)
        if not text:
            continue
        if turns and name and turns[-1].speaker == name:
            turns[-1] = _Turn(name, turns[-1].start, f"{turns[-1].text} {text}")
        else:
            turns.append(_Turn(name, float(segment.start), text))
    return turns


def _cues(segments: Iterable[SegmentLike]) -> list[tuple[float, float, str, str]]:
    """(start, end, speaker, text) per non-empty segment, in time order, with end >= start."""
    cues = []
    for segment in _in_time_order(segments):
        text = _clean(segment.text)
        if text:
            start = max(0.0, float(segment.start))
            cues.append((start, max(start, float(segment.end)), _speaker(segment), text))
    return cues


# Subtitle guidelines (BBC, Netflix): at most 42 characters a line and two lines a cue, so that
# a cue can be read in the time it is shown. A longer line is split into several cues, its time
# shared among them by their length.
SUBTITLE_LINE_CHARS = 42
SUBTITLE_LINES = 2


def _wrap(text: str, width: int = SUBTITLE_LINE_CHARS) -> list[str]:
    """Lines of at most `width` characters, broken between words (a longer word is cut)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        while len(word) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if not word:
            continue
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def _subtitle_cues(
    segments: Iterable[SegmentLike], prefix_speaker: bool
) -> list[tuple[float, float, str, list[str]]]:
    """(start, end, speaker, lines) with at most two lines of 42 characters each. With
    `prefix_speaker` (SRT), "Name: " starts every cue's text and counts in its length."""
    cues = []
    for start, end, name, text in _cues(segments):
        shown = f"{name}: {text}" if name and prefix_speaker else text
        lines = _wrap(shown)
        chunks = [lines[i : i + SUBTITLE_LINES] for i in range(0, len(lines), SUBTITLE_LINES)]
        if prefix_speaker and name:
            # Every cue says who speaks; later chunks are wrapped again with the name before them.
            first, rest = chunks[0], " ".join(" ".join(c) for c in chunks[1:])
            chunks = [first]
            if rest:
                again = _wrap(f"{name}: {rest}")
                while again:
                    chunk, again = again[:SUBTITLE_LINES], again[SUBTITLE_LINES:]
                    chunks.append(chunk)
                    if again:
                        again = _wrap(f"{name}: {' '.join(again)}")
        total = sum(len(" ".join(chunk)) for chunk in chunks) or 1
        at = start
        for index, chunk in enumerate(chunks):
            share = (end - start) * len(" ".join(chunk)) / total
            until = end if index == len(chunks) - 1 else at + share
            cues.append((at, until, name, chunk))
            at = until
    # Lines overlap where two people talk at once (a dual-channel call's cross-talk): the later
    # cues of a long line then start after the next line does, and players show cues in order.
    return sorted(cues, key=lambda cue: cue[0])


def _word_dict(word: Any) -> dict[str, Any]:
    if isinstance(word, Mapping):
        found = dict(word)
    else:
        found = {key: getattr(word, key, None) for key in ("start", "end", "word", "probability")}
    return {**found, "low_confidence": is_low(word)}


def _segment_dict(segment: SegmentLike) -> dict[str, Any]:
    """A segment for the JSON export. An edited line keeps Whisper's text and words beside the
    correction: its words are what Whisper heard, not what the line now says."""
    words = [_word_dict(w) for w in (getattr(segment, "words", None) or [])]
    original = getattr(segment, "original_text", "") or ""
    edited = bool(original) and original != segment.text
    data = {
        "start": float(segment.start),
        "end": float(segment.end),
        "text": segment.text,
        "speaker": getattr(segment, "speaker", "") or "",
        "edited": edited,
        "words": [] if edited else words,
    }
    voice, machine_voice = getattr(segment, "voice", None), getattr(segment, "machine_voice", None)
    if voice is not None or machine_voice is not None:
        # Speakers told apart by voice: who has the line now, and who the machine heard.
        data.update(voice=voice, machine_voice=machine_voice)
    if edited:
        data.update(original_text=original, original_words=words)
    decoded_by = getattr(segment, "decoded_by", "") or ""
    if decoded_by:
        # The second pass's line: what the call's own model had heard there.
        data.update(decoded_by=decoded_by, first_pass_text=segment.first_pass_text)
    return data


def _model_line(transcribed_with: Mapping[str, Any] | None) -> list[str]:
    """ "Transcribed: Fast (tiny.en); ..." where the call says how it was transcribed."""
    summary = (transcribed_with or {}).get("summary")
    return [f"Transcribed: {_clean(summary)}"] if summary else []


# --- Analytics summary, shared by TXT and DOCX --------------------------------------------


def summary_lines(analytics: Mapping[str, Any] | None) -> list[str]:
    """A few human-readable lines about the call. Tolerates missing keys, since stored analytics
    may come from an older version of analytics.analyse."""
    if not analytics:
        return []
    overall = analytics.get("overall", {})
    speakers = analytics.get("speakers", [])
    lines = []
    if speakers:
        lines.append(
            "Talk time: "
            + ", ".join(
                f"{s['name']} {percent(s.get('talk_share', 0))} "
                f"({clock(s.get('talk_seconds', 0))}, {s.get('words_per_minute', 0):g} wpm)"
                for s in speakers
            )
        )
    elif "words_per_minute" in overall:
        lines.append(f"Pace: {overall['words_per_minute']:g} words per minute")
    if "silence_share" in overall:
        lines.append(f"Silence: {percent(overall['silence_share'])}")
    monologue = overall.get("longest_monologue")
    if monologue:
        who = f"{monologue['speaker']}, " if monologue.get("speaker") else ""
        lines.append(
            f"Longest monologue: {who}{clock(monologue['duration'])} "
            f"(from {clock(monologue['start'])})"
        )
    lines += _per_speaker_line("Questions", "question_count", overall, speakers)
    lines += _per_speaker_line("Interruptions", "interruption_count", overall, speakers)
    fillers = overall.get("fillers", {}).get("total")
    if fillers is not None:
        lines.append(f"Filler words: {fillers} (a lower bound: Whisper leaves many out)")
    trackers = overall.get("tracker_counts") or {}
    if trackers:
        lines.append("Trackers: " + ", ".join(f"{name} {n}" for name, n in trackers.items()))
    return lines


def _per_speaker_line(
    label: str, key: str, overall: Mapping[str, Any], speakers: Sequence[Mapping[str, Any]]
) -> list[str]:
    if key not in overall:
        return []
    detail = ", ".join(f"{s['name']} {s.get(key, 0)}" for s in speakers)
    return [f"{label}: {overall[key]}" + (f" ({detail})" if detail else "")]


# --- Exporters --------------------------------------------------------------------------------


def to_txt(
    segments: Iterable[SegmentLike],
    *,
    title: str,
    duration: float,
    analytics: Mapping[str, Any] | None = None,
    rep: str = "",
    transcribed_with: Mapping[str, Any] | None = None,
) -> str:
    """Title, duration, rep and model, then one "[mm:ss] Speaker: text" line per turn, then a
    summary."""
    lines = [_clean(title), f"Duration: {clock(duration)}"]
    if rep:
        lines.append(f"Sales rep: {_clean(rep)}")
    lines += [*_model_line(transcribed_with), ""]
    for turn in _turns(segments):
        who = f" {turn.speaker}:" if turn.speaker else ""
        lines.append(f"[{clock(turn.start)}]{who} {turn.text}")
    summary = summary_lines(analytics)
    if summary:
        lines += ["", "Summary", *summary]
    return "\n".join(lines) + "\n"


def to_srt(
    segments: Iterable[SegmentLike],
    *,
    title: str,
    duration: float,
    analytics: Mapping[str, Any] | None = None,
    rep: str = "",
    transcribed_with: Mapping[str, Any] | None = None,
) -> str:
    """SubRip: numbered cues with "HH:MM:SS,mmm --> HH:MM:SS,mmm" and "Speaker: text" lines.
    Title and analytics have no place in subtitles and are ignored."""
    blocks = []
    for number, (start, end, _name, lines) in enumerate(_subtitle_cues(segments, True), start=1):
        times = f"{_timestamp(start, ',')} --> {_timestamp(end, ',')}"
        text = "\n".join(lines)
        blocks.append(f"{number}\n{times}\n{text}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    # Cue text is markup: a bare "<" or "&" would be read as a tag or entity, and "-->" would
    # end the timing line's meaning, so all three are escaped.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(
    segments: Iterable[SegmentLike],
    *,
    title: str,
    duration: float,
    analytics: Mapping[str, Any] | None = None,
    rep: str = "",
    transcribed_with: Mapping[str, Any] | None = None,
) -> str:
    """WebVTT with "HH:MM:SS.mmm" times and the speaker as a <v Name> voice span.
    Analytics are ignored; the title goes on the header line, which WebVTT allows."""
    # The header line is not markup, but "-->" there would make it look like a timing line.
    header_title = _clean(title).replace("-->", "->")
    header = f"WEBVTT - {header_title}" if header_title else "WEBVTT"
    blocks = [header + "\n"]
    for line in _model_line(transcribed_with):
        # A NOTE block is a comment: players show nothing of it.
        blocks.append(f"NOTE {_vtt_escape(line).replace('-->', '->')}\n")
    for start, end, name, lines in _subtitle_cues(segments, False):
        # The voice span names the speaker without showing it, so only the words count.
        body = "\n".join(_vtt_escape(line) for line in lines)
        if name:
            body = f"<v {_vtt_escape(name)}>{body}"
        blocks.append(f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{body}\n")
    return "\n".join(blocks)


def to_json(
    segments: Iterable[SegmentLike],
    *,
    title: str,
    duration: float,
    analytics: Mapping[str, Any] | None = None,
    rep: str = "",
    transcribed_with: Mapping[str, Any] | None = None,
) -> str:
    """{"title", "duration", "rep", "segments": [{start, end, text, speaker, edited, words,
    and voice, machine_voice on a call told apart by voice}], "speakers", "analytics",
    "transcribed_with" (where given)}: the segments as stored (not cleaned or reordered), so
    the data round-trips. Each word says whether it is under the low-confidence threshold; an
    edited segment has its original_text and original_words."""
    segments = list(segments)
    data = {
        "title": title,
        "duration": float(duration),
        "rep": rep,
        "low_confidence_below": LOW_PROBABILITY,
        "segments": [_segment_dict(s) for s in segments],
        "speakers": speaker_names(segments),
        "analytics": analytics,
    }
    if transcribed_with:
        data["transcribed_with"] = dict(transcribed_with)
    return json.dumps(data, ensure_ascii=False, indent=2)


def to_docx(
    segments: Iterable[SegmentLike],
    *,
    title: str,
    duration: float,
    analytics: Mapping[str, Any] | None = None,
    rep: str = "",
    transcribed_with: Mapping[str, Any] | None = None,
) -> bytes:
    """A Word document: the title as heading, one paragraph per turn with "[mm:ss] Speaker" in
    bold above the text, then a summary when analytics are given."""
    document = Document()
    clean_title = _clean(title)
    document.core_properties.title = clean_title
    # python-docx stamps its own name otherwise.
    document.core_properties.author = "callscribe"
    document.core_properties.last_modified_by = "callscribe"
    document.core_properties.comments = "Transcribed by callscribe"
    document.add_heading(clean_title or "Transcript", level=0)
    document.add_paragraph(f"Duration: {clock(duration)}")
    if rep:
        document.add_paragraph(f"Sales rep: {_clean(rep)}")
    for line in _model_line(transcribed_with):
        document.add_paragraph(line)
    for turn in _turns(segments):
        paragraph = document.add_paragraph()
        label = f"[{clock(turn.start)}] {turn.speaker}".rstrip()
        paragraph.add_run(label).bold = True
        paragraph.add_run().add_break()
        paragraph.add_run(turn.text)
    summary = summary_lines(analytics)
    if summary:
        document.add_heading("Summary", level=1)
        for line in summary:
            document.add_paragraph(line, style="List Bullet")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


class ExportFormat(NamedTuple):
    render: Callable[..., str | bytes]
    content_type: str
    extension: str


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "txt": ExportFormat(to_txt, "text/plain; charset=utf-8", "txt"),
    "srt": ExportFormat(to_srt, "application/x-subrip; charset=utf-8", "srt"),
    "vtt": ExportFormat(to_vtt, "text/vtt; charset=utf-8", "vtt"),
    "json": ExportFormat(to_json, "application/json; charset=utf-8", "json"),
    "docx": ExportFormat(
        to_docx,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
}


def render(
    fmt: str,
    segments: Iterable[SegmentLike],
    *,
    title: str,
    duration: float,
    analytics: Mapping[str, Any] | None = None,
    rep: str = "",
    transcribed_with: Mapping[str, Any] | None = None,
) -> bytes:
    """The export in format `fmt` (a key of EXPORT_FORMATS) as bytes, text encoded as UTF-8.
    Raises KeyError for an unknown format."""
    output = EXPORT_FORMATS[fmt].render(
        segments,
        title=title,
        duration=duration,
        analytics=analytics,
        rep=rep,
        transcribed_with=transcribed_with,
    )
    return output.encode("utf-8") if isinstance(output, str) else output


class _ZipSink(io.RawIOBase):
    """Where zipfile writes: bytes collected until the caller takes them, so a ZIP of any size
    streams out entry by entry without being held whole in memory."""

    def __init__(self) -> None:
        self.pending = bytearray()
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.pending += data
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        data, self.pending = bytes(self.pending), bytearray()
        return data


def zip_stream(entries: Iterable[tuple[str, bytes]]) -> Iterator[bytes]:
    """A ZIP archive of (name, content) entries, yielded piece by piece as it is written."""
    sink = _ZipSink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            archive.writestr(name, content)
            yield sink.take()
    yield sink.take()
