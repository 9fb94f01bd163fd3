"""The Content-Security-Policy: on every page, and pages that keep to it (no inline scripts,
event handlers or style attributes, which it refuses). test_browser.py checks that a real
browser reports no violation."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

PAGES = {
    "login": lambda call: reverse("login"),
    "call list": lambda call: reverse("transcripts:call_list"),
    "call": lambda call: call.get_absolute_url(),
    "search": lambda call: reverse("transcripts:search") + "?q=pricing",
    "dashboard": lambda call: reverse("transcripts:dashboard"),
    "team": lambda call: reverse("transcripts:team_detail", args=[call.team.slug]),
    "trackers": lambda call: reverse("transcripts:tracker_list", args=[call.team.slug]),
    "settings": lambda call: reverse("transcripts:settings"),
    "upload": lambda call: reverse("transcripts:call_upload"),
    "admin": lambda call: reverse("admin:transcripts_call_changelist"),
    "a missing page": lambda call: "/calls/00000000-0000-0000-0000-000000000000/",
}


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


class InlineCode(HTMLParser):
    """Collects what a strict policy refuses: inline scripts, on...= handlers, style="" ."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action") and (value or "").startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")


@pytest.fixture
def call(acme, alice, staff, make_dual_call):
    from transcripts.models import Membership

    # Staff is in the team too, to see every page with the same data.
    Membership.objects.create(user=staff, team=acme, role=Membership.Role.MANAGER)
    return make_dual_call(acme, alice)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_carries_the_policy(client, client_for, staff, call, page):
    client = client if page == "login" else client_for(staff)
    response = client.get(PAGES[page](call))
    assert response.status_code in (200, 404)
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    for sources in policy.values():
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(sources)


@pytest.mark.parametrize("page", PAGES)
def test_no_page_has_inline_code_the_policy_would_refuse(client, client_for, staff, call, page):
    client = client if page == "login" else client_for(staff)
    parser = InlineCode()
    parser.feed(client.get(PAGES[page](call)).content.decode())
    assert parser.found == []


def test_htmx_fragments_have_no_inline_code_either(client_for, alice, call):
    client = client_for(alice)
    for url in (
        reverse("transcripts:call_insights", args=[call.uuid]),
        reverse("transcripts:call_transcript", args=[call.uuid]) + "?q=pricing",
        reverse("transcripts:call_progress", args=[call.uuid]),
        reverse("transcripts:segment_edit", args=[call.uuid, 0]),
    ):
        response = client.get(url, headers={"HX-Request": "true"})
        assert response.status_code in (200, 286), url
        parser = InlineCode()
        parser.feed(response.content.decode())
        assert parser.found == [], url


def test_the_upload_limit_page_carries_the_policy(client_for, alice, settings):
    settings.MAX_UPLOAD_BYTES = 1000
    response = client_for(alice).post(
        reverse("transcripts:call_upload"),
        data=b"x" * 200_000,
        content_type="application/octet-stream",
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 413
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_a_call_told_apart_by_voice_has_no_inline_code(client_for, alice, acme, make_voiced_call):
    call = make_voiced_call(acme, alice)
    client = client_for(alice)
    for url, htmx in (
        (call.get_absolute_url(), False),
        (reverse("transcripts:line_speaker", args=[call.uuid, 1]), True),
        (reverse("transcripts:line_speaker", args=[call.uuid, 1]), False),
    ):
        response = client.get(url, headers={"HX-Request": "true"} if htmx else {})
        assert response.status_code == 200, url
        parser = InlineCode()
        parser.feed(response.content.decode())
        assert parser.found == [], url
