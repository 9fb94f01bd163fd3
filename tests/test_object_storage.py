"""Recordings in an S3-compatible store (a real SeaweedFS): upload, worker, player, delete, move."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.workers import Cluster, wait_for
from transcripts import recordings
from transcripts.models import Call
from transcripts.speech.wer import word_error_rate

pytestmark = pytest.mark.objectstorage


def upload(client, path, **data):
    with path.open("rb") as handle:
        return client.post(reverse("transcripts:call_upload"), {"audio": handle, **data})


def test_an_upload_is_stored_in_the_bucket_and_not_on_disk(
    s3_recordings, client_for, alice, speech_sample, settings
):
    response = upload(client_for(alice), speech_sample)
    assert response.status_code == 302
    call = Call.objects.get()
    key = f"{s3_recordings.prefix}/{call.audio.name}"
    assert s3_recordings.keys() == [key]
    stored = s3_recordings.server.client().get_object(Bucket=s3_recordings.server.bucket, Key=key)
    assert stored["Body"].read() == speech_sample.read_bytes()
    assert not (settings.MEDIA_ROOT / "audio").exists()


def test_the_store_refuses_requests_not_signed_with_the_secret(s3_recordings, acme, make_call):
    import botocore.exceptions

    call = make_call(acme)
    wrong = s3_recordings.server.client(secret_key="not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        wrong.get_object(
            Bucket=s3_recordings.server.bucket, Key=f"{s3_recordings.prefix}/{call.audio.name}"
        )
    assert refused.value.response["Error"]["Code"] in {"SignatureDoesNotMatch", "AccessDenied"}


def audio_url(call) -> str:
    return reverse("transcripts:call_audio", args=[call.uuid])


def test_the_player_gets_ranges_from_the_bucket(
    s3_recordings, client_for, alice, acme, make_call, speech_sample
):
    call = make_call(acme, alice)
    content = speech_sample.read_bytes()
    client = client_for(alice)

    whole = client.get(audio_url(call))
    assert whole.status_code == 200
    assert whole["Content-Length"] == str(len(content))
    assert b"".join(whole.streaming_content) == content

    middle = client.get(audio_url(call), headers={"Range": "bytes=1000-70999"})
    assert middle.status_code == 206
    assert middle["Content-Range"] == f"bytes 1000-70999/{len(content)}"
    assert b"".join(middle.streaming_content) == content[1000:71000]

    suffix = client.get(audio_url(call), headers={"Range": "bytes=-500"})
    assert suffix.status_code == 206
    assert b"".join(suffix.streaming_content) == content[-500:]

    beyond = client.get(audio_url(call), headers={"Range": f"bytes={len(content)}-"})
    assert beyond.status_code == 416


def test_another_team_gets_404_for_audio_in_the_bucket(
    s3_recordings, client_for, charlie, acme, alice, make_call
):
    call = make_call(acme, alice)
    assert client_for(charlie).get(audio_url(call)).status_code == 404
    response = client_for(charlie).get(audio_url(call), headers={"Range": "bytes=0-99"})
    assert response.status_code == 404


def test_the_player_can_be_sent_to_a_short_lived_signed_url(
    s3_recordings, client_for, alice, speech_sample, settings
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.AUDIO_PRESIGNED_REDIRECT = True
    client = client_for(alice)
    # The browser's word for the type is stored with the object; it must not be what is served.
    lying = SimpleUploadedFile("call.mp3", speech_sample.read_bytes(), content_type="text/html")
    assert client.post(reverse("transcripts:call_upload"), {"audio": lying}).status_code == 302
    call = Call.objects.get()
    response = client.get(audio_url(call))
    assert response.status_code == 302
    location = response["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["300"]
    assert "X-Amz-Signature" in query
    with urlopen(location, timeout=10) as fetched:
        assert fetched.read() == speech_sample.read_bytes()
        assert fetched.headers["Content-Type"] == "audio/mpeg"
    # The object itself has no public URL.
    with pytest.raises(OSError):
        urlopen(location.split("?")[0], timeout=10)


def test_deleting_a_call_deletes_its_object_once_committed(
    s3_recordings, client_for, alice, acme, make_call, django_capture_on_commit_callbacks
):
    call = make_call(acme, alice)
    assert len(s3_recordings.keys()) == 1
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(alice).post(reverse("transcripts:call_delete", args=[call.uuid]))
        assert response.status_code == 302
        # Until the deletion is committed, the recording is still there.
        assert len(s3_recordings.keys()) == 1
    assert callbacks
    assert s3_recordings.keys() == []


def test_a_worker_copy_is_removed_however_the_block_ends(
    s3_recordings, acme, make_call, speech_sample, settings, tmp_path
):
    settings.WORKER_TEMP_DIR = tmp_path / "workers"
    call = make_call(acme)
    with call.recording_on_disk() as path:
        assert path.read_bytes() == speech_sample.read_bytes()
        assert path.parent == recordings.worker_temp_dir()
    assert not path.exists()
    with pytest.raises(RuntimeError), call.recording_on_disk() as path:
        raise RuntimeError("decoding failed")
    assert not path.exists()
    assert list(recordings.worker_temp_dir().iterdir()) == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_with_no_access_to_the_webs_disk_transcribes_an_upload(
    s3_recordings, client_for, alice, speech_sample, speech_script, settings, tmp_path
):
    assert upload(client_for(alice), speech_sample).status_code == 302
    call = Call.objects.get()
    # The cluster's machine: its own data directory, media folder and temporary folders.
    machine = tmp_path / "transcription-machine"
    cluster = Cluster(
        tmp_path / "qcluster.log",
        DATA_DIR=str(machine),
        MEDIA_ROOT=str(machine / "media"),
        WORKER_TEMP_DIR=str(machine / "workers"),
        TMPDIR=str(machine / "tmp"),
        SECRET_KEY=settings.SECRET_KEY,
        CALLSCRIBE_WORKER_TAG="machine-b",
        **s3_recordings.env,
    )
    (machine / "tmp").mkdir(parents=True)
    # What a worker killed mid-download on this machine left behind (no process has pid 0).
    left_behind = machine / "workers" / "0" / "recording-1234.mp3"
    left_behind.parent.mkdir(parents=True)
    left_behind.write_bytes(b"half a download")
    cluster.start()
    try:
        wait_for(
            lambda: Call.objects.get(pk=call.pk).is_finished,
            message=f"the call to be transcribed:\n{cluster.log()}",
        )
    finally:
        cluster.stop()
    call.refresh_from_db()
    assert call.status == Call.Status.DONE, call.error
    assert call.lease_owner.startswith("machine-b:")
    assert word_error_rate(speech_script, call.transcript_text) < 0.15
    # The recording was fetched into the worker's folder and removed once decoded; the
    # worker removed the dead worker's leftovers when it started.
    assert not (machine / "media").exists()
    assert [path for path in (machine / "workers").rglob("*") if path.is_file()] == []


def test_recordings_move_to_the_bucket_and_back(
    s3_recordings, acme, alice, make_call, settings, client_for, speech_sample, tmp_path
):
    # Recordings made on the local disk, before the switch.
    local = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    settings.RECORDINGS_STORAGE = "local"
    settings.STORAGES = {**settings.STORAGES, "default": local}
    calls = [make_call(acme, alice, title=f"Call {n}") for n in range(3)]
    names = sorted(call.audio.name for call in calls)
    disk = settings.MEDIA_ROOT
    assert all((disk / name).exists() for name in names)
    # An earlier run was stopped halfway through copying the first one.
    s3_recordings.server.client().put_object(
        Bucket=s3_recordings.server.bucket,
        Key=f"{s3_recordings.prefix}/{names[0]}",
        Body=b"partial",
    )

    call_command("move_recordings", "--to", "s3")
    assert sorted(s3_recordings.keys()) == [f"{s3_recordings.prefix}/{name}" for name in names]
    assert not any((disk / name).exists() for name in names)
    settings.RECORDINGS_STORAGE = "s3"
    settings.STORAGES = {**settings.STORAGES, "default": settings.RECORDINGS_BACKENDS["s3"]}
    response = client_for(alice).get(audio_url(calls[0]))
    assert b"".join(response.streaming_content) == speech_sample.read_bytes()

    # Safe to run again: nothing left to move, nothing lost.
    call_command("move_recordings", "--to", "s3")
    assert len(s3_recordings.keys()) == 3

    call_command("move_recordings", "--to", "local")
    assert s3_recordings.keys() == []
    assert all((disk / name).read_bytes() == speech_sample.read_bytes() for name in names)


def test_moving_says_which_recordings_are_lost(s3_recordings, acme, make_call, settings):
    call = make_call(acme)
    s3_recordings.server.client().delete_object(
        Bucket=s3_recordings.server.bucket, Key=f"{s3_recordings.prefix}/{call.audio.name}"
    )
    with pytest.raises(CommandError, match="1 recording"):
        call_command("move_recordings", "--to", "local")


def test_a_large_upload_goes_to_the_store_in_parts(
    s3_recordings, client_for, alice, speech_sample, tmp_path
):
    import subprocess

    # About 11 MB: past boto3's 8 MB multipart threshold, so the file is sent in pieces read
    # from the upload's temporary file, never held whole in memory.
    large = tmp_path / "long-call.wav"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-stream_loop", "1", "-i", str(speech_sample)]
        + ["-ar", "48000", "-ac", "2", str(large)],
        check=True,
    )
    assert large.stat().st_size > 9 * 1024 * 1024
    assert upload(client_for(alice), large).status_code == 302
    call = Call.objects.get()
    head = s3_recordings.server.client().head_object(
        Bucket=s3_recordings.server.bucket, Key=f"{s3_recordings.prefix}/{call.audio.name}"
    )
    assert head["ContentLength"] == large.stat().st_size
    # A multipart object's ETag ends in "-<number of parts>".
    assert head["ETag"].strip('"').rsplit("-", 1)[1] == "2"


@pytest.mark.django_db
def test_moving_without_a_bucket_says_what_to_set(settings):
    settings.S3_STORAGE_OPTIONS = {**settings.S3_STORAGE_OPTIONS, "bucket_name": ""}
    with pytest.raises(CommandError, match="Set S3_BUCKET"):
        call_command("move_recordings", "--to", "s3")
