"""Speakers told apart by voice, fixed by hand: a line moved to another speaker, two speakers
merged, renamed, the rep's voice marked, the machine's labels restored; the analytics follow,
the machine's labels are kept, and the exports and the API say who said each line."""

import json
import re

import pytest
from django.urls import reverse

from transcripts import tasks
from transcripts.models import Call

# make_voiced_call's heard speech is each line shrunk by 0.1 s at both ends. Where two lines
# overlap (19.5-20 s) both speakers talk. VAD-based talk time, then, for voice 0 (the rep):
# 2.3 + 3.3 + 5.3 + 4.3 and the 0.1 s of the customer's heard span inside the rep's line;
# for voice 1: 1.3 + 4.3 + 3.3 and the 0.1 s of the rep's heard span inside the customer's.
REP_SECONDS, CUSTOMER_SECONDS = 15.3, 9.0


@pytest.fixture
def call(acme, alice, make_voiced_call):
    return make_voiced_call(acme, alice)


def htmx(client, method: str, url: str, data=None):
    return getattr(client, method)(url, data or {}, headers={"HX-Request": "true"})


def page_of(client, call) -> str:
    response = client.get(call.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def talk(call) -> dict[str, float]:
    return {s["name"]: s["talk_seconds"] for s in call.analytics["speakers"]}


def recompute(call) -> Call:
    """What the worker does after a fix (services.call_refresh_analytics_later)."""
    assert tasks.refresh_call_analytics(call.pk, force=True)
    call.refresh_from_db()
    return call


def test_each_voice_is_a_speaker_the_rep_by_name(client_for, alice, call):
    page = page_of(client_for(alice), call)
    assert re.search(r'class="segment rep[^"]*" id="line-0"', page)
    assert re.search(r'class="segment customer[^"]*" id="line-1"', page)
    assert '<span class="speaker">alice</span>' in page
    assert '<span class="speaker">Customer</span>' in page
    assert 'id="speaker-name-0"' in page and 'id="speaker-name-1"' in page
    assert 'id="rep-voice"' in page and 'id="merge-voices-form"' in page


def test_talk_time_is_what_was_heard_given_to_the_voices(call):
    # Not the lines' own times (16 s and 10 s): the speech VAD heard, given by the lines.
    assert talk(call) == pytest.approx({"alice": REP_SECONDS, "Customer": CUSTOMER_SECONDS})
    assert call.rep_talk_share == pytest.approx(
        REP_SECONDS / (REP_SECONDS + CUSTOMER_SECONDS), abs=1e-4
    )
    monologue = call.analytics["overall"]["longest_monologue"]
    assert monologue["speaker"] == "alice" and monologue["duration"] == pytest.approx(5.5)
    # The customer cuts in at 19.5 s, while the rep's line runs to 20 s.
    assert [(i["speaker"], i["interrupted"]) for i in call.analytics["interruptions"]] == [
        ("Customer", "alice")
    ]


def test_speech_heard_between_lines_goes_to_the_nearest_speaker(call):
    # Heard after the last line (the rep's, ending at 28 s): no line or turn covers it.
    call.heard_speech = [*call.heard_speech, [28.5, 29.5, None]]
    call.voice_turns = []
    call.save(update_fields=["heard_speech", "voice_turns"])
    call.refresh_analytics()
    assert talk(call)["alice"] == pytest.approx(REP_SECONDS + 1.0)


def test_a_line_moves_to_another_speaker(client_for, bob, call):
    # Any member of the team, as for a line's text: Bob did not upload the call.
    client = client_for(bob)
    url = reverse("transcripts:line_speaker", args=[call.uuid, 1])
    chooser = htmx(client, "get", url).content.decode()
    assert '<select name="voice" id="line-voice-1"' in chooser
    assert '<option value="1" selected>Customer</option>' in chooser
    assert "A new speaker" in chooser
    response = htmx(client, "post", url, {"voice": "0"})
    assert response.status_code == 200
    assert response["HX-Trigger"] == "analytics-changed"
    line = response.content.decode()
    assert 'class="segment rep moved"' in line
    assert 'title="Moved by a person: the machine heard Customer"' in line
    segment = call.segments.get(index=1)
    assert (segment.voice, segment.machine_voice, segment.speaker) == (0, 1, "alice")
    call.refresh_from_db()
    assert call.transcript_changed_at is not None and call.analytics_stale
    call = recompute(call)
    # The line's heard 1.3 s go to the rep.
    assert talk(call) == pytest.approx(
        {"alice": REP_SECONDS + 1.3, "Customer": CUSTOMER_SECONDS - 1.3}
    )
    assert call.rep_talk_share == pytest.approx(
        (REP_SECONDS + 1.3) / (REP_SECONDS + CUSTOMER_SECONDS), abs=1e-4
    )


def test_the_analytics_are_recomputed_by_a_worker_after_a_fix(
    client_for, alice, call, django_capture_on_commit_callbacks
):
    from django_q.models import OrmQ

    with django_capture_on_commit_callbacks(execute=True):
        htmx(
            client_for(alice),
            "post",
            reverse("transcripts:line_speaker", args=[call.uuid, 1]),
            {"voice": "0"},
        )
    queued = [task.task for task in OrmQ.objects.all()]
    assert any(
        t["func"] == "transcripts.tasks.refresh_call_analytics" and t["args"] == (call.pk,)
        for t in queued
    )


def test_a_line_can_go_to_a_new_speaker(client_for, alice, call):
    url = reverse("transcripts:line_speaker", args=[call.uuid, 5])
    response = htmx(client_for(alice), "post", url, {"voice": "2"})
    # The others are renamed and the panel has one more speaker: the page is drawn again.
    assert response["HX-Refresh"] == "true"
    call.refresh_from_db()
    assert call.voice_count == 3
    # With two customers, each has a number.
    speakers = dict(call.segments.values_list("index", "speaker"))
    assert (speakers[1], speakers[5], speakers[0]) == ("Customer 1", "Customer 2", "alice")


@pytest.mark.parametrize("voice", ["3", "-1", "x", ""])
def test_a_line_cannot_go_to_a_voice_the_call_does_not_have(client_for, alice, call, voice):
    url = reverse("transcripts:line_speaker", args=[call.uuid, 1])
    response = htmx(client_for(alice), "post", url, {"voice": voice})
    assert response.status_code == 200  # the form again, with its error, for htmx to show
    assert 'class="error"' in response.content.decode()
    assert call.segments.get(index=1).voice == 1
    # Without htmx the form page says what is wrong.
    assert client_for(alice).post(url, {"voice": voice}).status_code == 400


def test_a_call_without_voices_has_nothing_to_move(client_for, alice, dual_call):
    url = reverse("transcripts:line_speaker", args=[dual_call.uuid, 1])
    assert client_for(alice).get(url).status_code == 404
    assert 'class="move-line"' not in page_of(client_for(alice), dual_call)


def test_a_voiced_call_has_no_channels_to_swap(client_for, alice, call):
    url = reverse("transcripts:call_swap_speakers", args=[call.uuid])
    response = client_for(alice).post(url, follow=True)
    assert (
        "Only the two channels of a dual-channel call can be swapped" in response.content.decode()
    )
    assert call.segments.get(index=0).speaker == "alice"


def test_two_speakers_merge(client_for, alice, acme, make_voiced_call):
    three = [(0, 0.5, 3.0, "Hello both."), (1, 3.5, 5.0, "Hi."), (2, 5.5, 8.0, "Hello there.")]
    call = make_voiced_call(acme, alice, lines=three, voice_count=3)
    assert list(call.segments.values_list("speaker", flat=True)) == [
        "alice",
        "Customer 1",
        "Customer 2",
    ]
    client_for(alice).post(
        reverse("transcripts:call_merge_voices", args=[call.uuid]), {"source": "2", "target": "1"}
    )
    assert list(call.segments.values_list("voice", "machine_voice", "speaker")) == [
        (0, 0, "alice"),
        (1, 1, "Customer 1"),
        (1, 2, "Customer 1"),
    ]
    call = recompute(call)
    assert [s["name"] for s in call.analytics["speakers"]] == ["alice", "Customer 1"]


def test_a_speaker_cannot_merge_with_itself(client_for, alice, call):
    client = client_for(alice)
    url = reverse("transcripts:call_merge_voices", args=[call.uuid])
    response = client.post(url, {"source": "1", "target": "1"}, follow=True)
    assert "Choose two different speakers to merge." in response.content.decode()
    assert list(call.segments.values_list("voice", flat=True)) == [0, 1, 0, 1, 0, 1, 0]


def test_speakers_are_renamed_by_voice(client_for, alice, call):
    client = client_for(alice)
    url = reverse("transcripts:call_speakers", args=[call.uuid])
    client.post(url, {"voice_0": "Alice Smith", "voice_1": "Sarah Lee"})
    call.refresh_from_db()
    assert call.speaker_names == {"0": "Alice Smith", "1": "Sarah Lee"}
    assert call.segments.get(index=1).speaker == "Sarah Lee"
    assert [s["name"] for s in call.analytics["speakers"]] == ["Alice Smith", "Sarah Lee"]
    # The same name twice is refused; a blank name goes back to the default.
    response = client.post(url, {"voice_0": "Sam", "voice_1": "sam"}, follow=True)
    assert "The two speakers need different names." in response.content.decode()
    client.post(url, {"voice_0": "", "voice_1": "Sarah Lee"})
    call.refresh_from_db()
    assert call.speaker_names == {"1": "Sarah Lee"}
    assert call.segments.get(index=0).speaker == "alice"


def test_the_reps_voice_is_marked_by_hand(client_for, bob, call):
    url = reverse("transcripts:call_rep_voice", args=[call.uuid])
    client = client_for(bob)
    client.post(url, {"voice": "1"})
    call.refresh_from_db()
    assert call.rep_voice == 1
    assert list(call.segments.values_list("speaker", flat=True))[:2] == ["Customer", "alice"]
    call = recompute(call)
    assert call.rep_talk_share == pytest.approx(
        CUSTOMER_SECONDS / (REP_SECONDS + CUSTOMER_SECONDS), abs=1e-4
    )
    # Nobody: the rep does not speak on this call, so it has no rep share.
    client.post(url, {"voice": ""})
    call.refresh_from_db()
    assert call.rep_voice is None
    assert list(call.segments.values_list("speaker", flat=True))[:2] == ["Speaker 1", "Speaker 2"]
    call = recompute(call)
    assert call.rep_talk_share is None


def test_the_machines_labels_come_back(client_for, alice, call):
    client = client_for(alice)
    move = reverse("transcripts:line_speaker", args=[call.uuid, 1])
    client.post(move, {"voice": "0"})
    client.post(reverse("transcripts:line_speaker", args=[call.uuid, 3]), {"voice": "2"})
    call.refresh_from_db()
    assert call.voice_count == 3 and call.moved_line_count() == 2
    client.post(reverse("transcripts:call_restore_voices", args=[call.uuid]))
    call.refresh_from_db()
    assert call.voice_count == 2 and call.moved_line_count() == 0
    assert list(call.segments.values_list("voice", flat=True)) == [0, 1, 0, 1, 0, 1, 0]
    assert call.segments.get(index=1).speaker == "Customer"
    call = recompute(call)
    assert talk(call) == pytest.approx({"alice": REP_SECONDS, "Customer": CUSTOMER_SECONDS})


def test_transcribing_again_warns_that_moved_lines_are_lost(client_for, alice, call):
    client = client_for(alice)
    client.post(reverse("transcripts:line_speaker", args=[call.uuid, 1]), {"voice": "0"})
    page = client.get(reverse("transcripts:call_retranscribe_confirm", args=[call.uuid]))
    assert 'id="loses-moved-lines"' in page.content.decode()


def test_an_outsider_fixes_nothing(client_for, charlie, call):
    client = client_for(charlie)
    urls = [
        reverse("transcripts:line_speaker", args=[call.uuid, 1]),
        reverse("transcripts:call_merge_voices", args=[call.uuid]),
        reverse("transcripts:call_rep_voice", args=[call.uuid]),
        reverse("transcripts:call_restore_voices", args=[call.uuid]),
    ]
    for url in urls:
        assert client.post(url, {"voice": "0", "source": "1", "target": "0"}).status_code == 404
    assert list(call.segments.values_list("voice", flat=True)) == [0, 1, 0, 1, 0, 1, 0]
    call.refresh_from_db()
    assert call.rep_voice == 0


# --- Exports and the API say who said each line ------------------------------------------


def export(client, call, format: str):
    response = client.get(reverse("transcripts:call_export", args=[call.uuid, format]))
    assert response.status_code == 200
    return response.content


def test_every_export_names_each_lines_speaker(client_for, alice, call):
    client = client_for(alice)
    client.post(reverse("transcripts:line_speaker", args=[call.uuid, 1]), {"voice": "0"})
    call = recompute(call)
    data = json.loads(export(client, call, "json"))
    assert data["rep"] == "alice"
    first, second = data["segments"][:2]
    assert (first["speaker"], first["voice"], first["machine_voice"]) == ("alice", 0, 0)
    assert (second["speaker"], second["voice"], second["machine_voice"]) == ("alice", 0, 1)
    assert data["speakers"] == ["alice", "Customer"]
    txt = export(client, call, "txt").decode()
    assert "Sales rep: alice" in txt
    assert "[0:00] alice: Hi Sarah, thanks for taking my call. Sure, happy to talk." in txt
    assert "[0:09] Customer: We type them by hand" in txt
    assert "alice: Sure, happy to talk." in export(client, call, "srt").decode()
    assert "<v Customer>We type them" in export(client, call, "vtt").decode()


def test_a_dual_channel_export_has_no_voices(client_for, alice, dual_call):
    data = json.loads(export(client_for(alice), dual_call, "json"))
    assert "voice" not in data["segments"][0]
    assert data["segments"][0]["speaker"] == "Rep"


def test_the_apis_transcript_gives_each_segment_its_speaker(client, alice, call):
    from tests.api_helpers import bearer

    headers = bearer(alice)
    call.move_line(call.segments.get(index=1), 0)
    body = client.get(f"/api/v1/calls/{call.uuid}/transcript/", **headers).json()
    assert body["has_speakers"] is True and body["rep"] == "alice"
    assert body["voices"] == [
        {"voice": 0, "name": "alice", "is_rep": True},
        {"voice": 1, "name": "Customer", "is_rep": False},
    ]
    segments = body["segments"]
    assert [(s["speaker"], s["voice"], s["machine_voice"]) for s in segments[:2]] == [
        ("alice", 0, 0),
        ("alice", 0, 1),
    ]
    detail = client.get(f"/api/v1/calls/{call.uuid}/", **headers).json()
    assert (detail["rep"], detail["voice_count"], detail["rep_voice"]) == ("alice", 2, 0)


def test_the_api_renames_voices_by_number(client, alice, call):
    from tests.api_helpers import bearer

    url = f"/api/v1/calls/{call.uuid}/"
    headers = bearer(alice)
    response = client.patch(
        url, {"speaker_names": {"1": "Sarah"}}, content_type="application/json", **headers
    )
    assert response.status_code == 200, response.content
    assert call.segments.get(index=1).speaker == "Sarah"
    response = client.patch(
        url, {"speaker_names": {"Rep": "Dana"}}, content_type="application/json", **headers
    )
    assert response.status_code == 400
    assert "voices 0, 1" in response.content.decode()
