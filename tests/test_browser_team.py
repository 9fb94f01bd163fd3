"""A manager sets up a team in Chromium without the admin, on a desktop and on a phone.

Alice starts a team, invites Bob by e-mail (the e-mail is read from the web server's log, where
the console backend prints it), Bob creates his account from the link, Alice makes him a
manager and back, edits the trackers that Bob then sees read-only, and removes him. Every page
on the way is checked with axe-core (no serious or critical violation); the main pages are
shot at 390x844 and 1280x800 and must not scroll sideways on the phone.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.urls import reverse

from tests.browser import (
    DESKTOP,
    PHONE,
    assert_accessible,
    chromium,
    install_axe,
    overflowing_elements,
    screenshot,
    sideways_overflow,
)
from tests.conftest import PASSWORD, make_user
from tests.workers import WebServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.browser]

INVITATION_LINK = re.compile(r"https?://[^/\s]+(/invitations/[\w-]+/)")
BOB_PASSWORD = "bob's long passphrase"


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def web(tmp_path):
    server = WebServer(
        tmp_path / "gunicorn.log",
        workers=2,
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
    ).start()
    yield server
    server.stop()


@pytest.fixture
def open_page(browser, web):
    contexts = []

    def open_(viewport=DESKTOP):
        context = browser.new_context(base_url=web.url, viewport=viewport)
        context.set_default_timeout(20_000)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web.url)
        install_axe(context)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto(reverse("login"))
    assert_accessible(page)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_url("**/")


def go(page, url: str) -> None:
    page.goto(url)
    assert_accessible(page)


def emailed_link(web, to: str) -> str:
    """The invitation link of the last e-mail to `to` in the web server's log."""
    log = web.log_path.read_text()
    message = log[log.rindex(f"To: {to}") :]
    return INVITATION_LINK.search(message).group(1)


