"""Hostile and broken uploads: each gets a clear answer, and nothing else is lost."""

import struct
import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from transcripts.models import Call
from transcripts.speech import audio
from transcripts.tasks import transcribe_call

UPLOAD_URL = reverse("transcripts:call_upload")


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *map(str, args)], check=True)


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "photo.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1", path)
    renamed = tmp_path / "call.wav"
    renamed.write_bytes(path.read_bytes())
    return renamed


@pytest.fixture
def silent_video(tmp_path):
    path = tmp_path / "screen-recording.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x64:d=1", path)
    return path


@pytest.fixture
def hundred_hour_flac(tmp_path, speech_sample):
    """Five seconds of speech in a FLAC whose header claims 100 hours."""
    path = tmp_path / "liar.flac"
    ffmpeg("-i", speech_sample, "-t", "5", "-ar", "16000", "-ac", "1", path)
    data = bytearray(path.read_bytes())
    # STREAMINFO starts at byte 8; its bytes 10-17 end with the 36-bit total sample count.
    (packed,) = struct.unpack(">Q", data[18:26])
    claimed = 100 * 3600 * 16_000
    packed = (packed & ~((1 << 36) - 1)) | claimed
    data[18:26] = struct.pack(">Q", packed)
    path.write_bytes(bytes(data))
    return path


def post(client, name: str, content: bytes):
    return client.post(UPLOAD_URL, {"audio": SimpleUploadedFile(name, content)})


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("random.wav", bytes(range(256)) * 64, audio.NOT_AUDIO),
        ("empty.mp3", b"", audio.EMPTY_FILE),
        ("notes.mp3", b"Call Sarah back on Tuesday.\n" * 40, audio.NOT_AUDIO),
    ],
)
def test_it_refuses_files_that_are_not_recordings(client_for, alice, name, content, message):
    response = post(client_for(alice), name, content)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Call.objects.exists()


def test_it_refuses_a_picture_renamed_wav(client_for, alice, picture):
    response = post(client_for(alice), picture.name, picture.read_bytes())
    assert response.status_code == 400
    assert audio.NOT_AUDIO in response.content.decode()


def test_it_refuses_a_video_without_sound(client_for, alice, silent_video):
    response = post(client_for(alice), silent_video.name, silent_video.read_bytes())
    assert response.status_code == 400
    assert audio.NO_AUDIO_TRACK in response.content.decode()


def test_it_refuses_a_header_claiming_a_hundred_hours(client_for, alice, hundred_hour_flac):
    response = post(client_for(alice), "liar.flac", hundred_hour_flac.read_bytes())
    assert response.status_code == 400
    assert "100.0 hours long; the limit is 4 hours" in response.content.decode()


def test_a_lying_header_that_gets_through_costs_only_the_real_length(
    acme, make_call, hundred_hour_flac, settings
):
    settings.MAX_AUDIO_HOURS = 200
    call = make_call(acme, path=hundred_hour_flac)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert call.duration == pytest.approx(5.0, abs=0.1)


def test_a_truncated_mp3_is_transcribed_up_to_the_damage(acme, make_call, tmp_path, speech_sample):
    truncated = tmp_path / "cut.mp3"
    truncated.write_bytes(speech_sample.read_bytes()[:60_000])
    call = make_call(acme, path=truncated)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert 5 < call.duration < 15
    assert "Sarah" in call.transcript_text


def test_it_refuses_recordings_longer_than_the_limit(client_for, alice, speech_sample, settings):
    settings.MAX_AUDIO_HOURS = 0.005  # 18 s
    with speech_sample.open("rb") as handle:
        response = client_for(alice).post(UPLOAD_URL, {"audio": handle})
    assert response.status_code == 400
    assert "the limit is 0.005 hours" in response.content.decode()


def test_one_person_cannot_fill_the_queue(
    client_for, alice, acme, make_call, speech_sample, settings
):
    settings.MAX_QUEUED_CALLS_PER_USER = 2
    make_call(acme, alice)
    make_call(acme, alice)
    with speech_sample.open("rb") as handle:
        response = client_for(alice).post(UPLOAD_URL, {"audio": handle})
    assert response.status_code == 400
    assert "You already have 2 calls waiting" in response.content.decode()
    assert Call.objects.count() == 2


def test_an_oversized_upload_is_refused_from_its_declared_length(client_for, alice, settings):
    settings.MAX_UPLOAD_MB = 1
    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    response = client_for(alice).post(
        UPLOAD_URL,
        {"audio": SimpleUploadedFile("big.wav", b"\0" * (2 * 1024 * 1024))},
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 413
    assert "larger than the 1 MB upload limit" in response.content.decode()
    assert not Call.objects.exists()


def test_the_upload_handler_stops_a_body_past_the_limit_while_it_streams(rf, settings):
    """Behind a server that passes bodies without a length (ASGI, chunked), the handler counts."""
    from django.core.files.uploadhandler import StopUpload

    from transcripts.uploads import LimitedUploadHandler

    settings.MAX_UPLOAD_BYTES = 100_000
    request = rf.post(UPLOAD_URL)
    handler = LimitedUploadHandler(request)
    handler.handle_raw_input(None, request.META, None, b"x")
    handler.receive_data_chunk(b"\0" * 64_000, 0)
    with pytest.raises(StopUpload) as stopped:
        handler.receive_data_chunk(b"\0" * 64_000, 64_000)
    assert stopped.value.connection_reset
    assert request.upload_too_large
