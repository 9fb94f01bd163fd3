"""Speech nobody could transcribe is shown as unheard, and talk time counts what the VAD heard."""

import re

from transcripts.analytics import analyse


def test_unheard_speech_is_drawn_on_the_timeline_and_counted(client_for, alice, dual_call):
    dual_call._update(None, unheard=[[24.0, 27.0, 1], [28.5, 29.5, 0]])
    page = client_for(alice).get(dual_call.get_absolute_url()).content.decode()
    row = re.search(r'<div class="timeline-row unheard-row".*?</svg>', page, re.S).group(0)
    bars = re.findall(r'<rect class="bar unheard" x="([\d.]+)"[^>]*data-start="([\d.]+)"', row)
    assert bars == [("800.00", "24.000"), ("950.00", "28.500")]
    assert "Speech heard but not transcribed (Customer), 0:24–0:27" in row
    assert '<dd id="unheard-count" class="unheard-note">2</dd>' in page
    assert "2 stretches of speech could not be transcribed" in page


def test_a_call_with_nothing_unheard_has_no_unheard_row(client_for, alice, dual_call):
    page = client_for(alice).get(dual_call.get_absolute_url()).content.decode()
    assert "unheard-row" not in page
    assert '<dd id="unheard-count" class="">0</dd>' in page


def test_silence_and_talk_time_count_speech_the_transcript_missed(dual_call):
    segments = list(dual_call.segments.all())
    by_words = analyse(segments, 30.0)["overall"]
    # The VAD heard the customer's lines, and the customer again from 28 s, where no line landed.
    heard = [("Customer", a, b) for a, b in ((3.5, 5.0), (9.5, 14.0), (19.5, 23.0), (28.0, 30.0))]
    result = analyse(segments, 30.0, heard=heard)
    assert result["overall"]["silence_seconds"] == by_words["silence_seconds"] - 2.0
    talk = {s["name"]: s["talk_seconds"] for s in result["speakers"]}
    assert talk["Customer"] == 11.5  # 9.5 s of lines and 2 s the transcript missed


def test_the_call_stores_what_the_engine_heard_and_forgets_it_on_resume(dual_call):
    dual_call._update(None, lease_owner="w1", status="processing")
    assert dual_call.record_heard(
        "w1", channel=0, speech=[(0.5, 3.0), (5.5, 9.0)], unheard=[(10.0, 13.0)]
    )
    assert not dual_call.record_heard("w2", channel=0, speech=[(20.0, 21.0)], unheard=[])
    dual_call.forget_heard_after(track=0, seconds=5.0)
    dual_call.refresh_from_db()
    assert dual_call.heard_speech == [[0.5, 3.0, 0]]
    assert dual_call.unheard == []


def test_a_resumed_run_keeps_what_was_heard_before_its_checkpoint_only(dual_call):
    # The first channel was done; the second was checkpointed 1 s in.
    dual_call._update(
        None,
        heard_speech=[[0.5, 3.0, 0], [6.0, 8.0, 0], [0.0, 0.8, 1], [1.0, 2.0, 1]],
        unheard=[[10.0, 13.0, 0], [1.5, 2.5, 1]],
        resume_track=1,
        resume_at=1.0,
        resume_segments=dual_call.segments.count(),
    )
    dual_call.forget_unfinished_window(dual=True)
    dual_call.refresh_from_db()
    assert dual_call.heard_speech == [[0.5, 3.0, 0], [6.0, 8.0, 0], [0.0, 0.8, 1]]
    assert dual_call.unheard == [[10.0, 13.0, 0]]
