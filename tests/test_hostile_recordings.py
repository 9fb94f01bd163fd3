"""Recordings built to attack the decoder (issue 9, findings 2, 3 and 5): playlists that hang
workers or read other teams' files, and files that ask FFmpeg for gigabytes. Each test makes
the attack's file and performs the attack."""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from tests.workers import (
    ROOT,
    Cluster,
    WebServer,
    peak_rss_mb,
    session_cookie_for,
    wait_for,
)
from tests.workers import (
    test_database_url as database_url,
)
from transcripts import media, services
from transcripts.models import Call, ClusterHeartbeat
from transcripts.speech import audio
from transcripts.speech.base import TranscriptionError
from transcripts.tasks import reap_if_overdue, transcribe_call

UPLOAD_URL = reverse("transcripts:call_upload")
WEB_WORKER_LIMIT_MB = 300
TRANSCRIPTION_WORKER_LIMIT_MB = 1500


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *map(str, args)], check=True)


def hls_playlist(target: str) -> bytes:
    """The attack's playlist: a live stream (no #EXT-X-ENDLIST) whose one segment is `target`
    and whose next one is due in 100,000 s, so FFmpeg waits for it."""
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:100000\n#EXTINF:14000,\n{target}\n".encode()


def concat_list(target: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{target}'\n".encode()


def post(client, name: str, content: bytes):
    return client.post(UPLOAD_URL, {"audio": SimpleUploadedFile(name, content)})


@pytest.fixture
def other_teams_recording(globex, charlie, make_call) -> Path:
    """Globex's call (the speech sample: "Hi Sarah..."), stored where the media files live."""
    return Path(make_call(globex, charlie, title="Globex secrets").audio.path)


# --- Playlists and lists of files (findings 2 and 3) ------------------------------------------


@pytest.mark.parametrize("make_list", [hls_playlist, concat_list], ids=["hls", "concat"])
def test_it_refuses_a_playlist_at_upload_with_a_clear_message(
    client_for, alice, speech_sample, make_list
):
    playlist = make_list(str(speech_sample))
    response = post(client_for(alice), "call.mp3", playlist)
    assert response.status_code == 400
    assert audio.PLAYLIST in response.content.decode()
    assert not Call.objects.exists()


def test_the_165_byte_hls_attack_is_refused_at_upload(client_for, alice, tmp_path):
    # The segment is a real recording; its name is padded to make the attack's 165 bytes.
    padding = 165 - len(hls_playlist(str(tmp_path / "s.ts")))
    segment = tmp_path / ("s" + "0" * max(0, padding) + ".ts")
    ffmpeg("-f", "lavfi", "-i", "sine=d=2", "-c:a", "aac", segment)
    playlist = hls_playlist(str(segment))
    response = post(client_for(alice), "call.m3u8", playlist)
    assert response.status_code == 400
    assert audio.PLAYLIST in response.content.decode()


@pytest.mark.parametrize("make_list", [hls_playlist, concat_list], ids=["hls", "concat"])
def test_the_worker_fails_a_playlist_forced_into_the_queue(
    acme, alice, make_call, tmp_path, speech_sample, make_list
):
    path = tmp_path / "call.mp3"
    path.write_bytes(make_list(str(speech_sample)))
    call = make_call(acme, alice, path=path)
    assert transcribe_call(call.pk) == Call.Status.FAILED
    call.refresh_from_db()
    assert call.error == audio.PLAYLIST
    assert not call.segments.exists()


@pytest.mark.parametrize(
    "make_list, address",
    [
        (hls_playlist, "{path}"),
        (hls_playlist, "file:{path}"),
        (hls_playlist, "file://{path}"),
        (concat_list, "{path}"),
    ],
    ids=["hls-path", "hls-file-url", "hls-file-uri", "concat-path"],
)
def test_a_playlist_naming_another_teams_recording_never_reads_it(
    client_for, alice, acme, make_call, tmp_path, other_teams_recording, make_list, address
):
    playlist = make_list(address.format(path=other_teams_recording))
    response = post(client_for(alice), "call.mp3", playlist)
    assert response.status_code == 400
    assert audio.PLAYLIST in response.content.decode()

    # Forced past the upload's check, the worker reads nothing of Globex's file either.
    path = tmp_path / "call.mp3"
    path.write_bytes(playlist)
    call = make_call(acme, alice, path=path)
    assert transcribe_call(call.pk) == Call.Status.FAILED
    call.refresh_from_db()
    assert call.error == audio.PLAYLIST
    assert call.transcript_text == ""
    assert call.duration is None
    with pytest.raises(TranscriptionError, match=audio.PLAYLIST):
        audio.decode(path)


def test_it_still_reads_every_format_people_upload(tmp_path, speech_sample):
    for name, codec in [
        ("call.wav", "pcm_s16le"),
        ("call.flac", "flac"),
        ("call.m4a", "aac"),
        ("call.mp4", "aac"),
        ("call.3gp", "aac"),
        ("call.ogg", "libvorbis"),
        ("call.opus", "libopus"),
        ("call.webm", "libopus"),
        ("call.mkv", "libopus"),
        ("call.aac", "aac"),
    ]:
        path = tmp_path / name
        ffmpeg("-i", speech_sample, "-t", "3", "-ar", "16000", "-c:a", codec, path)
        samples = audio.decode(path)
        assert 2.9 < len(samples) / 16_000 < 3.2, name


def test_every_format_a_recording_is_opened_with_has_the_extension_it_is_stored_under():
    assert set(media.CONTAINER_EXTENSIONS) == set(audio.ALLOWED_FORMATS)


# --- Too many streams, giant frames, hours of silence (finding 5) -----------------------------


def test_it_refuses_a_file_with_many_streams(client_for, alice, tmp_path, speech_sample):
    path = tmp_path / "six-videos.mkv"
    maps = [arg for _ in range(6) for arg in ("-map", "0:v")]
    ffmpeg(
        *("-f", "lavfi", "-i", "color=c=red:s=16x16:d=1", "-i", speech_sample),
        *maps,
        *("-map", "1:a", "-t", "1", "-c:v", "ffv1", path),
    )
    response = post(client_for(alice), path.name, path.read_bytes())
    assert response.status_code == 400
    assert "This file has 7 tracks; we accept recordings with at most 4" in (
        response.content.decode()
    )


def png_of(width: int, height: int) -> bytes:
    """A black RGB picture, compressed to almost nothing; decoded, width x height x 3 bytes."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def giant_frame_mkv(tmp_path_factory, speech_sample) -> Path:
    """The speech sample with one 16000x16000 video frame (768 MB decoded) in an 0.8 MB MKV."""
    folder = tmp_path_factory.mktemp("bomb")
    picture = folder / "frame.png"
    picture.write_bytes(png_of(16_000, 16_000))
    path = folder / "giant-frame.mkv"
    ffmpeg("-i", picture, "-i", speech_sample, "-map", "0", "-map", "1", "-c", "copy", path)
    return path


@pytest.fixture(scope="module")
def four_hours_of_stereo_silence(tmp_path_factory) -> Path:
    """3.95 hours of stereo silence, under the 4-hour limit: a FLAC of a few dozen KB that
    decodes to 1.8 GB of float32 at 16 kHz if both channels are held."""
    path = tmp_path_factory.mktemp("bomb") / "silence.flac"
    ffmpeg(
        *("-f", "lavfi", "-i", "anullsrc=r=8000:cl=stereo", "-t", 3.95 * 3600),
        *("-c:a", "flac", "-frame_size", "65535", path),
    )
    return path


def run_measured(script: str, *args, **env) -> dict:
    """Run `script` in a fresh Python with Django set up on the test database; its JSON.

    `peaks()` gives the process's own peak (VmHWM, which starts again at exec, unlike
    ru_maxrss, which keeps the peak of the process it was forked from) and its children's (an
    upper bound: it counts what they inherited at fork)."""
    prelude = (
        "import json, resource, sys, django\n"
        "django.setup()\n"
        "def peaks():\n"
        "    status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "    return {\n"
        "        'self_mb': int(status) / 1024,\n"
        "        'child_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,\n"
        "    }\n"
    )
    from django.conf import settings

    result = subprocess.run(
        [sys.executable, "-c", prelude + script, *map(str, args)],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "callscribe.settings",
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


PROBE_AS_THE_UPLOAD_DOES = """
from pathlib import Path
from transcripts import services
info = services.check_recording(Path(sys.argv[1]))
print(json.dumps({"format": info.format_name, "duration": info.duration, **peaks()}))
"""


@pytest.mark.slow
def test_probing_a_giant_video_frame_stays_small(giant_frame_mkv):
    measured = run_measured(PROBE_AS_THE_UPLOAD_DOES, giant_frame_mkv)
    assert measured["format"] == "matroska,webm"  # accepted: its audio is a real recording
    assert measured["self_mb"] < WEB_WORKER_LIMIT_MB
    assert measured["child_mb"] < WEB_WORKER_LIMIT_MB


@pytest.mark.slow
def test_probing_hours_of_stereo_silence_stays_small(four_hours_of_stereo_silence):
    measured = run_measured(PROBE_AS_THE_UPLOAD_DOES, four_hours_of_stereo_silence)
    assert measured["duration"] == pytest.approx(3.95 * 3600, abs=1)
    assert measured["self_mb"] < WEB_WORKER_LIMIT_MB
    assert measured["child_mb"] < WEB_WORKER_LIMIT_MB


DECODE_AS_THE_WORKER_DOES = """
from transcripts.models import Call
from transcripts.tasks import CallTranscription
call = Call.objects.get(pk=int(sys.argv[1]))
assert call.claim("memory-test")
work = CallTranscription(call, "memory-test")
with work.load() as recording:
    # Each track is loaded when its turn comes, and dropped before the next one.
    for track in recording.tracks:
        samples = track.load()
        del samples
