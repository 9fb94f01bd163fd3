"""Honest confidence: words Whisper was unsure of are marked, and an edit keeps what it heard."""

import json
import re

from django.urls import reverse

from transcripts.confidence import LOW_PROBABILITY, marked_pieces

WORDS = [
    {"start": 3.5, "end": 3.9, "word": "Sure,", "probability": 0.95},
    {"start": 3.9, "end": 4.2, "word": "happy", "probability": 0.31},
    {"start": 4.2, "end": 4.4, "word": "to", "probability": 0.9},
    {"start": 4.4, "end": 5.0, "word": "talk.", "probability": 0.88},
]


def line_of(page: str, index: int) -> str:
    return re.search(rf'<li class="segment[^"]*" id="line-{index}".*?</li>', page, re.S).group(0)


def with_words(call, index: int = 1):
    segment = call.segments.get(index=index)
    segment.words = WORDS
    segment.save()
    return segment


def test_an_unsure_word_is_underlined_with_its_probability_on_hover(client_for, alice, dual_call):
    with_words(dual_call)
    page = client_for(alice).get(dual_call.get_absolute_url()).content.decode()
    line = line_of(page, 1)
    assert (
        '<span class="text">Sure, <span class="unsure" title="Whisper was 31% sure of this word">'
        "happy</span> to talk.</span>"
    ) in line
    # Sure words are not marked, and lines without word data are shown as they are.
    assert line.count('class="unsure"') == 1
    assert 'class="unsure"' not in line_of(page, 0)


def test_marks_keep_the_text_exactly_as_whisper_spelled_it():
    words = [
        {"word": "$50", "probability": 0.4},
        {"word": ",000", "probability": 0.3},
        {"word": "<b>", "probability": 0.9},
    ]
    pieces = marked_pieces("It is $50,000 <b> a year.", words)
    assert "".join(piece for piece, _ in pieces) == "It is $50,000 <b> a year."
    assert [piece for piece, p in pieces if p is not None] == ["$50", ",000"]
    assert all(p < LOW_PROBABILITY for _, p in pieces if p is not None)


def test_an_edited_line_keeps_whispers_words_and_text_and_is_shown_as_written(
    client_for, alice, dual_call
):
    with_words(dual_call)
    client = client_for(alice)
    url = reverse("transcripts:segment_edit", args=[dual_call.uuid, 1])
    client.post(url, {"text": "Sure, glad to talk."}, headers={"HX-Request": "true"})
    segment = dual_call.segments.get(index=1)
    assert segment.text == "Sure, glad to talk."
    assert segment.original_text == "Sure, happy to talk."
    assert segment.words == WORDS
    line = line_of(client.get(dual_call.get_absolute_url()).content.decode(), 1)
    # Whisper's doubts were about its own words: the person's correction is not marked.
    assert "unsure" not in line and "Sure, glad to talk." in line


def test_the_json_export_marks_unsure_words_and_edited_lines(client_for, alice, dual_call):
    with_words(dual_call)
    dual_call.segments.get(index=3).edit_text("We type them by hand.")
    url = reverse("transcripts:call_export", args=[dual_call.uuid, "json"])
    data = json.loads(client_for(alice).get(url).content)
    segments = data["segments"]
    assert [w["low_confidence"] for w in segments[1]["words"]] == [False, True, False, False]
    assert segments[3]["edited"] is True
    assert segments[3]["original_text"].startswith("We type them by hand, and the pricing")
    assert not any(s["edited"] for i, s in enumerate(segments) if i != 3)
