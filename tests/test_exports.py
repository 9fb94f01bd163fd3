"""Exports are checked by reading them back: subtitles with a small parser, DOCX with python-docx,
JSON with json.loads."""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, dataclass, field

import docx
import pytest

from transcripts.analytics import analyse
from transcripts.confidence import LOW_PROBABILITY, is_low
from transcripts.exports import (
    EXPORT_FORMATS,
    render,
    summary_lines,
    to_docx,
    to_json,
    to_srt,
    to_txt,
    to_vtt,
)


@dataclass
class Seg:
    start: float
    end: float
    text: str
    speaker: str = ""
    words: list[dict] = field(default_factory=list)


@dataclass
class EditedSeg(Seg):
    original_text: str = ""


CALL = [
    Seg(
        0.0,
        4.2,
        "Hi Sarah, thanks for joining.",
        "Rep",
        [
            {"start": 0.1, "end": 0.5, "word": " Hi", "probability": 0.98},
            {"start": 0.5, "end": 1.0, "word": " Sarah,", "probability": 0.91},
            {"start": 1.2, "end": 1.8, "word": " thanks", "probability": 0.97},
            {"start": 1.8, "end": 2.0, "word": " for", "probability": 0.99},
            {"start": 2.0, "end": 2.6, "word": " joining.", "probability": 0.95},
        ],
    ),
    Seg(4.2, 7.0, "How is the quarter going?", "Rep"),
    Seg(6.5, 9.25, "Busy, but good. Is there a discount?", "Customer"),
    Seg(3725.5, 3730.004, "Yes: 10% <for> annual & monthly.", "Rep"),
]
TITLE = "Acme follow-up"
DURATION = 3731.0

SRT_TIME = r"(\d{2}):(\d{2}):(\d{2}),(\d{3})"
VTT_TIME = r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})"


def seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_cues(blocks: list[str], time_pattern: str, numbered: bool) -> list[tuple]:
    """(start, end, text) per cue; asserts every block is well formed."""
    timing = re.compile(rf"^{time_pattern} --> {time_pattern}$")
    cues = []
    for number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        if numbered:
            assert lines.pop(0) == str(number)
        match = timing.match(lines[0])
        assert match, f"bad timing line {lines[0]!r}"
        start, end = seconds(*match.groups()[:4]), seconds(*match.groups()[4:])
        assert lines[1:], "a cue needs text"
        cues.append((start, end, "\n".join(lines[1:])))
    return cues


def parse_srt(text: str) -> list[tuple]:
    return parse_cues(text.strip("\n").split("\n\n"), SRT_TIME, numbered=True)


def parse_vtt(text: str) -> tuple[str, list[tuple]]:
    header, *blocks = text.strip("\n").split("\n\n")
    return header, parse_cues(blocks, VTT_TIME, numbered=False)


def assert_valid_and_monotonic(cues: list[tuple]) -> None:
    assert all(start <= end for start, end, _ in cues)
    starts = [start for start, _, _ in cues]
    assert starts == sorted(starts)


# --- SRT --------------------------------------------------------------------------------------


def test_srt_cues_are_numbered_timed_in_order_and_name_the_speaker():
    cues = parse_srt(to_srt(CALL, title=TITLE, duration=DURATION, analytics=None))

    assert_valid_and_monotonic(cues)
    assert cues == [
        (0.0, 4.2, "Rep: Hi Sarah, thanks for joining."),
        (4.2, 7.0, "Rep: How is the quarter going?"),
        # 46 characters: two lines, as subtitles have at most 42 a line.
        (6.5, 9.25, "Customer: Busy, but good. Is there a\ndiscount?"),
        (3725.5, 3730.004, "Rep: Yes: 10% <for> annual & monthly."),
    ]


def test_srt_writes_hours_and_milliseconds_in_subrip_form():
    srt = to_srt(CALL, title=TITLE, duration=DURATION, analytics=None)

    assert "01:02:05,500 --> 01:02:10,004" in srt


def test_srt_sorts_cues_skips_empty_ones_and_keeps_each_cue_on_one_line():
    call = [Seg(5, 6, "Second\n\nline", "Rep"), Seg(1, 2, "   "), Seg(0, 1, "First")]

    srt = to_srt(call, title=TITLE, duration=6, analytics=None)

    assert parse_srt(srt) == [(0.0, 1.0, "First"), (5.0, 6.0, "Rep: Second line")]


def test_srt_never_writes_an_end_before_its_start():
    cues = parse_srt(to_srt([Seg(3.0, 2.5, "Odd.")], title=TITLE, duration=4, analytics=None))

    assert cues == [(3.0, 3.0, "Odd.")]