call.refresh_from_db()
print(json.dumps({"seconds": recording.duration, "channels": recording.channels,
                  "layout": call.channel_layout, **peaks()}))
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_decoding_four_hours_of_stereo_silence_stays_under_the_worker_limit(
    acme, make_call, four_hours_of_stereo_silence
):
    call = make_call(acme, path=four_hours_of_stereo_silence)
    measured = run_measured(DECODE_AS_THE_WORKER_DOES, call.pk)
    assert measured["seconds"] == pytest.approx(3.95 * 3600, abs=1)
    assert measured["channels"] == 2
    assert measured["layout"] == "same"  # silence in both channels: one mixed-down track
    # One track of 3.95 h at 16 kHz in float32 is 910 MB; both channels would be 1.8 GB.
    assert measured["self_mb"] < TRANSCRIPTION_WORKER_LIMIT_MB
    assert measured["child_mb"] < audio_memory_ceiling_mb()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_decoding_a_giant_video_frame_never_decodes_the_video(acme, make_call, giant_frame_mkv):
    call = make_call(acme, path=giant_frame_mkv)
    measured = run_measured(DECODE_AS_THE_WORKER_DOES, call.pk)
    assert measured["seconds"] == pytest.approx(29.7, abs=0.2)
    assert measured["self_mb"] < WEB_WORKER_LIMIT_MB
    assert measured["child_mb"] < WEB_WORKER_LIMIT_MB


