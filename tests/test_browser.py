"""End to end in a real browser: Debian's Chromium driven by Playwright, against gunicorn and a
Django-Q2 cluster running as separate processes, as in production.

Screenshots of the main pages are saved under test-artifacts/screenshots/.
"""

import os
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.workers import Cluster, WebServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own database queries
    # are plain synchronous ones and safe.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def portal(tmp_path):
    """gunicorn and a cluster whose progress moves in visible steps (20 s windows, 1 thread)."""
    web = WebServer(tmp_path / "gunicorn.log", workers=2).start()
    cluster = Cluster(
        tmp_path / "qcluster.log", WHISPER_WINDOW_SECONDS="20", WHISPER_THREADS="1"
    ).start()
    yield web
    cluster.stop()
    web.stop()


@pytest.fixture(scope="module")
def two_minute_call(tmp_path_factory, speech_sample):
    path = tmp_path_factory.mktemp("audio") / "discovery-call.mp3"
    inputs = [arg for _ in range(4) for arg in ("-i", str(speech_sample))]
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            *inputs,
            "-filter_complex",
            "concat=n=4:v=0:a=1",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-b:a",
            "32k",
            str(path),
        ],
        check=True,
    )
    return path


@pytest.fixture
def page(browser, portal):
    context = browser.new_context(base_url=portal.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    opened = context.new_page()
    yield opened
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page, username: str = "alice") -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    # The server runs with production settings: store the password the way they read it.
    hasher = PBKDF2PasswordHasher()
    get_user_model().objects.filter(username=username).update(
        password=hasher.encode(PASSWORD, hasher.salt())
    )
    page.goto(reverse("login"))
    screenshot(page, "login")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def test_a_user_uploads_a_call_watches_it_and_plays_a_moment(page, alice, two_minute_call):
    log_in(page)
    page.click("text=Upload a call")
    page.set_input_files("#id_audio", str(two_minute_call))
    page.fill("#id_title", "Discovery call with Sarah")
    page.click("text=Upload and transcribe")
    page.wait_for_url("**/calls/*/")
    # Anything set on the page now survives only if the transcript arrives without a reload.
    page.evaluate("window.notReloaded = true")

    seen: set[int] = set()
    for _ in range(1200):
        if page.locator("#transcript .segment").count():
            break
        bar = page.locator("#call-status progress")
        value = int(bar.get_attribute("value") or 0) if bar.count() else 0
        if 0 < value < 100 and not any(0 < v < 100 for v in seen):
            screenshot(page, "progress")
        seen.add(value)
        page.wait_for_timeout(100)
    assert page.locator("#transcript .segment").count() > 5
    assert page.evaluate("window.notReloaded") is True
    moving = sorted(value for value in seen if 0 < value < 100)
    assert len(moving) >= 2, f"the bar should move through several values, saw {sorted(seen)}"
    assert "Transcribed 1 min 59 s of audio" in page.locator(".run-info").inner_text()
    screenshot(page, "call")

    # Clicking a line plays the recording from that moment.
    line = page.locator("#transcript .segment").nth(4)
    start = float(line.get_attribute("data-start"))
    line.locator(".text").click()
    page.wait_for_function(
        f"Math.abs(document.getElementById('player').currentTime - {start}) < 1.5"
    )
    assert page.locator("#transcript .segment.playing").count() <= 1

    page.click("text=Calls")
    assert "Discovery call with Sarah" in page.locator("table.calls").inner_text()
    screenshot(page, "calls")


def test_another_team_sees_nothing_of_the_call(page, alice, charlie, acme, make_call):
    call = make_call(acme, alice, title="Acme pricing call")
    log_in(page, "charlie")
    assert "Acme pricing call" not in page.content()
    response = page.goto(call.get_absolute_url())
    assert response.status == 404