def test_srt_timestamps_round_up_into_the_next_second_cleanly():
    srt = to_srt([Seg(59.9996, 61, "x")], title=TITLE, duration=61, analytics=None)

    assert "00:01:00,000 --> 00:01:01,000" in srt


# --- VTT --------------------------------------------------------------------------------------


def test_vtt_has_a_header_and_voice_tags_with_valid_monotonic_timing():
    header, cues = parse_vtt(to_vtt(CALL, title=TITLE, duration=DURATION, analytics=None))

    assert header == "WEBVTT - Acme follow-up"
    assert_valid_and_monotonic(cues)
    assert [c[:2] for c in cues] == [(0.0, 4.2), (4.2, 7.0), (6.5, 9.25), (3725.5, 3730.004)]
    assert cues[2][2] == "<v Customer>Busy, but good. Is there a discount?"


def test_vtt_escapes_markup_characters_in_cue_text():
    _, cues = parse_vtt(to_vtt(CALL, title=TITLE, duration=DURATION, analytics=None))

    assert cues[3][2] == "<v Rep>Yes: 10% &lt;for&gt; annual &amp; monthly."


def test_vtt_without_speakers_or_title_is_plain_cues():
    vtt = to_vtt([Seg(0, 1.5, "Hello -->")], title="", duration=2, analytics=None)

    assert vtt == "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello --&gt;\n"


# --- TXT --------------------------------------------------------------------------------------


def test_txt_has_the_title_then_one_line_per_speaker_turn():
    assert to_txt(CALL, title=TITLE, duration=DURATION, analytics=None) == (
        "Acme follow-up\n"
        "Duration: 1:02:11\n"
        "\n"
        "[0:00] Rep: Hi Sarah, thanks for joining. How is the quarter going?\n"
        "[0:06] Customer: Busy, but good. Is there a discount?\n"
        "[1:02:05] Rep: Yes: 10% <for> annual & monthly.\n"
    )


def test_txt_of_an_unlabelled_transcript_has_one_line_per_segment():
    call = [Seg(0, 2, "One."), Seg(2, 4, "Two.")]

    lines = to_txt(call, title="T", duration=4, analytics=None).splitlines()

    assert lines[3:] == ["[0:00] One.", "[0:02] Two."]


def test_txt_ends_with_a_summary_when_analytics_are_given():
    analytics = analyse(CALL, DURATION, {"Pricing": ["discount"]})

    text = to_txt(CALL, title=TITLE, duration=DURATION, analytics=analytics)

    summary = text.split("\nSummary\n", 1)[1].splitlines()
    assert summary == summary_lines(analytics)
    assert summary[0].startswith("Talk time: Rep ")
    assert "Questions: 2 (Rep 1, Customer 1)" in summary
    assert "Trackers: Pricing 1" in summary


def test_summary_lines_tolerate_missing_or_partial_analytics():
    assert summary_lines(None) == []
    assert summary_lines({"overall": {"silence_share": 0.25}}) == ["Silence: 25%"]


# --- JSON -------------------------------------------------------------------------------------


def test_json_round_trips_the_transcript_and_analytics():
    analytics = analyse(CALL, DURATION, {"Pricing": ["discount"]})

    data = json.loads(to_json(CALL, title=TITLE, duration=DURATION, analytics=analytics))

    assert data == {
        "title": TITLE,
        "duration": DURATION,
        "rep": "",
        "low_confidence_below": LOW_PROBABILITY,
        "segments": [
            {
                **asdict(s),
                "edited": False,
                "words": [{**w, "low_confidence": is_low(w)} for w in s.words],
            }
            for s in CALL
        ],
        "speakers": ["Rep", "Customer"],
        "analytics": analytics,
    }


def test_json_marks_unsure_words_and_keeps_an_edited_lines_original_words():
    words = [
        {"start": 0.0, "end": 0.4, "word": "Call", "probability": 0.93},
        {"start": 0.4, "end": 0.9, "word": "Zentrix.", "probability": 0.21},
    ]
    heard = Seg(0.0, 0.9, "Call Zentrix.", words=words)
    edited = EditedSeg(1.0, 1.9, "Call Zentrix today.", words=words, original_text="Call Zentrix.")

    data = json.loads(to_json([heard, edited], title="T", duration=2))

    first, second = data["segments"]
    assert [w["low_confidence"] for w in first["words"]] == [False, True]
    assert first["edited"] is False and "original_text" not in first
    assert second["edited"] is True and second["words"] == []
    assert second["original_text"] == "Call Zentrix."
    assert [w["word"] for w in second["original_words"]] == ["Call", "Zentrix."]