def audio_memory_ceiling_mb() -> int:
    from django.conf import settings

    return settings.DECODE_MEMORY_MB


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_uploading_a_giant_video_frame_keeps_the_web_worker_under_300_mb(
    tmp_path, alice, giant_frame_mkv
):
    server = WebServer(tmp_path / "gunicorn.log").start()
    try:
        (worker,) = server.worker_pids()
        status = server.upload(session_cookie_for(alice), giant_frame_mkv.read_bytes(), "a.mkv")
        assert status == 302, server.log_path.read_text()
        assert peak_rss_mb(worker) < WEB_WORKER_LIMIT_MB
    finally:
        server.stop()
    assert Call.objects.get().duration == pytest.approx(29.7, abs=0.2)


# --- Deadlines: a decoder stuck inside FFmpeg is killed (finding 2) ---------------------------


def descendants_running(
    pattern: bytes, group: int | None = None, parent: int | None = None
) -> list[int]:
    """Processes whose command line holds `pattern`: children of `parent` (this process by
    default), or members of process group `group`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        their_parent, process_group = int(fields[1]), int(fields[2])
        if group is not None:
            mine = process_group == group
        else:
            mine = their_parent == (parent or os.getpid())
        if mine and pattern in cmdline:
            found.append(int(entry.name))
    return found


def freeze_the_decoder_when_it_starts(group: int | None = None, timeout: float = 60) -> int:
    """SIGSTOP the decoding child as soon as it runs: a decoder stuck inside FFmpeg, as the
    HLS demuxer waiting for a segment was, with nothing the Python side of it can do."""
    (pid,) = wait_for(
        lambda: descendants_running(b"transcripts.speech.audio", group),
        timeout=timeout,
        interval=0.005,
        message="the decoding process",
    )
    os.kill(pid, signal.SIGSTOP)
    return pid


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_a_probe_stuck_inside_ffmpeg_is_killed_at_its_deadline(speech_sample):
    frozen = []
    freezer = threading.Thread(target=lambda: frozen.append(freeze_the_decoder_when_it_starts()))
    freezer.start()
    limits = audio.Limits(seconds=1, memory_mb=512)
    with pytest.raises(TranscriptionError, match="took longer than 1 seconds"):
        audio.probe(speech_sample, limits=limits)
    freezer.join()
    assert gone(frozen[0])


def test_a_decode_stuck_inside_ffmpeg_is_killed_at_its_deadline(speech_sample):
    frozen = []
    freezer = threading.Thread(target=lambda: frozen.append(freeze_the_decoder_when_it_starts()))
    freezer.start()
    limits = audio.Limits(seconds=1, memory_mb=512)
    with pytest.raises(TranscriptionError, match="took longer than 1 seconds"):
        audio.decode_recording(speech_sample, limits=limits)
    freezer.join()
    assert gone(frozen[0])


def test_a_decode_past_its_deadline_fails_the_call_with_a_clear_message(
    acme, make_call, speech_sample, settings
):
    # The decoder is frozen, not merely given a long file: a fast machine decodes hours of
    # silence within any deadline short enough for a test.
    settings.DECODE_TIMEOUT_SECONDS = 1
    call = make_call(acme, path=speech_sample)
    frozen = []
    freezer = threading.Thread(target=lambda: frozen.append(freeze_the_decoder_when_it_starts()))
    freezer.start()
    assert transcribe_call(call.pk) == Call.Status.FAILED
    freezer.join()
    assert gone(frozen[0])
    call.refresh_from_db()
    assert call.error.startswith("Reading this recording took longer than 1 seconds")


def reading(pid: int, path: Path) -> bool:
    try:
        return any(fd.resolve() == path.resolve() for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def test_the_decoder_dies_with_its_worker(four_hours_of_stereo_silence):
    """A worker killed by its task timeout takes its decoder along (and its temporary file,
    which has no name)."""
    script = (
        "import sys\n"
        "from transcripts.speech import audio\n"
        "audio.decode_recording(sys.argv[1], limits=audio.Limits(seconds=600, memory_mb=512))"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script, str(four_hours_of_stereo_silence)], cwd=ROOT
    )
    (decoder,) = wait_for(
        lambda: descendants_running(b"transcripts.speech.audio", parent=worker.pid),
        message="the decoder",
    )
    wait_for(lambda: reading(decoder, four_hours_of_stereo_silence), message="decoding")
    # Stopped, it cannot finish on its own: only being killed with its worker ends it.
    os.kill(decoder, signal.SIGSTOP)
    worker.kill()
    worker.wait()
    try:
        wait_for(lambda: gone(decoder), timeout=10, message="the orphaned decoder to die")
    finally:
        if not gone(decoder):
            os.kill(decoder, signal.SIGKILL)


def test_a_child_over_its_memory_ceiling_fails_with_a_clear_message(speech_sample):
    with pytest.raises(TranscriptionError, match="needed more than 64 MB of memory"):
        audio.decode_recording(speech_sample, limits=audio.Limits(seconds=30, memory_mb=64))


# --- The reaper runs whatever the workers do ----------------------------------------------------


def cluster_heartbeat_name() -> str:
    return f"callscribe@{socket.gethostname()}"


def test_a_busy_worker_runs_an_overdue_reaper(acme, make_call):
    long_ago = timezone.now() - timedelta(minutes=10)
    ClusterHeartbeat.objects.create(name=cluster_heartbeat_name(), seen_at=long_ago)
    abandoned = make_call(acme)
    abandoned.claim("dead-worker")
    Call.objects.filter(pk=abandoned.pk).update(lease_expires_at=long_ago)
    reap_if_overdue()
    abandoned.refresh_from_db()
    assert abandoned.status == Call.Status.QUEUED
    assert ClusterHeartbeat.objects.get().seen_at > long_ago


def test_a_busy_worker_leaves_a_punctual_reaper_alone(acme, make_call):
    ClusterHeartbeat.beat(cluster_heartbeat_name())
    abandoned = make_call(acme)
    abandoned.claim("dead-worker")
    Call.objects.filter(pk=abandoned.pk).update(lease_expires_at=timezone.now())
    reap_if_overdue()
    abandoned.refresh_from_db()
    assert abandoned.status == Call.Status.PROCESSING


# --- With real workers: a hostile call never holds the queue (finding 2) ----------------------


@pytest.fixture
def one_worker(tmp_path):
    cluster = Cluster(tmp_path / "qcluster.log", workers=1).start()
    yield cluster
    cluster.stop()


def finished(call: Call) -> bool:
    call.refresh_from_db()
    return call.is_finished


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_playlist_in_the_queue_fails_and_the_next_call_is_transcribed(
    one_worker, acme, alice, make_call, tmp_path, other_teams_recording
):
    path = tmp_path / "call.m3u8"
    path.write_bytes(hls_playlist(str(other_teams_recording)))
    hostile = make_call(acme, alice, path=path)
    services.call_enqueue(hostile)
    normal = make_call(acme, alice)
    services.call_enqueue(normal)

    wait_for(lambda: finished(hostile), timeout=60, message=f"the playlist:\n{one_worker.log()}")
    assert hostile.status == Call.Status.FAILED
    assert hostile.error == audio.PLAYLIST
    wait_for(lambda: finished(normal), timeout=60, message=f"the next call:\n{one_worker.log()}")
    assert normal.status == Call.Status.DONE
    assert "Sarah" in normal.transcript_text


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_stuck_decode_and_the_reaper_runs_meanwhile(
    one_worker, acme, alice, make_call, four_hours_of_stereo_silence
):
    stuck = make_call(acme, alice, path=four_hours_of_stereo_silence)
    services.call_enqueue(stuck)
    decoder = freeze_the_decoder_when_it_starts(group=one_worker.process.pid, timeout=120)

    # The only worker is stuck; a call whose worker died is still put back in the queue.
    long_ago = timezone.now() - timedelta(minutes=10)
    ClusterHeartbeat.objects.update_or_create(
        name=cluster_heartbeat_name(), defaults={"seen_at": long_ago}
    )
    abandoned = make_call(acme, alice)
    abandoned.claim("dead-worker")
    Call.objects.filter(pk=abandoned.pk).update(lease_expires_at=long_ago)
    wait_for(
        lambda: Call.objects.get(pk=abandoned.pk).status == Call.Status.QUEUED,
        timeout=30,
        message=f"the reaper:\n{one_worker.log()}",
    )
    assert ClusterHeartbeat.objects.get(name=cluster_heartbeat_name()).seen_at > long_ago

    # The stuck decode holds its lease; cancel takes it, which kills the decoder and frees
    # the worker for the next call.
    stuck.refresh_from_db()
    assert stuck.status == Call.Status.PROCESSING
    assert stuck.stage == Call.Stage.DECODING
    assert stuck.cancel()
    wait_for(lambda: gone(decoder), timeout=30, message="the decoder to be killed")
    wait_for(lambda: finished(abandoned), timeout=60, message=f"the next call:\n{one_worker.log()}")
    assert abandoned.status == Call.Status.DONE
    stuck.refresh_from_db()
    assert stuck.status == Call.Status.CANCELLED
    assert one_worker.alive
