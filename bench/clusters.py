"""Two transcription machines on one box: throughput with two clusters against one.

Each "machine" is a Django-Q2 cluster with its own DATA_DIR, media folder and temporary
folders, so nothing on disk is shared: recordings reach it only through the S3-compatible
store (a real SeaweedFS on free ports). One gunicorn serves the web, PostgreSQL is the broker.
Calls are uploaded through the web as a browser would, once the clusters are running; the run
ends when every call is transcribed, and checks that each was transcribed exactly once.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/storage \\
        .venv/bin/python -m bench.clusters [--calls 40] [--seconds 15]

The database's calls, queue and task history are deleted first: give it a database of its own.
tests/test_clusters.py runs `run()` with a few calls and checks the same guarantees.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "fixtures" / "sales_call.mp3"
TRANSCRIBE = "transcripts.tasks.transcribe_call"


@dataclass
class RunResult:
    clusters: int
    calls: int
    audio_seconds: float
    upload_seconds: float
    wall_seconds: float
    # Calls each cluster transcribed, by its tag (machine-1, machine-2...).
    per_cluster: dict[str, int] = field(default_factory=dict)
    # Calls not transcribed exactly once: (call id, why).
    problems: list[tuple[int, str]] = field(default_factory=list)

    @property
    def audio_per_wall_second(self) -> float:
        return self.audio_seconds / self.wall_seconds

    @property
    def calls_per_minute(self) -> float:
        return self.calls * 60 / self.wall_seconds


def make_clip(target: Path, seconds: float) -> Path:
    """The first `seconds` of the speech sample, as a 16 kHz mono MP3."""
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(SAMPLE), "-t", str(seconds)]
        + ["-ac", "1", "-ar", "16000", "-b:a", "32k", str(target)],
        check=True,
    )
    return target


def transcription_counts() -> Counter:
    """How many finished transcription tasks said "done", per call id (Django-Q2's history)."""
    from django_q.models import Task

    counts: Counter = Counter()
    for task in Task.objects.filter(func=TRANSCRIBE).only("args", "result", "success"):
        if task.success and task.result == "done":
            counts[task.args[0]] += 1
    return counts


def run(
    *,
    work: Path,
    user,
    s3_env: dict[str, str],
    clusters: int,
    calls: int,
    clip: Path,
    secret_key: str,
    timeout: float = 900,
) -> RunResult:
    """Upload `calls` copies of `clip` through one web process while `clusters` clusters of one
    worker each transcribe them; wait for all, and check each was transcribed exactly once."""
    from tests.workers import Cluster, WebServer, session_cookie_for, wait_for
    from transcripts.models import Call
    from transcripts.speech import audio

    common = {**s3_env, "SECRET_KEY": secret_key, "WORKER_NICENESS": "0"}
    web_dir = work / "web"
    web_dir.mkdir(parents=True, exist_ok=True)
    web = WebServer(
        web_dir / "gunicorn.log",
        workers=2,
        DATA_DIR=str(web_dir),
        MEDIA_ROOT=str(web_dir / "media"),
        **common,
    ).start()
    machines = []
    for number in range(1, clusters + 1):
        machine = work / f"machine-{number}"
        (machine / "tmp").mkdir(parents=True, exist_ok=True)
        machines.append(
            Cluster(
                machine / "qcluster.log",
                workers=1,
                DATA_DIR=str(machine),
                MEDIA_ROOT=str(machine / "media"),
                WORKER_TEMP_DIR=str(machine / "workers"),
                TMPDIR=str(machine / "tmp"),
                CALLSCRIBE_WORKER_TAG=f"machine-{number}",
                WHISPER_THREADS="1",
                **common,
            )
        )
    try:
        for cluster in machines:
            cluster.start()
        for cluster in machines:
            wait_for(lambda c=cluster: "running." in c.log(), timeout=120, message=cluster.log())
        cookies = session_cookie_for(user)
        content = clip.read_bytes()
        started = time.monotonic()
        for number in range(calls):
            status = web.upload(cookies, content, name=f"call-{number:03d}.mp3")
            if status != 302:
                raise RuntimeError(
                    f"Upload {number} answered {status}:\n{web.log_path.read_text()}"
                )
        uploaded = time.monotonic() - started
        ours = Call.objects.filter(uploaded_by=user)
        wait_for(
            lambda: ours.count() == calls and not ours.exclude(status__in=Call.FINISHED).exists(),
            timeout=timeout,
            interval=0.2,
            message="every call to be transcribed:\n"
            + "\n".join(cluster.log()[-3000:] for cluster in machines),
        )
        wall = time.monotonic() - started
    finally:
        for cluster in machines:
            cluster.stop()
        web.stop()

    result = RunResult(
        clusters=clusters,
        calls=calls,
        audio_seconds=calls * audio.probe(clip).duration,
        upload_seconds=uploaded,
        wall_seconds=wall,
    )
    done = transcription_counts()
    for call in Call.objects.filter(uploaded_by=user):
        tag = call.lease_owner.split(":")[0]
        result.per_cluster[tag] = result.per_cluster.get(tag, 0) + 1
        if call.status != Call.Status.DONE:
            result.problems.append((call.pk, f"{call.status}: {call.error}"))
        elif call.attempts != 1 or done[call.pk] != 1:
            result.problems.append(
                (call.pk, f"claimed {call.attempts} times, transcribed {done[call.pk]} times")
            )
    # Nothing was left on any machine's disk: no media, no downloads.
    for machine in [work / f"machine-{n}" for n in range(1, clusters + 1)]:
        leftovers = [p for p in (machine / "workers").rglob("*") if p.is_file()]
        leftovers += [p for p in (machine / "media").rglob("*") if p.is_file()]
        result.problems += [(0, f"left on disk: {path}") for path in leftovers]
    return result


def report(results: list[RunResult], seconds: float, cpus: int) -> str:
    one = results[0]
    lines = [
        "## Two transcription machines on one box",
        "",
        f"`python -m bench.clusters`: {one.calls} calls of {seconds:g} s uploaded through one "
        "gunicorn (2 workers), transcribed by Django-Q2 clusters of one single-thread worker "
        "each (faster-whisper tiny.en, int8), each cluster with its own DATA_DIR, media and "
        "temporary folders; recordings only in SeaweedFS (S3, signed requests); PostgreSQL as "
        f"the broker. {cpus} CPU cores. Timed from the first upload to the last call done.",
        "",
        "| Clusters | Calls | Audio | Uploads took | Wall time | Calls/min | Audio s per s | "
        "Calls per cluster | Exactly once |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        shares = ", ".join(f"{tag} {count}" for tag, count in sorted(result.per_cluster.items()))
        lines.append(
            f"| {result.clusters} | {result.calls} | {result.audio_seconds:.0f} s | "
            f"{result.upload_seconds:.1f} s | {result.wall_seconds:.1f} s | "
            f"{result.calls_per_minute:.1f} | {result.audio_per_wall_second:.1f} | {shares} | "
            f"{'yes' if not result.problems else 'NO: ' + str(result.problems[:3])} |"
        )
    if len(results) > 1:
        lines += [
            "",
            f"Two clusters: {results[1].calls_per_minute / one.calls_per_minute:.2f}× the "
            "throughput of one.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=15.0, help="Length of each call.")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        sys.exit("Give a PostgreSQL database of its own: --database-url postgres://...")

    work = Path(tempfile.mkdtemp(prefix="callscribe-clusters-"))
    os.environ.update(
        DATABASE_URL=args.database_url,
        DATA_DIR=str(work / "bench"),
        DJANGO_SETTINGS_MODULE="callscribe.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django_q.models import OrmQ, Task

    from tests.objectstore import SeaweedFS
    from transcripts.models import Call, Membership, Team

    call_command("migrate", verbosity=0)
    store = SeaweedFS(work / "seaweedfs", bucket="callscribe-bench").start()
    clip = make_clip(work / "clip.mp3", args.seconds)
    user, _ = get_user_model().objects.get_or_create(username="bench-clusters")
    team, _ = Team.objects.get_or_create(slug="bench-clusters", defaults={"name": "Bench"})
    Membership.objects.get_or_create(user=user, team=team, defaults={"role": "manager"})
    results = []
    try:
        for clusters in (1, 2):
            Call.objects.all().delete()
            OrmQ.objects.all().delete()
            Task.objects.all().delete()
            result = run(
                work=work / f"run-{clusters}",
                user=user,
                s3_env=store.environment(f"bench-{clusters}"),
                clusters=clusters,
                calls=args.calls,
                clip=clip,
                secret_key=settings.SECRET_KEY,
            )
            print(
                f"{clusters} cluster(s): {result.wall_seconds:.1f} s, {result.per_cluster}, "
                f"problems: {result.problems or 'none'}, "
                f"load average after: {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            results.append(result)
    finally:
        store.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(report(results, args.seconds, os.cpu_count() or 1))


if __name__ == "__main__":
    main()
