"""Who reaches what: every URL of the project, for every kind of visitor.

The matrix is checked against the URL configuration, so a new view that is not added here,
with the status each visitor must get, fails this test.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from transcripts.models import Call

ANON, MEMBER, OUTSIDER, MANAGER, STAFF = "anonymous", "member", "outsider", "manager", "staff"
VISITORS = [ANON, MEMBER, OUTSIDER, MANAGER, STAFF]

# A call of Acme's, uploaded by Alice (a manager); Bob is a plain member of Acme, Charlie is in
# another team, Olivia is staff in no team. Outside one's teams everything is 404, never 403:
# a call or team of someone else's is not even confirmed to exist.
CALL_VIEW = {ANON: 302, MEMBER: 200, OUTSIDER: 404, MANAGER: 200, STAFF: 404}
CALL_ACTION = {ANON: 302, MEMBER: 302, OUTSIDER: 404, MANAGER: 302, STAFF: 404}
CALL_OWNER_ACTION = {ANON: 302, MEMBER: 403, OUTSIDER: 404, MANAGER: 302, STAFF: 404}
TEAM_MANAGER_ACTION = {ANON: 302, MEMBER: 403, OUTSIDER: 404, MANAGER: 302, STAFF: 404}
EVERYONE = {v: 200 for v in VISITORS}

MATRIX = {
    "login": ("get", EVERYONE),
    "healthz": ("get", EVERYONE),
    "logout": ("post", {v: 302 for v in VISITORS}),
    "password_reset_confirm": ("get", EVERYONE),
    "password_reset_complete": ("get", EVERYONE),
    "transcripts:call_list": ("get", {**EVERYONE, ANON: 302}),
    "transcripts:settings": ("get", {**EVERYONE, ANON: 302}),
    "transcripts:call_upload": ("get", {**EVERYONE, ANON: 302, STAFF: 302}),
    "transcripts:call_detail": ("get", CALL_VIEW),
    "transcripts:call_progress": ("get", {**CALL_VIEW, MEMBER: 286, MANAGER: 286}),
    "transcripts:call_row": ("get", {**CALL_VIEW, MEMBER: 286, MANAGER: 286}),
    "transcripts:call_audio": ("get", CALL_VIEW),
    "transcripts:call_retranscribe": ("post", CALL_ACTION),
    "transcripts:call_retranscribe_confirm": ("get", CALL_VIEW),
    "transcripts:call_cancel": ("post", CALL_ACTION),
    "transcripts:call_rename": ("post", CALL_OWNER_ACTION),
    "transcripts:call_delete": ("post", CALL_OWNER_ACTION),
    "transcripts:team_detail": ("get", {**CALL_VIEW}),
    "transcripts:team_switch": ("post", {v: 302 for v in VISITORS}),
    "transcripts:member_add": ("post", TEAM_MANAGER_ACTION),
    "transcripts:member_remove": ("post", TEAM_MANAGER_ACTION),
    "transcripts:call_export": ("get", CALL_VIEW),
    "transcripts:call_insights": ("get", CALL_VIEW),
    # Without htmx, the transcript's search box goes to the call page.
    "transcripts:call_transcript": ("get", {**CALL_VIEW, MEMBER: 302, MANAGER: 302}),
    "transcripts:segment_detail": ("get", CALL_VIEW),
    "transcripts:segment_edit": ("get", CALL_VIEW),
    "transcripts:segment_restore": ("post", CALL_ACTION),
    "transcripts:call_speakers": ("post", CALL_ACTION),
    "transcripts:call_swap_speakers": ("post", CALL_ACTION),
    "transcripts:search": ("get", {**EVERYONE, ANON: 302}),
    "transcripts:dashboard": ("get", {**EVERYONE, ANON: 302}),
    "transcripts:team_recording": ("post", TEAM_MANAGER_ACTION),
    "transcripts:team_vocabulary": ("post", TEAM_MANAGER_ACTION),
    "transcripts:tracker_list": ("get", CALL_VIEW),
    "transcripts:tracker_edit": ("get", CALL_VIEW),
    "transcripts:tracker_delete": ("post", CALL_ACTION),
}


def project_url_names(patterns=None, namespace=""):
    """Every named URL of the project, except the admin's (checked below as a whole)."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from project_url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield f"{namespace}{pattern.name}"


def test_every_url_is_in_the_access_matrix():
    missing = sorted(set(project_url_names()) - set(MATRIX))
    assert not missing, f"Add these URLs to the access matrix: {missing}"


@pytest.fixture
def world(acme, globex, alice, bob, charlie, staff, make_call):
    call = make_call(acme, alice, status=Call.Status.DONE, duration=29.7)
    call.segments.create(index=0, start=0, end=3, text="Hi Sarah.")
    return {
        "call": call,
        "team": acme,
        "membership": bob.memberships.get(team=acme),
        "users": {MEMBER: bob, OUTSIDER: charlie, MANAGER: alice, STAFF: staff},
    }


def url_for(name: str, world) -> str:
    pattern_kwargs = {
        "uuid": world["call"].uuid,
        "slug": world["team"].slug,
        "membership_id": world["membership"].pk,
        "uidb64": "MQ",
        "token": "not-a-token",
        "format": "txt",
        "index": 0,
        "tracker_id": world["team"].trackers.first().pk,
    }
    from django.urls import NoReverseMatch

    for keys in (
        [],
        ["uuid"],
        ["slug"],
        ["slug", "membership_id"],
        ["uidb64", "token"],
        ["uuid", "format"],
        ["uuid", "index"],
        ["slug", "tracker_id"],
    ):
        try:
            return reverse(name, kwargs={k: pattern_kwargs[k] for k in keys})
        except NoReverseMatch:
            continue
    raise AssertionError(f"Teach url_for how to build {name}")


POST_DATA = {
    "transcripts:call_rename": {"title": "Renamed"},
    "transcripts:member_add": {"identifier": "dave@example.com", "role": "member"},
    "transcripts:team_switch": {"team": ""},
    "transcripts:team_recording": {"rep_channel": "1"},
    "transcripts:team_vocabulary": {"vocabulary": "Zentrix, Quorra"},
    "transcripts:call_speakers": {"rep": "Dana", "customer": "Sarah"},
}


@pytest.mark.parametrize("visitor", VISITORS)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_each_visitor_gets_the_expected_answer(client, world, name, visitor):
    method, expected = MATRIX[name]
    if visitor != ANON:
        client.force_login(
            world["users"][visitor], backend="django.contrib.auth.backends.ModelBackend"
        )
    url = url_for(name, world)
    response = getattr(client, method)(url, POST_DATA.get(name, {}))
    assert response.status_code == expected[visitor], (
        f"{method.upper()} {url} as {visitor}: {response.status_code}"
    )
    if expected[visitor] == 302 and visitor == ANON:
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    "visitor, expected", [(ANON, 302), (MEMBER, 302), (OUTSIDER, 302), (MANAGER, 302), (STAFF, 200)]
)
@pytest.mark.parametrize("url", ["/admin/", "/admin/transcripts/call/", "/admin/django_q/ormq/"])
def test_only_staff_reach_the_admin(client, world, url, visitor, expected):
    if visitor != ANON:
        client.force_login(
            world["users"][visitor], backend="django.contrib.auth.backends.ModelBackend"
        )
    response = client.get(url)
    assert response.status_code == expected
    if expected == 302:
        assert "login/" in response["Location"]


def test_an_outsider_cannot_find_a_call_through_the_list(client_for, world, charlie):
    page = client_for(charlie).get(reverse("transcripts:call_list")).content.decode()
    assert str(world["call"].uuid) not in page
