"""End to end in a real browser: Debian's Chromium driven by Playwright, against gunicorn and a
Django-Q2 cluster running as separate processes, as in production.

The first test watches a call's progress; the second takes the real stereo recording through
everything a rep does with it: speakers, timeline and analytics, seeking from moments, searching
inside the call and across calls, naming the speakers, exports and the dashboard. One upload
serves every step, because transcribing is the slow part.

Screenshots of the main pages are saved under test-artifacts/screenshots/; every page shot is
checked with axe-core first.
"""

import json
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from docx import Document

from tests.browser import checked_screenshot as screenshot
from tests.browser import chromium, watched_page
from tests.conftest import FIXTURES, PASSWORD
from tests.workers import Cluster, WebServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


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


@pytest.fixture
def page(browser, portal):
    with watched_page(browser, portal.url) as opened:
        yield opened


def assert_no_csp_violation(page) -> None:
    assert page.csp_violations == []


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
        # One read in the page: HTMX may swap the bar out between a count and a read.
        value = int(
            page.evaluate(
                "document.querySelector('#call-status progress')?.getAttribute('value') || 0"
            )
        )
        if 0 < value < 100 and not any(0 < v < 100 for v in seen):
            screenshot(page, "progress")
        seen.add(value)
        page.wait_for_timeout(100)
    assert page.locator("#transcript .segment").count() > 5
    assert page.evaluate("window.notReloaded") is True
    moving = sorted(value for value in seen if 0 < value < 100)
    assert len(moving) >= 2, f"the bar should move through several values, saw {sorted(seen)}"
    assert "Transcribed 1 min 59 s of audio" in page.locator(".run-info").inner_text()
    screenshot(page, "call-one-voice")

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
    assert_no_csp_violation(page)


def test_another_team_sees_nothing_of_the_call(page, alice, charlie, acme, make_call):
    call = make_call(acme, alice, title="Acme pricing call")
    log_in(page, "charlie")
    assert "Acme pricing call" not in page.content()
    response = page.goto(call.get_absolute_url())
    assert response.status == 404
    assert_no_csp_violation(page)


def test_the_main_pages_keep_to_the_content_security_policy(page, alice, bob, acme, make_dual_call):
    call = make_dual_call(acme, alice, title="Discovery call with Initech")
    make_dual_call(acme, bob, title="Renewal call with Initech")
    log_in(page)
    visited = {}
    for name, url in [
        ("call list", reverse("transcripts:call_list")),
        ("search", reverse("transcripts:search") + "?q=pricing"),
        ("dashboard", reverse("transcripts:dashboard")),
        ("team", reverse("transcripts:team_detail", args=[acme.slug])),
        ("trackers", reverse("transcripts:tracker_list", args=[acme.slug])),
        ("settings", reverse("transcripts:settings")),
        ("upload", reverse("transcripts:call_upload")),
        ("call", call.get_absolute_url()),
    ]:
        response = page.goto(url)
        assert "script-src 'self'" in response.headers["content-security-policy"], name
        visited[name] = page.url

    # The charts are sized by static/js/app.js, not by style attributes.
    shares = page.eval_on_selector_all("#talk-ratio .talk-share", "s => s.map(e => e.style.width)")
    assert len(shares) == 2 and all(share.endswith("%") for share in shares), shares
    # htmx still works: the in-call search swaps the lines in place...
    page.evaluate("window.notReloaded = true")
    page.fill("#transcript-search-input", "pricing")
    page.wait_for_selector("#search-count")
    # ...and correcting a line swaps in fresh analytics, whose bars are sized as well.
    page.eval_on_selector("#insights", "insights => { insights.dataset.stale = 'yes'; }")
    page.click("#line-0 .edit-line")
    page.fill("#line-text-0", "Hi Sarah, thanks a lot for taking my call.")
    page.click("#line-save-0")
    page.wait_for_selector("#insights:not([data-stale]) #talk-ratio .talk-share")
    # The new bars are in the page before htmx fires "htmx:load" for them, when app.js sizes
    # them: reading their widths at once failed 1 CI run in 3. Wait (at most 5 s) for the sizing.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#talk-ratio .talk-share')]"
        ".every(bar => bar.style.width !== '')",
        timeout=5_000,
    )
    widths = page.eval_on_selector_all("#talk-ratio .talk-share", "s => s.map(e => e.style.width)")
    assert len(widths) == 2 and all(width.endswith("%") for width in widths), widths
    assert page.evaluate("window.notReloaded") is True

    # The confirmations that were inline handlers: a refused one keeps the call.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("button:has-text('Delete')")
    page.wait_for_timeout(300)
    assert page.url == visited["call"]
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Delete')")
    page.wait_for_url("**/")
    assert "“Discovery call with Initech” and its recording were deleted" in page.inner_text("main")

    # Choosing a team in the menu sends its form.
    page.select_option(".team-switch select", acme.slug)
    page.wait_for_load_state()
    assert page.locator(".team-switch select").input_value() == acme.slug
    page.goto(reverse("transcripts:dashboard"))
    bar = page.eval_on_selector(".share-bar .fill", "e => e.style.width")
    assert bar.endswith("%"), bar
    assert_no_csp_violation(page)


