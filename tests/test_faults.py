"""Crashes, restarts and crowds, with real worker processes: nothing lost, stuck or done twice."""

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import Success

from tests.workers import Cluster, WebServer, session_cookie_for, wait_for
from transcripts import services
from transcripts.models import Call
from transcripts.tasks import reap_stale_calls

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Short leases and windows, so a crash is noticed in seconds and a call spans several windows;
# the slower reference engine on one thread, so a test can catch a call half-way. The lease
# outlasts the engine's longest silent step here (one window with word timings, the mono calls'
# default: about 8 s on a quiet machine), or a live worker's call would be reaped. No second
# pass: the reference engine's base decodes a clip in half a minute on one thread, longer than
# the 8 s call it would polish (tests/test_second_pass.py covers it, and its lease).
FAST_RECOVERY = {
    "WHISPER_SECOND_PASS": "0",
    "CALL_LEASE_SECONDS": "15",
    "WHISPER_WINDOW_SECONDS": "25",
    "WHISPER_ENGINE": "openai",
    "WHISPER_THREADS": "1",
}

DEFAULT_ENGINE = {"WHISPER_ENGINE": "auto"}


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory, speech_sample):
    path = tmp_path_factory.mktemp("audio") / "short_call.mp3"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(speech_sample),
            "-t",
            "8",
            "-c",
            "copy",
            str(path),
        ],
        check=True,
    )
    return path


@pytest.fixture(scope="module")
def one_minute_call(tmp_path_factory, speech_sample):
    """The speech sample twice over: three of FAST_RECOVERY's windows, so a worker can be caught
    between them, in half the time the two-minute call takes."""
    path = tmp_path_factory.mktemp("audio") / "one_minute_call.mp3"
    subprocess.run(
        [
            *("ffmpeg", "-loglevel", "error", "-y", "-i", str(speech_sample)),
            *("-i", str(speech_sample), "-filter_complex", "concat=n=2:v=0:a=1"),
            *("-ac", "1", "-ar", "16000", "-b:a", "32k", str(path)),
        ],
        check=True,
    )
    return path


@pytest.fixture
def clusters(tmp_path):
    started = []

    def start(tag: str = "a", **env) -> Cluster:
        cluster = Cluster(
            tmp_path / f"cluster-{tag}-{len(started)}.log",
            CALLSCRIBE_WORKER_TAG=tag,
            **{**FAST_RECOVERY, **env},
        ).start()
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


def refreshed(call: Call) -> Call:
    call.refresh_from_db()
    return call


def transcript(call: Call) -> list[tuple]:
    return list(call.segments.order_by("index").values_list("index", "start", "end", "text"))


def wait_until_done(call: Call, *clusters: Cluster, timeout: float = 300) -> Call:
    logs = "\n".join(c.log()[-3000:] for c in clusters)
    wait_for(lambda: refreshed(call).is_finished, timeout=timeout, message=f"{call}:\n{logs}")
    assert call.status == Call.Status.DONE, call.error
    return call


# Each clip's transcript by a worker nobody interrupted: the same for every test, made once.
_uninterrupted: dict = {}


def uninterrupted_transcript(cluster: Cluster, acme, make_call, path) -> list[tuple]:
    if path not in _uninterrupted:
        _uninterrupted[path] = transcript(wait_until_done(enqueue(acme, make_call, path), cluster))
    return _uninterrupted[path]


def wait_until_mid_call(call: Call) -> Call:
    """Until the call has finished a window (and saved its segments) and is on the next."""

    def mid_way() -> bool:
        refreshed(call)
        assert not call.is_finished, "the call finished before the test could interrupt it"
        return call.resume_at > 0

    wait_for(mid_way, timeout=300, interval=0.05, message="the call to be mid-way")
    return call


def enqueue(acme, make_call, path) -> Call:
    call = make_call(acme, path=path)
    services.call_enqueue(call)
    return call