def test_json_turns_word_objects_into_dicts():
    @dataclass(frozen=True)
    class Word:
        start: float
        end: float
        word: str
        probability: float | None = None

    seg = Seg(0, 1, "Hi.", "", [Word(0.1, 0.4, " Hi.", 0.5)])  # type: ignore[list-item]

    data = json.loads(to_json([seg], title="T", duration=1, analytics=None))

    assert data["segments"][0]["words"] == [
        {"start": 0.1, "end": 0.4, "word": " Hi.", "probability": 0.5, "low_confidence": False}
    ]
    assert data["speakers"] == []
    assert data["analytics"] is None


# --- DOCX -------------------------------------------------------------------------------------


def open_docx(data: bytes) -> docx.document.Document:
    return docx.Document(io.BytesIO(data))


def test_docx_opens_with_the_title_heading_and_a_paragraph_per_turn():
    document = open_docx(to_docx(CALL, title=TITLE, duration=DURATION, analytics=None))
    paragraphs = document.paragraphs

    assert paragraphs[0].text == TITLE
    assert paragraphs[0].style.name == "Title"
    assert document.core_properties.title == TITLE
    assert document.core_properties.author == "callscribe"
    turns = [p for p in paragraphs if p.runs and p.runs[0].bold]
    assert [p.runs[0].text for p in turns] == ["[0:00] Rep", "[0:06] Customer", "[1:02:05] Rep"]
    assert turns[0].text == "[0:00] Rep\nHi Sarah, thanks for joining. How is the quarter going?"
    assert turns[1].text.endswith("Busy, but good. Is there a discount?")


def test_docx_adds_a_summary_when_analytics_are_given():
    analytics = analyse(CALL, DURATION)

    document = open_docx(to_docx(CALL, title=TITLE, duration=DURATION, analytics=analytics))
    texts = [p.text for p in document.paragraphs]

    assert "Summary" in texts
    assert texts[texts.index("Summary") + 1 :] == summary_lines(analytics)


def test_docx_survives_characters_that_xml_forbids():
    call = [Seg(0, 1, "Bad\x00 \x0bchars", "Rep\x07")]

    document = open_docx(to_docx(call, title="T\x01", duration=1, analytics=None))

    assert document.paragraphs[-1].text == "[0:00] Rep\nBad chars"


# --- Formats table ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPORT_FORMATS))
def test_every_export_format_renders_to_bytes_with_its_own_extension(name):
    export = EXPORT_FORMATS[name]

    data = render(name, CALL, title=TITLE, duration=DURATION, analytics=analyse(CALL, DURATION))

    assert isinstance(data, bytes) and data
    assert export.extension == name
    assert export.content_type.split(";")[0] in {
        "text/plain",
        "application/x-subrip",
        "text/vtt",
        "application/json",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
    function, content_type, extension = export  # a view can unpack it as a plain tuple
    assert callable(function) and content_type and extension


def test_render_refuses_an_unknown_format():
    with pytest.raises(KeyError):
        render("pdf", CALL, title=TITLE, duration=DURATION)


LONG = Seg(
    10.0,
    40.0,
    "So what we usually see is that teams start with a pilot of ten seats, then after a month "
    "they look at the talk ratios and the tracker hits, and roll it out to everyone who sells.",
    "Rep",
)


@pytest.mark.parametrize("format", ["srt", "vtt"])
def test_subtitle_cues_have_two_lines_of_42_characters_at_most(format):
    if format == "srt":
        cues = parse_srt(to_srt([LONG], title=TITLE, duration=60))
    else:
        cues = parse_vtt(to_vtt([LONG], title=TITLE, duration=60))[1]
    assert len(cues) > 1
    for _, _, text in cues:
        shown = re.sub(r"<v [^>]+>", "", text).split("\n")
        assert len(shown) <= 2 and all(len(line) <= 42 for line in shown), shown
        if format == "srt":
            assert shown[0].startswith("Rep: ")
    # The cues share the line's time, in order, without gaps.
    assert cues[0][0] == 10.0 and cues[-1][1] == 40.0
    assert all(
        a[1] == pytest.approx(b[0], abs=0.002) for a, b in zip(cues[:-1], cues[1:], strict=True)
    )
    words = " ".join(re.sub(r"<v [^>]+>|Rep: ", "", text).replace("\n", " ") for *_, text in cues)
    assert words.split() == LONG.text.split()


@pytest.mark.parametrize("format", ["srt", "vtt"])
def test_cues_of_a_long_line_and_one_said_over_it_are_in_time_order(format):
    # The customer speaks up at 20 s, while the rep's long line (10-40 s) is split into cues.
    call = [LONG, Seg(20.0, 22.0, "Sorry, can I ask something?", "Customer")]
    if format == "srt":
        cues = parse_srt(to_srt(call, title=TITLE, duration=60))
    else:
        cues = parse_vtt(to_vtt(call, title=TITLE, duration=60))[1]
    assert_valid_and_monotonic(cues)
    assert sum("can I ask" in text for _, _, text in cues) == 1
