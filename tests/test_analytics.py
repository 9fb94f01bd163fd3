"""Call analytics on small hand-built transcripts whose right answers can be worked out by hand."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from transcripts.analytics import (
    FILLERS,
    analyse,
    attribute_heard,
    filler_counts,
    interruptions,
    longest_monologue,
    questions,
    silence,
    talk_time,
    tracker_hits,
    words_per_minute,
)


@dataclass
class Seg:
    start: float
    end: float
    text: str
    speaker: str = ""
    words: list[dict] = field(default_factory=list)


def timed(start: float, end: float, text: str, speaker: str = "", step: float = 1.0) -> Seg:
    """A segment with Whisper-style words (leading space, punctuation attached), `step` s apart."""
    words = [
        {
            "start": start + k * step,
            "end": start + (k + 1) * step,
            "word": f" {w}",
            "probability": 0.9,
        }
        for k, w in enumerate(text.split())
    ]
    return Seg(start, end, text, speaker, words)


def n_words(n: int) -> str:
    return " ".join(f"word{i}" for i in range(n))


# --- Talk time and silence --------------------------------------------------------------------


def test_talk_time_counts_overlapping_speech_for_each_speaker():
    call = [Seg(0, 10, "a", "Rep"), Seg(8, 12, "b", "Customer"), Seg(12, 20, "c", "Rep")]

    assert talk_time(call) == {"Rep": 18.0, "Customer": 4.0}


def test_talk_share_is_each_speakers_part_of_all_talk_time():
    call = [Seg(0, 10, "a", "Rep"), Seg(8, 12, "b", "Customer"), Seg(12, 20, "c", "Rep")]

    rep, customer = analyse(call, 30)["speakers"]

    assert (rep["talk_share"], customer["talk_share"]) == (0.8182, 0.1818)


def test_a_speakers_own_overlapping_segments_are_not_counted_twice():
    assert talk_time([Seg(0, 10, "a", "Rep"), Seg(9, 12, "b", "Rep")]) == {"Rep": 12.0}


def test_silence_share_is_the_part_of_the_call_when_nobody_speaks():
    call = [Seg(0, 10, "a", "Rep"), Seg(8, 12, "b", "Customer"), Seg(15, 21, "c", "Rep")]

    assert silence(call, 40) == {
        "speech_seconds": 18.0,
        "silence_seconds": 22.0,
        "silence_share": 0.55,
    }


def test_silence_uses_the_end_of_speech_when_the_duration_is_unknown():
    assert silence([Seg(2, 8, "a")], 0)["silence_share"] == 0.25


# --- Monologues -------------------------------------------------------------------------------


def test_a_monologue_carries_on_across_pauses_under_two_seconds():
    call = [Seg(0, 5, "a", "Rep"), Seg(6.5, 10, "b", "Rep"), Seg(11.9, 14, "c", "Rep")]

    assert longest_monologue(call, "Rep") == {
        "speaker": "Rep",
        "start": 0.0,
        "end": 14.0,
        "duration": 14.0,
    }


def test_a_pause_of_two_seconds_ends_a_monologue():
    call = [Seg(0, 5, "a", "Rep"), Seg(7, 10, "b", "Rep"), Seg(12, 20, "c", "Rep")]

    assert longest_monologue(call, "Rep") == {
        "speaker": "Rep",
        "start": 12.0,
        "end": 20.0,
        "duration": 8.0,
    }


def test_another_speakers_turn_ends_a_monologue_even_after_a_short_pause():
    call = [Seg(0, 5, "a", "Rep"), Seg(5.2, 5.8, "Right.", "Customer"), Seg(6, 12, "c", "Rep")]

    assert longest_monologue(call, "Rep")["duration"] == 6.0
    assert longest_monologue(call, "Customer")["duration"] == 0.6
    assert longest_monologue(call) == {"speaker": "Rep", "start": 6.0, "end": 12.0, "duration": 6.0}


def test_longest_monologue_is_none_without_speech():
    assert longest_monologue([]) is None
    assert longest_monologue([Seg(0, 1, "a", "Rep")], "Customer") is None


# --- Pace -------------------------------------------------------------------------------------


def test_words_per_minute_divides_words_by_the_speakers_talk_minutes():
    call = [
        Seg(0, 12, n_words(20), "Rep"),
        Seg(12, 30, n_words(10), "Customer"),
        Seg(30, 48, n_words(40), "Rep"),
    ]

    rep, customer = analyse(call, 60)["speakers"]

    assert (rep["word_count"], rep["talk_seconds"], rep["words_per_minute"]) == (60, 30.0, 120.0)
    assert (customer["word_count"], customer["words_per_minute"]) == (10, 33.3)


def test_punctuation_on_its_own_is_not_a_word():
    rep = analyse([Seg(0, 6, "Well - yes ...", "Rep")], 6)["speakers"][0]

    assert rep["word_count"] == 2
    assert rep["words_per_minute"] == 20.0


def test_words_per_minute_is_zero_without_talk_time():
    assert words_per_minute(5, 0.0) == 0.0


# --- Questions --------------------------------------------------------------------------------


def test_it_finds_questions_with_the_time_their_first_word_was_said():
    call = [
        timed(0, 10, "Thanks for your time. How is the quarter going? Great.", "Rep"),
        Seg(10, 12, "Good, and you?", "Customer"),
    ]

    assert questions(call) == [
        {"speaker": "Rep", "start": 4.0, "text": "How is the quarter going?", "segment": 0},
        {"speaker": "Customer", "start": 10.0, "text": "Good, and you?", "segment": 1},
    ]


def test_a_question_whisper_split_across_segments_counts_once():
    call = [Seg(12, 14, "Could we meet", "Rep"), Seg(14, 16, "next Tuesday?", "Rep")]

    assert questions(call) == [
        {"speaker": "Rep", "start": 12.0, "text": "Could we meet next Tuesday?", "segment": 0}
    ]


def test_an_unfinished_sentence_does_not_run_into_the_other_speakers_question():
    call = [Seg(0, 2, "So what I", "Rep"), Seg(2, 3, "Really?! Today?", "Customer")]

    found = questions(call)

    assert [q["text"] for q in found] == ["Really?!", "Today?"]
    assert {q["speaker"] for q in found} == {"Customer"}


def test_question_counts_are_per_speaker():
    call = [Seg(0, 2, "Ready? Yes?", "Rep"), Seg(2, 3, "Sure. Why?", "Customer")]

    result = analyse(call, 3)

    assert result["overall"]["question_count"] == 3
    assert [s["question_count"] for s in result["speakers"]] == [2, 1]


# --- Interruptions ----------------------------------------------------------------------------


def test_it_counts_interruptions_by_the_speaker_who_cuts_in():
    call = [
        Seg(0, 10, "a", "Rep"),
        Seg(8, 9, "Sorry, quick question?", "Customer"),  # cuts in at 8
        Seg(10, 20, "b", "Rep"),
        Seg(20, 25, "c", "Customer"),  # starts exactly as Rep stops: a clean turn
        Seg(24, 30, "d", "Rep"),  # cuts in at 24
        Seg(40, 42, "e", "Rep"),
        Seg(40, 41, "f", "Customer"),  # both start together: nobody cut in
    ]

    assert interruptions(call) == [
        {"speaker": "Customer", "interrupted": "Rep", "start": 8.0, "overlap": 1.0, "segment": 1},
        {"speaker": "Rep", "interrupted": "Customer", "start": 24.0, "overlap": 1.0, "segment": 4},
    ]
    rep, customer = analyse(call, 42)["speakers"]
    assert (rep["interruption_count"], rep["interrupted_count"]) == (1, 1)
    assert (customer["interruption_count"], customer["interrupted_count"]) == (1, 1)


def test_word_timings_overrule_padded_segment_bounds():
    call = [
        # Segments overlap, but Rep's last word ends at 7.5 before Customer's first at 7.8.
        timed(0, 10, "So that is the plan.", "Rep", step=1.5),
        Seg(7.0, 9.0, "Okay.", "Customer", [{"start": 7.8, "end": 8.3, "word": " Okay."}]),
        # Here the words do overlap: Customer starts at 15.6 while Rep talks until 15.9.
        Seg(12, 16, "Right.", "Rep", [{"start": 12.0, "end": 15.9, "word": " Right."}]),
        Seg(
            15.5,
            18,
            "But wait.",
            "Customer",
            [
                {"start": 15.6, "end": 16.0, "word": " But"},
                {"start": 16.0, "end": 17.0, "word": " wait."},
            ],
        ),
    ]

    assert interruptions(call) == [
        {"speaker": "Customer", "interrupted": "Rep", "start": 15.6, "overlap": 0.3, "segment": 3}
    ]


def test_unlabelled_speech_is_never_an_interruption():
    assert interruptions([Seg(0, 10, "a"), Seg(5, 6, "b"), Seg(7, 8, "c", "Rep")]) == []


# --- Fillers ----------------------------------------------------------------------------------


def test_it_counts_clear_filler_words_per_speaker():
    call = [
        Seg(0, 5, "Um, so, I mean, we could, UH, you know, maybe.", "Rep"),
        Seg(5, 9, "Umm... I like the umbrella, kind of. Hmmm. Er, like, sort of.", "Customer"),
    ]

    counts = filler_counts(call)

    assert {k: v for k, v in counts["Rep"].items() if v} == {
        "um": 1,
        "I mean": 1,
        "uh": 1,
        "you know": 1,
    }
    assert {k: v for k, v in counts["Customer"].items() if v} == {
        "um": 1,
        "hmm": 1,
        "er": 1,
        "kind of": 1,
        "sort of": 1,
    }


def test_filler_summaries_list_every_filler_and_a_total():
    call = [Seg(0, 5, "Um, uh, um.", "Rep"), Seg(5, 6, "Hmm.", "Customer")]

    result = analyse(call, 6)

    assert list(result["overall"]["fillers"]["counts"]) == list(FILLERS)
    assert result["overall"]["fillers"]["total"] == 4
    assert result["overall"]["fillers"]["counts"]["um"] == 2
    assert [s["fillers"]["total"] for s in result["speakers"]] == [3, 1]


# --- Trackers ---------------------------------------------------------------------------------

TRACKERS = {"Pricing": ["price increase", "discount"], "Competitors": ["Gong", "Chorus.ai"]}


def test_tracker_phrases_match_whole_words_case_insensitively_across_punctuation():
    call = [
        Seg(0, 5, "Is there a PRICE, increase next year? We use Gong.", "Customer"),
        Seg(5, 9, "Gongs and discounted prices are not hits; chorus AI is.", "Rep"),
    ]

    assert tracker_hits(call, TRACKERS) == [
        {
            "tracker": "Pricing",
            "phrase": "price increase",
            "speaker": "Customer",
            "start": 0.0,
            "segment": 0,
        },
        {
            "tracker": "Competitors",
            "phrase": "Gong",
            "speaker": "Customer",
            "start": 0.0,
            "segment": 0,
        },
        {
            "tracker": "Competitors",
            "phrase": "Chorus.ai",
            "speaker": "Rep",
            "start": 5.0,
            "segment": 1,
        },
    ]


def test_tracker_hits_carry_the_time_of_the_first_matched_word():
    call = [timed(100, 106, "Is there a PRICE, increase next year? We use Gong.", "Customer", 0.5)]

    assert [(h["phrase"], h["start"]) for h in tracker_hits(call, TRACKERS)] == [
        ("price increase", 101.5),
        ("Gong", 104.5),
    ]


def test_word_times_line_up_when_engines_split_or_strip_words_differently():
    split = Seg(
        0,
        3,
        "A 30-day trial.",
        "Rep",
        [
            {"start": 0.0, "end": 0.4, "word": " A"},
            {"start": 0.5, "end": 0.9, "word": " 30"},
            {"start": 0.9, "end": 1.3, "word": "-day"},
            {"start": 1.4, "end": 2.0, "word": " trial."},
        ],
    )
    # The OpenAI API gives words without spaces or punctuation.
    bare = Seg(
        10,
        13,
        "Sure, a discount!",
        "Customer",
        [
            {"start": 10.2, "end": 10.6, "word": "Sure"},
            {"start": 10.7, "end": 10.9, "word": "a"},
            {"start": 11.0, "end": 11.8, "word": "discount"},
        ],
    )

    hits = tracker_hits([split, bare], {"Trial": ["30 day trial"], "Pricing": ["discount"]})

    assert [(h["tracker"], h["start"]) for h in hits] == [("Trial", 0.5), ("Pricing", 11.0)]


def test_tracker_hits_fall_back_to_the_segment_start_when_the_text_was_edited():
    edited = timed(20, 25, "the price increase", "Rep", 0.5)
    edited.text = "the price rise and a discount"

    assert [h["start"] for h in tracker_hits([edited], TRACKERS)] == [20.0]


def test_the_longest_phrase_of_a_tracker_wins_and_is_counted_once():
    hits = tracker_hits(
        [Seg(0, 2, "The price increase.", "Rep")], {"P": ["price", "price increase"]}
    )

    assert [h["phrase"] for h in hits] == ["price increase"]


def test_tracker_counts_are_given_overall_and_per_speaker():
    call = [Seg(0, 5, "Any discount? Gong gives one.", "Customer"), Seg(5, 6, "Discount.", "Rep")]

    result = analyse(call, 6, TRACKERS)

    assert result["overall"]["tracker_counts"] == {"Pricing": 2, "Competitors": 1}
    assert [s["tracker_counts"] for s in result["speakers"]] == [
        {"Pricing": 1, "Competitors": 1},
        {"Pricing": 1, "Competitors": 0},
    ]


# --- Whole analysis ---------------------------------------------------------------------------


def test_unlabelled_transcripts_get_overall_figures_and_no_speaker_entries():
    call = [Seg(0, 10, n_words(20) + "?"), Seg(9, 11, "Um, yes."), Seg(11, 15, "Fine.")]

    result = analyse(call, 20)

    assert result["labelled"] is False
    assert result["speakers"] == []
    assert result["interruptions"] == []
    assert result["overall"]["longest_monologue"] == {
        "speaker": "",
        "start": 0.0,
        "end": 15.0,
        "duration": 15.0,
    }
    assert result["overall"]["word_count"] == 23
    assert result["overall"]["talk_seconds"] == 15.0
    assert result["overall"]["words_per_minute"] == 92.0
    assert result["overall"]["silence_share"] == 0.25
    assert result["overall"]["question_count"] == 1
    assert result["questions"][0]["speaker"] == ""
    assert result["overall"]["fillers"]["total"] == 1


def test_analyse_gives_the_same_json_serialisable_keys_for_any_transcript():
    full = analyse([Seg(0, 5, "Hi? Um.", "Rep"), Seg(4, 6, "Hello.", "Customer")], 6, TRACKERS)
    empty = analyse([], 0)

    assert json.loads(json.dumps(full)) == full
    assert (
        set(full)
        == set(empty)
        == {
            "duration",
            "labelled",
            "overall",
            "speakers",
            "questions",
            "interruptions",
            "tracker_hits",
        }
    )
    assert (
        set(full["overall"])
        == set(empty["overall"])
        == {
            "talk_seconds",
            "speech_seconds",
            "silence_seconds",
            "silence_share",
            "word_count",
            "words_per_minute",
            "longest_monologue",
            "question_count",
            "interruption_count",
            "fillers",
            "tracker_counts",
        }
    )
    assert set(full["speakers"][0]) == {
        "name",
        "talk_seconds",
        "talk_share",
        "word_count",
        "words_per_minute",
        "longest_monologue",
        "question_count",
        "interruption_count",
        "interrupted_count",
        "fillers",
        "tracker_counts",
    }
    assert empty["overall"]["longest_monologue"] is None
    assert empty["overall"]["silence_share"] == 0.0


def test_speakers_are_listed_in_order_of_first_appearance():
    call = [Seg(5, 6, "b", "Customer"), Seg(0, 1, "a", "Rep"), Seg(7, 8, "c", "Customer")]

    assert [s["name"] for s in analyse(call, 8)["speakers"]] == ["Customer", "Rep"]


# --- Heard speech given to the speakers told apart by voice ---------------------------------


def test_heard_speech_goes_to_the_speaker_whose_line_covers_it():
    lines = [(0.0, 2.0, "Dana"), (3.0, 5.0, "Sarah")]
    assert attribute_heard([(0.5, 1.5), (3.2, 4.0)], [lines]) == [
        ("Dana", 0.5, 1.5),
        ("Sarah", 3.2, 4.0),
    ]


def test_where_two_lines_overlap_both_speakers_talk():
    lines = [(0.0, 5.0, "Dana"), (4.0, 8.0, "Sarah")]
    pieces = attribute_heard([(3.0, 6.0)], [lines])
    assert sorted(pieces) == [
        ("Dana", 3.0, 4.0),
        ("Dana", 4.0, 5.0),
        ("Sarah", 4.0, 5.0),
        ("Sarah", 5.0, 6.0),
    ]


def test_the_lines_come_before_the_turns_and_the_turns_fill_the_gaps():
    # People moved the line at 3-5 s to Dana; the machine's turn still says Sarah there.
    lines = [(0.0, 2.0, "Dana"), (3.0, 5.0, "Dana")]
    turns = [(0.0, 2.5, "Dana"), (2.5, 6.0, "Sarah")]
    pieces = attribute_heard([(1.0, 6.0)], [lines, turns])
    assert pieces == [
        ("Dana", 1.0, 2.0),
        ("Dana", 2.0, 2.5),
        ("Sarah", 2.5, 3.0),
        ("Dana", 3.0, 5.0),
        ("Sarah", 5.0, 6.0),
    ]


def test_speech_nobody_covers_goes_to_the_nearest_speaker():
    lines = [(0.0, 2.0, "Dana"), (10.0, 12.0, "Sarah")]
    assert attribute_heard([(3.0, 4.0), (8.0, 9.0)], [lines]) == [
        ("Dana", 3.0, 4.0),
        ("Sarah", 8.0, 9.0),
    ]


def test_without_any_speaker_heard_speech_is_unlabelled():
    assert attribute_heard([(1.0, 2.0), (3.0, 3.0)], [[], []]) == [("", 1.0, 2.0)]


def test_talk_time_counts_each_second_heard_once_per_speaker():
    lines = [(0.0, 5.0, "Dana"), (4.0, 8.0, "Sarah")]
    heard = attribute_heard([(0.0, 8.0)], [lines])
    assert talk_time([], heard) == {"Dana": 5.0, "Sarah": 4.0}
