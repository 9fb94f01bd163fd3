"""Temporary files from uploads and workers are removed on success, failure and worker death."""

from __future__ import annotations

import os
import subprocess

import pytest
from django.urls import reverse

from transcripts import recordings
from transcripts.models import Call


@pytest.fixture
def upload_temp_dir(settings, tmp_path):
    folder = tmp_path / "uploads"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


@pytest.fixture(scope="module")
def large_recording(tmp_path_factory, speech_sample):
    """The speech sample as 44.1 kHz WAV: past the 2 MB that uploads may hold in memory."""
    path = tmp_path_factory.mktemp("large") / "large-call.wav"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(speech_sample), "-ar", "44100", str(path)],
        check=True,
    )
    assert path.stat().st_size > 2 * 1024 * 1024
    return path


def post(client, path):
    with path.open("rb") as handle:
        return client.post(reverse("transcripts:call_upload"), {"audio": handle})


def test_an_accepted_uploads_temporary_file_is_removed(
    client_for, alice, large_recording, upload_temp_dir
):
    assert post(client_for(alice), large_recording).status_code == 302
    assert Call.objects.count() == 1
    assert list(upload_temp_dir.iterdir()) == []


def test_a_refused_uploads_temporary_file_is_removed(client_for, alice, upload_temp_dir, tmp_path):
    junk = tmp_path / "notes.mp3"
    junk.write_bytes(os.urandom(3 * 1024 * 1024))
    assert post(client_for(alice), junk).status_code == 400
    assert Call.objects.count() == 0
    assert list(upload_temp_dir.iterdir()) == []


def test_a_starting_worker_removes_what_dead_workers_left(settings, tmp_path):
    settings.WORKER_TEMP_DIR = tmp_path / "workers"
    dead = subprocess.Popen(["true"])
    dead.wait()
    left_behind = settings.WORKER_TEMP_DIR / str(dead.pid) / "recording-x.mp3"
    left_behind.parent.mkdir(parents=True)
    left_behind.write_bytes(b"half a download")
    alive = settings.WORKER_TEMP_DIR / str(os.getppid())
    alive.mkdir()

    removed = recordings.clean_worker_temp_dirs()
    assert removed == [left_behind.parent]
    assert not left_behind.exists()
    assert alive.exists()
