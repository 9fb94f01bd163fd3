"""Voice prints: made from a recording a person uploads of themselves (read by a worker, then
deleted) or learned from their channel of dual-channel calls; seen and deleted only by them."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from django.core.files import File
from django.urls import reverse
from django_q.models import OrmQ

from bench.corpus import Voice
from tests.test_dual_channel import STEREO
from tests.voices import REP, STRANGER, reading
from transcripts import tasks
from transcripts.models import Call, VoiceEnrolment, VoicePrint
from transcripts.speech import audio

PAGE = reverse("transcripts:voice_print")
ENROL = reverse("transcripts:voice_enrol")
DELETE = reverse("transcripts:voice_print_delete")


@pytest.fixture(scope="session")
def recordings(tmp_path_factory):
    """A person talking (about 20 s), a stranger, and files that will not do."""
    folder = tmp_path_factory.mktemp("enrolment")
    rate = 16_000

    def wav(name: str, samples: np.ndarray):
        path = folder / name
        with wave.open(str(path), "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(rate)
            handle.writeframes((samples * 32767).astype("<i2").tobytes())
        return path

    noise = np.random.default_rng(7).normal(0, 0.003, rate * 30).astype(np.float32)
    return {
        "me": reading(folder / "me.wav", REP),
        # The rep of the stereo call (tests/fixtures/make_stereo_call.py).
        "stereo rep": reading(folder / "stereo-rep.wav", Voice("en-us", 165, 50)),
        "stranger": reading(folder / "stranger.wav", STRANGER),
        "a few words": reading(folder / "short.wav", REP, "Hello, it is me."),
        "room noise": wav("quiet.wav", noise),
        "three minutes": wav("long.wav", np.zeros(rate * 180, dtype=np.float32)),
    }


def enrol(client, path, name=None):
    with path.open("rb") as handle:
        return client.post(ENROL, {"audio": File(handle, name=name or path.name)})


def enrol_bytes(client, content: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(ENROL, {"audio": SimpleUploadedFile(name, content)})


def run_queued_enrolment() -> str:
    (queued,) = OrmQ.objects.all()
    task = queued.task
    assert task["func"] == "transcripts.tasks.enrol_voice"
    queued.delete()
    return tasks.enrol_voice(*task["args"])


def stored_files(settings) -> list:
    return [p for p in (settings.MEDIA_ROOT / "voice").rglob("*") if p.is_file()]


# --- Enrolment over HTTP --------------------------------------------------------------------


def test_the_page_says_there_is_no_voice_print_yet(client_for, bob):
    page = client_for(bob).get(PAGE).content.decode()
    assert "no voice print" in page
    assert 'id="nav-voice"' in page
    assert DELETE not in page


def test_a_recording_of_oneself_makes_a_voice_print_and_is_deleted(
    client_for, bob, recordings, settings, django_capture_on_commit_callbacks
):
    client = client_for(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = enrol(client, recordings["me"])
    assert response.status_code == 302 and response["Location"] == PAGE
    enrolment = VoiceEnrolment.objects.get(user=bob)
    assert enrolment.status == VoiceEnrolment.Status.QUEUED
    assert len(stored_files(settings)) == 1
    # Read by a worker, not in the request; the page says so meanwhile, and polls.
    assert not VoicePrint.objects.exists()
    page = client.get(PAGE).content.decode()
    assert "Reading your recording" in page and 'hx-trigger="every 2s"' in page

    with django_capture_on_commit_callbacks(execute=True):
        assert run_queued_enrolment() == "done"
    voice_print = VoicePrint.objects.get(user=bob)
    assert len(voice_print.vector) == 256
    assert np.linalg.norm(voice_print.as_array) == pytest.approx(1.0, abs=1e-3)
    assert 12 <= voice_print.seconds <= 30
    assert voice_print.calls == 0 and voice_print.enrolled_at is not None
    # Its pitch too (a man's speaking voice: about 85-180 Hz).
    assert 70 <= voice_print.pitch <= 200
    enrolment.refresh_from_db()
    assert enrolment.status == VoiceEnrolment.Status.DONE and enrolment.audio.name == ""
    assert stored_files(settings) == [], "the recording of a person's voice was kept"

    poll = client.get(PAGE, headers={"HX-Request": "true"})
    assert poll.status_code == 286  # nothing left to wait for
    page = client.get(PAGE).content.decode()
    assert "You have a voice print" in page and "your recording" in page
    assert DELETE in page


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("notes.mp3", b"Call Sarah back on Tuesday.\n" * 40, audio.NOT_AUDIO),
        ("empty.wav", b"", audio.EMPTY_FILE),
        ("page.wav", b"<!doctype html><script>alert(1)</script>" * 20, audio.NOT_AUDIO),
        ("list.mp3", b"#EXTM3U\nfile:///etc/passwd\n", audio.PLAYLIST),
    ],
)
def test_a_file_that_is_not_a_recording_is_refused_with_a_reason(
    client_for, bob, settings, name, content, message
):
    response = enrol_bytes(client_for(bob), content, name)
    assert response.status_code == 400
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert not VoiceEnrolment.objects.exists() and not OrmQ.objects.exists()


def test_a_recording_longer_than_two_minutes_is_refused(client_for, bob, recordings):
    response = enrol(client_for(bob), recordings["three minutes"])
    assert response.status_code == 400
    assert "keep it under 120 seconds" in response.content.decode()
    assert not VoiceEnrolment.objects.exists()


def test_a_file_too_large_is_refused(client_for, bob):
    content = b"RIFF" + b"\0" * (VoiceEnrolment.MAX_BYTES + 1)
    response = enrol_bytes(client_for(bob), content, "huge.wav")
    assert response.status_code == 400
    assert "larger than 25 MB" in response.content.decode()


@pytest.mark.parametrize("recording", ["a few words", "room noise"])
def test_a_recording_with_too_little_speech_says_so(
    client_for, bob, recordings, settings, recording, django_capture_on_commit_callbacks
):
    client = client_for(bob)
    with django_capture_on_commit_callbacks(execute=True):
        assert enrol(client, recordings[recording]).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        assert run_queued_enrolment() == "failed"
    assert not VoicePrint.objects.exists()
    assert stored_files(settings) == []
    page = client.get(PAGE).content.decode()
    assert "Your last recording could not be used: We heard" in page
    assert "of speech in this recording: record yourself talking for at least 10 seconds" in page


def test_the_worker_refuses_a_recording_longer_than_two_minutes(bob, recordings, settings):
    # A file whose header lied about its length gets past the upload's check: the worker
    # measures what it decodes, and stops a little past the limit.
    enrolment = VoiceEnrolment(user=bob)
    with recordings["three minutes"].open("rb") as handle:
        enrolment.audio.save("recording.wav", File(handle), save=True)
    assert tasks.enrol_voice(enrolment.pk) == "failed"
    enrolment.refresh_from_db()
    assert enrolment.message.startswith("This recording is longer than 120 seconds")
    assert not VoicePrint.objects.exists()


def test_one_recording_at_a_time(client_for, bob, recordings):
    client = client_for(bob)
    assert enrol(client, recordings["me"]).status_code == 302
    response = enrol(client, recordings["me"])
    assert response.status_code == 400
    assert "still being read" in response.content.decode()


# --- Only one's own --------------------------------------------------------------------------


@pytest.fixture
def alices_print(alice):
    vector = np.zeros(256, dtype=np.float32)
    vector[0] = 1.0
    return VoicePrint.learn(alice, vector, 42.0, from_call=True)


def test_nobody_sees_another_persons_voice_print(client_for, alices_print, bob, charlie, staff):
    for person in (bob, charlie, staff):
        page = client_for(person).get(PAGE).content.decode()
        assert "no voice print" in page and "42 s" not in page
    assert "42 s" in client_for(alices_print.user).get(PAGE).content.decode()


def test_nobody_deletes_another_persons_voice_print(client_for, alices_print, bob, charlie):
    for person in (bob, charlie):
        assert client_for(person).post(DELETE).status_code == 302
    assert VoicePrint.objects.filter(pk=alices_print.pk).exists()


def test_one_deletes_ones_own_voice_print(client_for, alices_print):
    client = client_for(alices_print.user)
    response = client.post(DELETE, follow=True)
    assert "Your voice print is deleted" in response.content.decode()
    assert not VoicePrint.objects.exists()


def test_a_recording_teaches_only_its_uploader(
    client_for, alice, bob, recordings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        enrol(client_for(bob), recordings["me"])
    assert run_queued_enrolment() == "done"
    assert list(VoicePrint.objects.values_list("user", flat=True)) == [bob.pk]


# --- Learned from dual-channel calls ---------------------------------------------------------


def test_a_dual_channel_call_teaches_its_rep_their_voice_and_is_not_diarized(
    acme, alice, make_call, recordings
):
    from transcripts.speech import diarization

    call = make_call(acme, alice, path=STEREO, rep=alice)
    assert tasks.transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert call.channel_layout == "dual" and call.voice_count is None
    assert set(call.segments.values_list("voice", flat=True)) == {None}

    learned = VoicePrint.objects.get(user=alice)
    assert learned.calls == 1 and learned.enrolled_at is None
    # The rep's channel (left) holds about 30 s of Dana's speech.
    assert 10 <= learned.seconds <= 30
    assert call.voice_print_seconds == pytest.approx(learned.seconds, abs=0.01)
    rep_alone = diarization.speech_pitch(audio.decode(recordings["stereo rep"]))
    assert diarization.semitones(learned.pitch, rep_alone) <= 1.0
    # What it learned is the rep's voice: it recognises a recording of them, not a stranger.
    me, _ = diarization.voice_print(audio.decode(recordings["stereo rep"]))
    stranger, _ = diarization.voice_print(audio.decode(recordings["stranger"]))
    print(
        f"learned print vs the rep's own recording {float(learned.as_array @ me):.3f}, "
        f"vs a stranger {float(learned.as_array @ stranger):.3f}"
    )
    assert float(learned.as_array @ me) >= diarization.REP_SIMILARITY
    assert float(learned.as_array @ stranger) < diarization.REP_SIMILARITY

    # A call teaches once: a worker that holds it again (a resumed run) adds nothing.
    Call.objects.filter(pk=call.pk).update(status=Call.Status.PROCESSING, lease_owner="again")
    call.refresh_from_db()
    assert not call.teach_rep_voice("again", me, 10.0, 300.0)
    assert VoicePrint.objects.get(user=alice).calls == 1
    assert VoicePrint.objects.get(user=alice).pitch == learned.pitch


def test_pitch_is_folded_into_a_print_weighted_by_seconds(alice):
    vector = np.eye(1, 256, dtype=np.float32)[0]
    # A print made before pitch was measured takes the first pitch it hears.
    made = VoicePrint.learn(alice, vector, 20.0, from_call=True)
    assert made.pitch is None
    assert VoicePrint.learn(alice, vector, 10.0, from_call=True, pitch=100.0).pitch == 100.0
    # 30 s at 100 Hz and 30 s at 200 Hz: an octave's middle on the semitone scale.
    learned = VoicePrint.learn(alice, vector, 30.0, from_call=False, pitch=200.0)
    assert learned.pitch == pytest.approx(141.4, abs=0.1)
    # Speech without a measured pitch leaves it.
    assert VoicePrint.learn(alice, vector, 10.0, from_call=True).pitch == learned.pitch
