"""Streaming a call's audio: only to its team, with Range requests for the player's seeking,
and never as anything a browser would run: a recording that is also a web page stays audio."""

import math
import struct
import subprocess
import wave
from pathlib import Path

import pytest
from django.core.files import File
from django.urls import reverse

from transcripts.models import Call


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


def test_a_range_of_thousands_of_digits_is_unsatisfiable_not_an_error(client_for, alice, call):
    digits = "9" * 5000
    client = client_for(alice)
    assert client.get(audio_url(call), headers={"Range": f"bytes={digits}-"}).status_code == 416
    # Past the end, an end or a suffix length means "to the end" and "all of it".
    whole = call.audio.size
    to_end = client.get(audio_url(call), headers={"Range": f"bytes=0-{digits}"})
    assert to_end.status_code == 206
    assert to_end["Content-Range"] == f"bytes 0-{whole - 1}/{whole}"
    everything = client.get(audio_url(call), headers={"Range": f"bytes=-{digits}"})
    assert everything["Content-Range"] == f"bytes 0-{whole - 1}/{whole}"


# --- Stored XSS: a recording that is also a web page -----------------------------------------

PAYLOAD = b"<script>fetch('/admin/auth/user/add/')</script><svg onload=alert(1)></svg>"
PAGE_TYPES = ("html", "svg", "xml", "javascript", "ecmascript", "xsl")


def wav_with_a_script(tmp_path, name: str) -> Path:
    """Two seconds of a valid 16 kHz WAV tone with a script appended: players and the upload
    probe read the WAV, a browser sniffing it or trusting its name would run the script."""
    path = tmp_path / name
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        tone = (int(8000 * math.sin(2 * math.pi * 440 * i / 16000)) for i in range(32000))
        out.writeframes(b"".join(struct.pack("<h", sample) for sample in tone))
    path.write_bytes(path.read_bytes() + PAYLOAD)
    return path


def assert_served_safely(response, expected_type: str) -> None:
    content_type = response["Content-Type"].lower()
    assert content_type == expected_type
    assert not any(kind in content_type for kind in PAGE_TYPES)
    assert response["X-Content-Type-Options"] == "nosniff"
    policy = [part.strip() for part in response["Content-Security-Policy"].split(";")]
    assert "sandbox" in policy
    assert "default-src 'none'" in policy


@pytest.mark.parametrize("suffix", [".html", ".htm", ".shtml", ".svg", ".xhtml", ".xml", ".js"])
def test_a_recording_named_as_a_web_page_is_stored_and_served_as_audio(
    client_for, bob, tmp_path, suffix
):
    client = client_for(bob)
    attack = wav_with_a_script(tmp_path, f"x{suffix}")
    with attack.open("rb") as handle:
        response = client.post(reverse("transcripts:call_upload"), {"audio": handle})
    assert response.status_code == 302
    call = Call.objects.get()
    assert call.audio.name.endswith(".wav")
    assert call.original_filename == f"x{suffix}"

    whole = client.get(audio_url(call))
    assert_served_safely(whole, "audio/wav")
    assert not whole.get("Content-Disposition", "").startswith("attachment")
    assert b"".join(whole.streaming_content) == attack.read_bytes()
    assert_served_safely(client.get(audio_url(call), headers={"Range": "bytes=0-99"}), "audio/wav")


def test_an_old_recording_stored_under_a_page_suffix_is_only_downloaded(
    client_for, alice, call, tmp_path
):
    # Before names were canonical, "x.html" kept its suffix in storage.
    attack = wav_with_a_script(tmp_path, "x.html")
    storage = call.audio.storage
    legacy = storage.save(
        f"audio/{call.uuid.hex[:2]}/{call.uuid.hex}.html", File(attack.open("rb"))
    )
    Call.objects.filter(pk=call.pk).update(audio=legacy)
    call.refresh_from_db()
    assert call.audio.name.endswith(".html")

    client = client_for(alice)
    whole = client.get(audio_url(call))
    assert_served_safely(whole, "application/octet-stream")
    assert whole["Content-Disposition"].startswith("attachment")
    part = client.get(audio_url(call), headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    assert_served_safely(part, "application/octet-stream")
    assert part["Content-Disposition"].startswith("attachment")


def test_the_media_policy_replaces_the_sites_on_the_audio(client_for, alice, call):
    response = client_for(alice).get(audio_url(call))
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"


def ffmpeg(tmp_path, name: str, *args: str) -> Path:
    path = tmp_path / name
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=2"]
        + [*args, str(path)],
        check=True,
    )
    return path


@pytest.mark.parametrize(
    "upload_name, ffmpeg_args, stored, served",
    [
        ("call.mp3", ["-c:a", "libmp3lame"], ".mp3", "audio/mpeg"),
        ("call.m4a", ["-c:a", "aac"], ".m4a", "audio/mp4"),
        ("call.ogg", ["-c:a", "libopus"], ".ogg", "audio/ogg"),
        ("call.webm", ["-c:a", "libopus"], ".webm", "audio/webm"),
        ("call.mkv", ["-c:a", "aac"], ".mka", "audio/x-matroska"),
        ("call.flac", ["-c:a", "flac"], ".flac", "audio/flac"),
        ("call.aac", ["-c:a", "aac", "-f", "adts"], ".aac", "audio/aac"),
    ],
)
def test_each_container_is_stored_under_its_own_extension(
    client_for, alice, tmp_path, upload_name, ffmpeg_args, stored, served
):
    source = ffmpeg(tmp_path, upload_name, *ffmpeg_args)
    # The uploaded name says nothing: what the file decodes as decides.
    disguised = source.rename(tmp_path / "recording.html")
    client = client_for(alice)
    with disguised.open("rb") as handle:
        assert client.post(reverse("transcripts:call_upload"), {"audio": handle}).status_code == 302
    call = Call.objects.get()
    assert call.audio.name.endswith(stored)
    assert_served_safely(client.get(audio_url(call)), served)
