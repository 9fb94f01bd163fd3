"""Starting real Django-Q2 clusters against the test database, for tests that need workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """The URL of the database the tests run on (pytest-django's test copy)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class Cluster:
    """A `manage.py qcluster` process; its output goes to a log file the test can read."""

    def __init__(self, log: Path, workers: int = 1, name: str = "callscribe", **env: str):
        self.log_path = log
        self.environment = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "Q_WORKERS": str(workers),
            "Q_CLUSTER_NAME": name,
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> Cluster:
        handle = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=self.environment,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20) -> None:
        """Stop as a deploy does: SIGTERM to the cluster, which stops its own workers."""
        if not self.alive:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Kill -9 the cluster and every worker process it started, as a crash would."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(condition, timeout: float = 180, interval: float = 0.25, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout} s waiting for {message or condition}")


class WebServer:
    """Gunicorn serving the project on a free loopback port, against the test database."""

    def __init__(self, log: Path, workers: int = 1, **env: str):
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log_path = log
        self.workers = workers
        self.environment = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "SECURE_COOKIES": "0",
            "AXES_ENABLED": "0",
            "STATICFILES_MANIFEST": "0",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        import urllib.error
        import urllib.request

        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "callscribe.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=self.environment,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def answers() -> bool:
            try:
                urllib.request.urlopen(f"{self.url}/login/", timeout=2)
                return True
            except urllib.error.HTTPError:
                return True  # it answers, even if not with 200: the test will tell
            except OSError:
                return False

        wait_for(answers, timeout=60, message=f"gunicorn to answer:\n{self.log_path.read_text()}")
        return self

    def upload(self, cookies: dict[str, str], content: bytes, name: str = "call.mp3") -> int:
        """POST a recording to the upload form as a browser would; the HTTP status."""
        import urllib.error
        import urllib.request

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        csrf = "c" * 32
        body = (
            b'--xyz\r\nContent-Disposition: form-data; name="audio"; filename="'
            + name.encode()
            + b'"\r\nContent-Type: audio/mpeg\r\n\r\n'
            + content
            + b"\r\n--xyz--\r\n"
        )
        request = urllib.request.Request(
            f"{self.url}/calls/upload/",
            data=body,
            headers={
                "Cookie": f"sessionid={cookies['sessionid']}; csrftoken={csrf}",
                "X-CSRFToken": csrf,
                "Content-Type": "multipart/form-data; boundary=xyz",
            },
        )
        try:
            return urllib.request.build_opener(NoRedirect).open(request, timeout=120).status
        except urllib.error.HTTPError as error:
            return error.code

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)


def peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def session_cookie_for(user) -> dict[str, str]:
    """Cookies of a logged-in session for `user`, for a client outside Django's test client."""
    from django.test import Client

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return {"sessionid": client.cookies["sessionid"].value}