STEREO = FIXTURES / "stereo_call.mp3"
SCRIPT = json.loads((FIXTURES / "stereo_call.json").read_text())
# A moment found by the worker (Whisper's word timings) or reached by the player is "at the
# right time" within this many seconds.
NEAR = 1.5
SRT_CUE = re.compile(
    r"^(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(.+)$", re.M
)


def script_line(words: str) -> tuple[float, float]:
    """When the line of the stereo call's script that says `words` starts and ends."""
    return next((line["start"], line["end"]) for line in SCRIPT["lines"] if words in line["text"])


def wait_for_player_at(page, seconds: float) -> None:
    page.wait_for_function(
        f"Math.abs(document.getElementById('player').currentTime - {seconds}) < {NEAR}"
    )


def plays_from(page, moment, seconds: float) -> None:
    """Clicking `moment` moves the player to `seconds`, from a standstill at the start."""
    assert seconds > 2 * NEAR, "too close to the start to tell a seek from none"
    page.eval_on_selector("#player", "player => { player.pause(); player.currentTime = 0; }")
    moment.click()
    wait_for_player_at(page, seconds)


def download(page, selector: str) -> tuple[str, Path]:
    with page.expect_download() as info:
        page.click(selector)
    return info.value.suggested_filename, Path(info.value.path())


