"""End to end in a real browser, against gunicorn and a Django-Q2 cluster as in production: a
rep records their voice on their profile, a mono call (both sides mixed into one channel, as
Zoom records) is uploaded, the worker tells the two voices apart and names the rep's after
them, and a line given to the wrong speaker is moved by hand: the talk share follows.

Everything is real: Whisper, the speaker encoder's weights, the worker's "Finding speakers"
stage. Screenshots go to test-artifacts/screenshots/, each page checked with axe-core first.
"""

import re

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser import checked_screenshot as screenshot
from tests.browser import chromium, watched_page
from tests.conftest import PASSWORD
from tests.voices import REP, mono_call, reading
from tests.workers import Cluster, WebServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]

REP_NAME = "Dana Reyes"


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def portal(tmp_path):
    web = WebServer(tmp_path / "gunicorn.log", workers=2).start()
    cluster = Cluster(tmp_path / "qcluster.log").start()
    yield web
    cluster.stop()
    web.stop()


@pytest.fixture
def page(browser, portal):
    with watched_page(browser, portal.url) as opened:
        yield opened


def log_in(page, user) -> None:
    # The server runs with production settings: store the password the way they read it.
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    page.goto(reverse("login"))
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def talk_shares(page) -> dict[str, float]:
    shares = page.eval_on_selector_all(
        "#talk-ratio .talk-share", "s => s.map(e => [e.dataset.speaker, e.dataset.share])"
    )
    return {name: float(share) for name, share in shares}


def wait_for_transcript(page, timeout_seconds: int = 600) -> None:
    for _ in range(timeout_seconds * 4):
        if page.locator("#transcript .segment").count():
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"no transcript after {timeout_seconds} s: {page.content()[-2000:]}")


def test_a_mono_call_gets_its_speakers_and_a_line_is_moved_by_hand(page, alice, tmp_path):
    alice.first_name, alice.last_name = REP_NAME.split()
    alice.save()
    # The benchmark's rep and a prospect taking turns for about a minute, in one channel; and
    # the rep reading a paragraph alone, to enrol her voice.
    mono = mono_call(tmp_path, 50, 2).path
    sample = reading(tmp_path / "my-voice.wav", REP)
    log_in(page, alice)

    # The rep records their voice on their profile: a worker learns the print from it.
    page.goto(reverse("transcripts:voice_print"))
    page.set_input_files("#id_audio", str(sample))
    page.click("#voice-enrol button[type=submit]")
    page.wait_for_selector(
        "#voice-print-summary:has-text('You have a voice print')", timeout=180_000
    )

    # A mono call, uploaded with the two people on it said; Dana led it (the default: she
    # uploads it and is in the team).
    page.goto(reverse("transcripts:call_upload"))
    page.set_input_files("#id_audio", str(mono))
    page.fill("#id_title", "Zoom call with Sarah")
    page.fill("#id_speakers_expected", "2")
    screenshot(page, "upload-with-people")
    page.click("text=Upload and transcribe")
    page.wait_for_url("**/calls/*/")
    wait_for_transcript(page)

    # The speakers appear: the rep by her name, recognised by her voice, and the customer.
    assert page.locator("#call-rep-name").inner_text() == REP_NAME
    panel = page.locator("#speakers")
    assert panel.get_attribute("data-voices") == "2"
    speakers = set(page.locator("#transcript .segment .speaker").all_inner_texts())
    assert {REP_NAME, "Customer"} <= {s.replace("✎", "").strip() for s in speakers}
    assert page.locator("#rep-voice option[selected]").inner_text() == REP_NAME
    page.wait_for_selector("#talk-ratio .talk-share")
    before = talk_shares(page)
    assert set(before) == {REP_NAME, "Customer"}
    screenshot(page, "call-mono-speakers")

    # A customer's line is given to the rep, with the keyboard: its Speaker link, the chooser
    # focused, Enter on the button.
    line = page.locator("#transcript .segment.customer").first
    index = line.get_attribute("data-index")
    page.evaluate("window.notReloaded = true")
    page.eval_on_selector("#insights", "insights => { insights.dataset.stale = 'yes'; }")
    line.locator(".move-line").focus()
    page.keyboard.press("Enter")
    chooser = page.locator(f"#line-voice-{index}")
    chooser.wait_for()
    # A function, not an expression: Playwright evals a bare expression in the page, which the
    # site's CSP (no 'unsafe-eval') forbids.
    page.wait_for_function("(id) => document.activeElement.id === id", arg=f"line-voice-{index}")
    chooser.select_option(label=REP_NAME)
    page.locator(f"#line-speaker-save-{index}").focus()
    page.keyboard.press("Enter")
    moved = page.locator(f"#line-{index}")
    moved.locator(".moved-mark").wait_for()
    assert moved.locator(".speaker").inner_text().startswith(REP_NAME)
    assert "the machine heard Customer" in moved.locator(".moved-mark").get_attribute("title")
    # htmx settles the swapped line with the old line's classes first: wait for its own.
    expect(moved).to_have_class(re.compile(r"\brep\b"))

    # A worker recomputes the analytics; the panel reloads itself and the rep's share grows.
    page.wait_for_function(
        """([name, share]) => {
            const insights = document.getElementById("insights");
            const updating = document.getElementById("analytics-updating");
            if (!insights || insights.dataset.stale || updating) return false;
            const part = document.querySelector(`#talk-ratio .talk-share[data-speaker="${name}"]`);
            return part && parseFloat(part.dataset.share) > share;
        }""",
        arg=[REP_NAME, before[REP_NAME]],
        timeout=120_000,
    )
    after = talk_shares(page)
    assert after[REP_NAME] > before[REP_NAME] and after["Customer"] < before["Customer"]
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "call-mono-line-moved")

    # The machine's labels come back with one click.
    page.click("#restore-voices")
    page.wait_for_selector(".flash:has-text('back with the speaker the machine heard')")
    assert page.locator(f"#line-{index} .moved-mark").count() == 0
    assert page.csp_violations == []