def test_a_manager_sets_up_a_team_without_the_admin(open_page, web, db):
    hasher = PBKDF2PasswordHasher()
    alice = make_user("alice", email="alice@acme.example")
    alice.password = hasher.encode(PASSWORD, hasher.salt())
    alice.save()

    # 1. Alice, in no team yet, finds "Team" in the header and starts one.
    page = open_page()
    log_in(page, "ALICE@acme.example")
    page.click("#nav-team")
    page.wait_for_url("**/teams/")
    assert_accessible(page)
    page.fill("#id_name", "Initech Sales")
    page.click("#team-create-submit")
    page.wait_for_url("**/teams/initech-sales/")
    assert "you manage it" in page.inner_text("main")
    assert page.locator("#only-manager").is_visible()
    assert_accessible(page)

    # 2. She invites Bob; the link to copy fills the card's width and copies with a click.
    page.fill("#id_email", "bob@acme.example")
    page.click("#invitation-form button[type=submit]")
    page.wait_for_selector("#invitation-link-card")
    field = page.locator("#invitation-link").bounding_box()
    card = page.locator("#invitation-link-card").bounding_box()
    assert field["width"] > 0.7 * card["width"], (field, card)
    page.click("#invitation-link-copy")
    page.wait_for_selector("#invitation-link-copied:has-text('Copied')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.input_value("#invitation-link")
    assert page.locator("#invitations [data-invitation='bob@acme.example']").count() == 1
    assert_accessible(page)

    # 3. Bob opens the e-mailed link, sees the team's name, and creates his account.
    bob_page = open_page()
    go(bob_page, emailed_link(web, "bob@acme.example"))
    assert "Join Initech Sales" in bob_page.inner_text("h1")
    bob_page.fill("#id_username", "bob")
    bob_page.fill("#id_password1", BOB_PASSWORD)
    bob_page.fill("#id_password2", BOB_PASSWORD)
    bob_page.click("#invitation-create-account")
    bob_page.wait_for_url("**/teams/initech-sales/")
    assert "Welcome to Initech Sales" in bob_page.inner_text("main")
    assert_accessible(bob_page)

    # 4. Alice makes Bob a manager, then a member again; alone, she could not step down.
    page.reload()
    assert page.locator("#members tr[data-member=bob]").count() == 1
    page.select_option("#role-bob", "manager")
    page.click("#role-save-bob")
    page.wait_for_selector("text=bob is now a manager.")
    assert page.locator("#members tr[data-member=bob]").get_attribute("data-role") == "manager"
    page.select_option("#role-bob", "member")
    page.click("#role-save-bob")
    page.wait_for_selector("text=bob is now a member.")
    page.select_option("#role-alice", "member")
    page.click("#role-save-alice")
    page.wait_for_selector(".flash.error:has-text('make another member manager first')")
    assert page.locator("#members tr[data-member=alice]").get_attribute("data-role") == "manager"

    # 5. Alice adds a tracker; Bob sees the trackers but cannot change them.
    page.click("#manage-trackers")
    page.wait_for_selector("#tracker-form")
    assert_accessible(page)
    page.fill("#id_name", "Security")
    page.fill("#id_phrases", "SOC 2\nsecurity review")
    page.click("#tracker-save")
    page.wait_for_selector("#trackers [data-tracker=Security]")
    go(bob_page, reverse("transcripts:tracker_list", args=["initech-sales"]))
    assert bob_page.locator("#trackers [data-tracker=Security]").count() == 1
    assert bob_page.locator("#tracker-form").count() == 0
    assert bob_page.locator("#trackers a[id^=tracker-edit-]").count() == 0
    assert bob_page.locator("#trackers-read-only").is_visible()
    from transcripts.models import Tracker

    tracker = Tracker.objects.get(team__slug="initech-sales", name="Security")
    edit = reverse("transcripts:tracker_edit", args=["initech-sales", tracker.pk])
    assert bob_page.goto(edit).status == 403
    assert_accessible(bob_page)  # the refusal, in the site's layout

    # 6. The main pages, with calls to show, on a desktop and on a phone.
    from transcripts.models import Team

    team = Team.objects.get(slug="initech-sales")
    call = make_dual_call_for(team, alice)
    pages = {
        "calls": reverse("transcripts:call_list"),
        "call": call.get_absolute_url(),
        "team": team.get_absolute_url(),
        "dashboard": reverse("transcripts:dashboard"),
        "search": reverse("transcripts:search") + "?q=pricing",
        "settings": reverse("transcripts:settings"),
        "upload": reverse("transcripts:call_upload"),
    }
    phone = open_page(PHONE)
    log_in(phone, "alice")
    for name, url in pages.items():
        for size, viewer in (("desktop", page), ("phone", phone)):
            go(viewer, url)
            assert sideways_overflow(viewer) <= 0, (
                f"{name} scrolls sideways on the {size}: {overflowing_elements(viewer)}"
            )
            screenshot(viewer, f"{name}-{size}")

    # On the phone the menu folds behind a button; the call list keeps title, date, status.
    assert phone.locator("#site-nav").is_hidden()
    phone.click(".menu-toggle")
    assert phone.locator("#nav-team").is_visible()
    assert_accessible(phone)
    go(phone, pages["calls"])
    headers = [h for h in phone.locator("#call-table th").all() if h.is_visible()]
    assert [h.inner_text().split()[0].lower() for h in headers] == ["call", "uploaded", "status"]
    # On the call page the transcript's text takes the line's whole width, under its time.
    go(phone, pages["call"])
    line = phone.locator("#transcript .segment").first
    text, time = line.locator(".text").bounding_box(), line.locator(".time").bounding_box()
    assert text["y"] >= time["y"] + time["height"] - 1
    assert text["width"] > 0.8 * line.bounding_box()["width"]

    # 7. The keyboard on the call page: Edit and Rename put the cursor in their field, Esc
    # cancels, Ctrl+Enter saves; the focus comes back to the line.
    go(page, pages["call"])
    page.click("#line-2 .edit-line")
    page.wait_for_selector("#line-text-2:focus")
    page.keyboard.press("Escape")
    page.wait_for_selector("#line-2 .edit-line:focus")
    assert page.locator("#line-text-2").count() == 0
    page.keyboard.press("Enter")  # the focused Edit link opens the editor again
    page.wait_for_selector("#line-text-2:focus")
    page.fill("#line-text-2", "What does your team use for call notes at the moment?")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#line-2 .edited-badge")
    assert "at the moment" in page.inner_text("#line-2 .text")
    page.click("#call-rename summary")
    page.wait_for_selector("#call-rename input[name=title]:focus")
    page.keyboard.press("Escape")
    assert not page.eval_on_selector("#call-rename", "details => details.open")
    # A long speaker name wraps in the timeline instead of being cut.
    label = page.locator("#timeline .timeline-label.customer")
    assert label.inner_text() == "Sarah Lee, VP of Revenue Operations"
    assert label.evaluate("e => e.scrollWidth <= e.clientWidth")
    # Between the timeline's bars, a click plays from the time under the pointer.
    page.eval_on_selector("#player", "player => { player.pause(); player.currentTime = 0; }")
    track = page.locator("#timeline .timeline-row.marks .timeline-track")
    box = track.bounding_box()
    track.click(position={"x": box["width"] * 0.5, "y": 1})
    page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 15) < 1.5")

    # 8. Alice removes Bob from the team.
    page.goto(team.get_absolute_url())
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#remove-bob")
    page.wait_for_selector("text=bob left Initech Sales.")
    assert page.locator("#members tr[data-member=bob]").count() == 0
    assert bob_page.goto(team.get_absolute_url()).status == 404
    assert get_user_model().objects.filter(username="bob").exists()


def make_dual_call_for(team, user):
    """A transcribed two-speaker call (tests/conftest.py's DUAL_CALL_LINES), without Whisper."""
    from django.core.files import File

    from tests.conftest import DUAL_CALL_LINES, FIXTURES
    from transcripts.models import Call

    call = Call(
        team=team,
        uploaded_by=user,
        title="Discovery call with Sarah Lee, VP of Revenue Operations at Initech",
        original_filename="stereo_call.mp3",
        status=Call.Status.DONE,
        duration=30.0,
        channel_layout="dual",
        rep_channel=team.rep_channel,
        speaker_names={"Customer": "Sarah Lee, VP of Revenue Operations"},
    )
    with (FIXTURES / "stereo_call.mp3").open("rb") as handle:
        call.audio.save("stereo_call.mp3", File(handle), save=False)
    call.size_bytes = call.audio.size
    call.save()
    for index, (channel, start, end, text) in enumerate(DUAL_CALL_LINES):
        call.segments.create(
            index=index,
            start=start,
            end=end,
            text=text,
            channel=channel,
            speaker=call.speaker_for_channel(channel),
        )
    call.refresh_analytics()
    return call