def test_a_rep_reviews_a_dual_channel_call_from_upload_to_dashboard(
    page, alice, bob, acme, make_dual_call
):
    # The team's earlier calls, so that the list, search and dashboard show a history.
    now, week = timezone.now(), timedelta(weeks=1)
    make_dual_call(acme, bob, title="Renewal call with Initech", created_at=now - week)
    make_dual_call(acme, alice, title="Pricing follow-up with Hooli", created_at=now - 2 * week)

    log_in(page)
    page.click("text=Upload a call")
    page.set_input_files("#id_audio", str(STEREO))
    page.fill("#id_title", "Discovery call with Sarah Lee")
    screenshot(page, "upload")
    page.click("text=Upload and transcribe")
    page.wait_for_url("**/calls/*/")
    page.evaluate("window.notReloaded = true")

    # 1. The worker separates the channels; the transcript, speakers, timeline and analytics
    # arrive without a reload.
    page.wait_for_selector("#transcript .segment", timeout=180_000)
    assert page.evaluate("window.notReloaded") is True
    speakers = page.locator("#transcript .segment .speaker").all_inner_texts()
    assert set(speakers) == {"Rep", "Customer"}, speakers
    assert page.locator("#speaker-name-rep").is_visible()
    assert page.locator("#speakers-note").count() == 0
    for role in ("Rep", "Customer"):
        assert page.locator(f"#timeline [data-speaker={role}] rect.bar[data-start]").count() >= 3
    assert page.locator("#timeline rect.tracker-mark").count() >= 3
    shares = {
        share.get_attribute("data-speaker"): float(share.get_attribute("data-share"))
        for share in page.locator("#talk-ratio .talk-share[data-speaker]").all()
    }
    assert set(shares) == {"Rep", "Customer"}
    assert sum(shares.values()) == pytest.approx(1, abs=0.01)
    # The script gives the rep about 57% of the talk time.
    assert 0.45 < shares["Rep"] < 0.7, shares
    questions = page.locator("#analytics a.moment.question")
    assert int(page.inner_text("#question-count")) == questions.count() >= 2
    hits = page.locator("#analytics .tracker-hit[data-seek]")
    trackers = {hit.get_attribute("data-tracker") for hit in hits.all()}
    assert {"Pricing", "Competitors", "Next steps"} <= trackers, trackers
    screenshot(page, "call-transcribed")

    # 2. A tracker hit, a question and a bar of the timeline each play from their moment.
    competitor = page.locator("#analytics .tracker-hit[data-tracker=Competitors]").first
    seconds = float(competitor.get_attribute("data-seek"))
    # A hit is timed by its words, so it lies within the line that says them.
    start, end = script_line("competitor")
    assert start - NEAR < seconds < end, seconds
    plays_from(page, competitor, seconds)
    # The timeline's playhead follows the player (at its next "timeupdate", up to 250 ms later).
    page.wait_for_selector("#timeline-playhead", state="visible")
    page.wait_for_function(
        "([expected, near]) => Math.abs(parseFloat(document.getElementById('timeline-playhead')"
        ".style.getPropertyValue('--at')) - expected) < near",
        arg=[seconds / SCRIPT["duration"], NEAR / SCRIPT["duration"]],
        timeout=5_000,
    )
    question = questions.last
    plays_from(page, question, float(question.get_attribute("data-seek")))
    bar = page.locator("#timeline [data-speaker=Customer] rect.bar").nth(1)
    plays_from(page, bar, float(bar.get_attribute("data-start")))

    # 3. Searching the transcript highlights and counts the matching lines, in place.
    texts = page.locator("#transcript .segment .text").all_inner_texts()
    expected = sum(bool(re.search(r"\bcall", text, re.I)) for text in texts)
    assert expected >= 2, texts
    page.fill("#transcript-search-input", "call")
    page.wait_for_selector("#search-count")
    assert page.inner_text("#search-count").startswith(f"{expected} lines match “call”")
    assert page.locator("#transcript .segment.match").count() == expected
    marks = page.locator("#transcript .segment.match mark").all_inner_texts()
    assert len(marks) >= expected and all(m.lower().startswith("call") for m in marks), marks
    page.check("#only-matches")
    assert page.locator("#transcript .segment:visible").count() == expected
    # "Next match" plays the first matching line after the player's position.
    first = page.locator("#transcript .segment.match").first
    plays_from(page, page.locator("#search-next"), float(first.get_attribute("data-start")))
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "call-search")

    # 4. Naming the speakers relabels the transcript and the exports.
    page.fill("#speaker-name-rep", "Dana")
    page.fill("#speaker-name-customer", "Sarah Lee")
    page.click("#speaker-names-save")
    page.wait_for_selector("text=Speakers renamed")
    speakers = page.locator("#transcript .segment .speaker").all_inner_texts()
    assert set(speakers) == {"Dana", "Sarah Lee"}, speakers
    assert page.locator("#talk-ratio .talk-share[data-speaker='Sarah Lee']").count() == 1
    screenshot(page, "call")

    name, srt = download(page, "#export-srt")
    assert name == "discovery-call-with-sarah-lee.srt"
    cues = SRT_CUE.findall(srt.read_text())
    assert [int(cue[0]) for cue in cues] == list(range(1, len(cues) + 1))
    # Long lines are split into several cues (two lines of 42 characters at most).
    assert len(cues) >= len(texts)
    starts = []
    for cue in cues:
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(part) for part in cue[1:9])
        start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
        end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        assert 0 <= start <= end <= SCRIPT["duration"] + 1, cue
        starts.append(start)
    assert starts == sorted(starts)
    assert {cue[9].split(":")[0] for cue in cues} == {"Dana", "Sarah Lee"}

    name, txt = download(page, "#export-txt")
    assert name.endswith(".txt")
    transcript = txt.read_text()
    assert transcript.startswith("Discovery call with Sarah Lee\nDuration: 0:48\n")
    assert re.search(r"^\[0:\d\d\] Sarah Lee: ", transcript, re.M), transcript

    name, docx = download(page, "#export-docx")
    assert name.endswith(".docx")
    paragraphs = [p.text for p in Document(str(docx)).paragraphs]
    assert paragraphs[0] == "Discovery call with Sarah Lee"
    assert any("Sarah Lee" in p for p in paragraphs) and any("Dana" in p for p in paragraphs)
    assert not any(re.search(r"\b(Rep|Customer)\b", p) for p in paragraphs[1:]), paragraphs

    # 5. Search across calls opens the call at the moment the words were said.
    call_url = page.url.split("#")[0]
    uuid = urlsplit(call_url).path.strip("/").split("/")[-1]
    page.click("#nav-search")
    page.fill("#search-input", "pricing")
    page.press("#search-input", "Enter")
    page.wait_for_selector("#search-results")
    assert page.locator(".search-result").count() == 3
    # A tracker's name finds its phrases too ("discount"): the line that says the word has it
    # highlighted.
    line = page.locator(f".search-result[data-call='{uuid}'] a.result-line:has(mark)").first
    assert "Sarah Lee:" in line.inner_text()
    assert line.locator("mark").inner_text().lower() == "pricing"
    seconds = float(line.get_attribute("data-seconds"))
    assert seconds == pytest.approx(script_line("pricing")[0], abs=NEAR)
    screenshot(page, "search")
    line.click()
    page.wait_for_url(f"{call_url}#t=*")
    wait_for_player_at(page, seconds)

    # 6. The dashboard sets each rep's talk share against the benchmark.
    page.click("#nav-dashboard")
    reps = {
        row.get_attribute("data-rep"): float(row.get_attribute("data-share"))
        for row in page.locator(".rep-share[data-rep]").all()
    }
    assert set(reps) == {"alice", "bob"}
    assert all(0 < share < 1 for share in reps.values()), reps
    assert page.locator(".rep-share[data-rep=alice] .share-bar .fill").is_visible()
    pricing = page.locator(".tracker-row[data-tracker=Pricing]")
    assert int(pricing.get_attribute("data-hits")) >= 3
    screenshot(page, "dashboard")

    page.click("text=Calls")
    page.wait_for_selector("#call-table tbody tr")
    assert page.locator("#call-table tbody tr").count() == 3
    assert "Discovery call with Sarah Lee" in page.inner_text("#call-table")
    screenshot(page, "calls")
    page.goto(reverse("transcripts:team_detail", args=[acme.slug]))
    assert "bob" in page.inner_text("main")
    assert page.locator("#team-trackers .phrase").all_inner_texts() == [
        "Competitors",
        "Next steps",
        "Pricing",
    ]
    screenshot(page, "team")
    assert_no_csp_violation(page)
