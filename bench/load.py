"""Is the web responsive while workers transcribe? A bounded load test on loopback.

Starts gunicorn (4 workers) and a Django-Q2 cluster (2 single-thread workers) on a fresh data
directory, queues two long calls, and while both are being transcribed, sends requests for the
call list and a call's progress fragment from several client threads for a fixed time.
Prints p50/p90/p99 latency per page. With --api, the clients request the REST API's call list
and call detail instead, with a bearer token.

    .venv/bin/python -m bench.load [--seconds 30] [--clients 8] [--database-url URL] [--api]
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "fixtures" / "sales_call.mp3"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict, *args: str, input: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


SETUP = """
import subprocess
from django.contrib.auth import get_user_model
from django.core.files import File
from django.test import Client
from transcripts.models import Call, Membership, Team
from transcripts import services
from api.models import ApiToken

user = get_user_model().objects.create_user("loadtest", password="load-test-password-1")
team = Team.objects.create(name="Load", slug="load")
Membership.objects.create(user=user, team=team, role="manager")
# Twenty finished calls make a realistic list page; two long ones keep the workers busy.
for number in range(20):
    with open("{sample}", "rb") as handle:
        call = Call(team=team, uploaded_by=user, title=f"Call {{number}}", status="done",
                    duration=29.7)
        call.audio.save("call.mp3", File(handle), save=False)
        call.save()
for number in range(2):
    with open("{long}", "rb") as handle:
        call = services.call_create(team=team, user=user, upload=File(handle, name="long.mp3"),
                                    title=f"Long call {{number}}")
client = Client()
client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
print(client.cookies["sessionid"].value, call.uuid, ApiToken.issue(user, "load test")[1])
"""


def long_recording(directory: Path, repeats: int = 40) -> Path:
    """The sample repeated: 20 minutes of speech."""
    listing = directory / "parts.txt"
    listing.write_text("".join(f"file '{SAMPLE}'\n" for _ in range(repeats)))
    target = directory / "long.mp3"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-c",
            "copy",
            str(target),
        ],
        check=True,
    )
    return target


def hammer(
    port: int,
    path: str,
    headers: dict[str, str],
    until: float,
    latencies: list[float],
    uncounted: int = 0,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < until:
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status not in (200, 286):
            raise RuntimeError(f"{path}: HTTP {response.status}")
        if uncounted:
            uncounted -= 1
            continue
        latencies.append((time.perf_counter() - started) * 1000)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--api", action="store_true", help="the REST API's list and detail")
    parser.add_argument(
        "--warm-up",
        type=int,
        default=0,
        help="requests per client not counted: a gunicorn worker's first request loads the URLconf",
    )
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="callscribe-load-"))
    env = {
        **os.environ,
        "DATA_DIR": str(work),
        "SECURE_COOKIES": "0",
        "AXES_ENABLED": "0",
        "STATICFILES_MANIFEST": "0",
        "PYTHONUNBUFFERED": "1",
        # One token makes every request here: its throttle must not be what is measured.
        "API_THROTTLE_RATE": "1000000/minute",
    }
    if options.database_url:
        env["DATABASE_URL"] = options.database_url
    else:
        env.pop("DATABASE_URL", None)
    manage(env, "migrate", "--noinput")
    long = long_recording(work)
    output = manage(env, "shell", "-c", SETUP.format(sample=SAMPLE, long=long))
    cookie, call_uuid, token = output.strip().splitlines()[-1].split()

    port = free_port()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "callscribe.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "4",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        ),
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**env, "Q_WORKERS": "2", "WHISPER_THREADS": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        ),
    ]
    try:
        time.sleep(8)  # gunicorn up, the cluster has loaded its models and started both calls
        if options.api:
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            pages = {
                "API call list": "/api/v1/calls/",
                "API call detail": f"/api/v1/calls/{call_uuid}/",
            }
        else:
            headers = {"Cookie": f"sessionid={cookie}", "HX-Request": "true"}
            pages = {"call list": "/", "progress fragment": f"/calls/{call_uuid}/progress/"}
        results: dict[str, list[float]] = {name: [] for name in pages}
        until = time.monotonic() + options.seconds
        threads = [
            threading.Thread(
                target=hammer,
                args=(port, path, headers, until, results[name], options.warm_up),
            )
            for number in range(options.clients)
            for name, path in [list(pages.items())[number % len(pages)]]
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        busy = manage(
            env,
            "shell",
            "-c",
            "from transcripts.models import Call; "
            "print(Call.objects.filter(status='processing').count())",
        ).split()[-1]
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                # A cluster finishes its running tasks before it stops: no need to wait here.
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    database = "PostgreSQL" if options.database_url.startswith("postgres") else "SQLite (WAL)"
    print(
        f"{options.clients} clients for {options.seconds:.0f} s, 4 gunicorn workers, "
        f"{database}, transcriptions running at the end: {busy}, "
        f"first {options.warm_up} requests per client not counted"
    )
    print("| page | requests | p50 ms | p90 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for name, latencies in results.items():
        print(
            f"| {name} | {len(latencies)} | {statistics.median(latencies):.1f} | "
            f"{percentile(latencies, 0.9):.1f} | {percentile(latencies, 0.99):.1f} |"
        )


if __name__ == "__main__":
    main()
