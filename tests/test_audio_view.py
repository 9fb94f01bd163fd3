"""Streaming a call's audio: only to its team, with Range requests for the player's seeking."""

import pytest
from django.urls import reverse


@pytest.fixture
def call(acme, alice, make_call):
    return make_call(acme, alice)


def audio_url(call) -> str:
    return reverse("transcripts:call_audio", args=[call.uuid])


def test_it_streams_the_whole_file_with_its_type(client_for, alice, call, speech_sample):
    response = client_for(alice).get(audio_url(call))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/mpeg"
    assert response["Accept-Ranges"] == "bytes"
    assert b"".join(response.streaming_content) == speech_sample.read_bytes()


def test_it_answers_the_first_bytes(client_for, alice, call, speech_sample):
    response = client_for(alice).get(audio_url(call), headers={"Range": "bytes=0-99"})
    assert response.status_code == 206
    size = speech_sample.stat().st_size
    assert response["Content-Range"] == f"bytes 0-99/{size}"
    assert response["Content-Length"] == "100"
    assert b"".join(response.streaming_content) == speech_sample.read_bytes()[:100]


def test_it_answers_a_middle_range(client_for, alice, call, speech_sample):
    response = client_for(alice).get(audio_url(call), headers={"Range": "bytes=1000-70999"})
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == speech_sample.read_bytes()[1000:71000]


def test_it_answers_an_open_ended_and_a_suffix_range(client_for, alice, call, speech_sample):
    content = speech_sample.read_bytes()
    client = client_for(alice)
    tail = client.get(audio_url(call), headers={"Range": f"bytes={len(content) - 10}-"})
    assert b"".join(tail.streaming_content) == content[-10:]
    suffix = client.get(audio_url(call), headers={"Range": "bytes=-500"})
    assert b"".join(suffix.streaming_content) == content[-500:]


@pytest.mark.parametrize("header", ["bytes=999999999-", "bytes=50-10", "lines=0-5"])
def test_it_refuses_an_unsatisfiable_range(client_for, alice, call, speech_sample, header):
    response = client_for(alice).get(audio_url(call), headers={"Range": header})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{speech_sample.stat().st_size}"


def test_another_team_gets_404(client_for, charlie, call):
    assert client_for(charlie).get(audio_url(call)).status_code == 404


def test_audio_has_no_public_url(client_for, alice, call, settings):
    # Even a member of the call's team, logged in, finds nothing at the file's own path.
    assert settings.MEDIA_URL is None
    assert client_for(alice).get("/media/" + call.audio.name).status_code == 404