def recover(call: Call) -> None:
    """What the every-minute schedule does, once the dead worker's lease has run out."""
    wait_for(
        lambda: refreshed(call).lease_expires_at is None or call.lease_expires_at < timezone.now(),
        timeout=30,
    )
    reap_stale_calls()


def worker_pid(call: Call) -> int:
    # lease_owner is "tag:host:pid:random"
    return int(call.lease_owner.split(":")[2])


def test_a_worker_killed_mid_call_is_replaced_and_the_call_completes_exactly(
    clusters, acme, make_call, one_minute_call
):
    cluster = clusters("a")
    reference = uninterrupted_transcript(cluster, acme, make_call, one_minute_call)

    call = wait_until_mid_call(enqueue(acme, make_call, one_minute_call))
    os.kill(worker_pid(call), signal.SIGKILL)
    recover(call)
    wait_until_done(call, cluster)
    assert call.attempts == 2
    assert call.resumed_from > 0
    assert [s[1:] for s in transcript(call)] == [s[1:] for s in reference]
    assert [s[0] for s in transcript(call)] == list(range(call.segments.count()))


def test_a_killed_cluster_is_replaced_and_the_call_completes_exactly(
    clusters, acme, make_call, one_minute_call
):
    first = clusters("a")
    reference = uninterrupted_transcript(first, acme, make_call, one_minute_call)

    call = wait_until_mid_call(enqueue(acme, make_call, one_minute_call))
    first.kill()
    second = clusters("b")
    recover(call)
    wait_until_done(call, second)
    assert call.lease_owner.startswith("b:")
    assert [s[1:] for s in transcript(call)] == [s[1:] for s in reference]


def test_two_clusters_share_twenty_calls_and_do_each_once(clusters, acme, make_call, short_clip):
    calls = [enqueue(acme, make_call, short_clip) for _ in range(20)]
    # The default engine: nothing here is caught half-way, and it is four times faster.
    first, second = clusters("a", **DEFAULT_ENGINE), clusters("b", **DEFAULT_ENGINE)
    for call in calls:
        wait_until_done(call, first, second)
    assert {call.attempts for call in calls} == {1}
    owners = {call.lease_owner.split(":")[0] for call in calls}
    assert owners == {"a", "b"}, "both clusters should have done work"
    ran = Success.objects.filter(func="transcripts.tasks.transcribe_call")
    # A cluster records a task's success after the task has finished the call: wait for the
    # last record, then see that each call ran once.
    wait_for(lambda: ran.count() >= len(calls), timeout=60, message="every task's record")
    assert sorted(task.args[0] for task in ran) == sorted(call.pk for call in calls)
    texts = {tuple(s[3] for s in transcript(call)) for call in calls}
    assert len(texts) == 1 and texts != {()}


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="restarts the PostgreSQL server")
def test_a_database_restart_mid_call_does_not_leave_it_stuck(
    clusters, acme, make_call, one_minute_call
):
    cluster = clusters("a")
    call = wait_until_mid_call(enqueue(acme, make_call, one_minute_call))
    version = os.listdir("/etc/postgresql")[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True
    )
    connection.close()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not refreshed(call).is_finished:
        reap_stale_calls()
        time.sleep(1)
    assert call.status == Call.Status.DONE, f"{call.status} {call.error}\n{cluster.log()[-3000:]}"


def test_fifty_uploads_at_once_are_all_accepted_and_transcribed(
    tmp_path, clusters, alice, short_clip
):
    web = WebServer(tmp_path / "gunicorn.log", workers=4).start()
    cluster = clusters("a", Q_WORKERS="2", WHISPER_THREADS="1", **DEFAULT_ENGINE)
    try:
        cookies, content = session_cookie_for(alice), short_clip.read_bytes()
        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(lambda _: web.upload(cookies, content), range(50)))
    finally:
        web.stop()
    assert statuses == [302] * 50, web.log_path.read_text()[-3000:]
    calls = list(Call.objects.all())
    assert len(calls) == 50
    # Every one transcribed: none lost to a locked or overloaded database.
    for call in calls:
        wait_until_done(call, cluster, timeout=600)
