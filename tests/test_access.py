"""Who reaches what: every URL of the project, for every kind of visitor.

The matrix is checked against the URL configuration, so a new view that is not added here,
with the status each visitor must get, fails this test.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from api.models import ApiToken, WebhookDelivery, WebhookEndpoint
from transcripts.models import Call, Invitation

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
TEAM_MANAGER_PAGE = {ANON: 302, MEMBER: 403, OUTSIDER: 404, MANAGER: 200, STAFF: 404}
CALL_OWNER_PAGE = {ANON: 302, MEMBER: 403, OUTSIDER: 404, MANAGER: 200, STAFF: 404}

MATRIX = {
    "login": ("get", EVERYONE),
    "healthz": ("get", EVERYONE),
    "logout": ("post", {v: 302 for v in VISITORS}),
    "password_reset": ("get", EVERYONE),
    "password_reset_done": ("get", EVERYONE),
    "password_reset_confirm": ("get", EVERYONE),
    "password_reset_complete": ("get", EVERYONE),
    "transcripts:call_list": ("get", {**EVERYONE, ANON: 302}),
    "transcripts:settings": ("get", {**EVERYONE, ANON: 302}),
    "transcripts:call_upload": ("get", {**EVERYONE, ANON: 302, STAFF: 302}),
    "transcripts:call_detail": ("get", CALL_VIEW),
    "transcripts:call_progress": ("get", {**CALL_VIEW, MEMBER: 286, MANAGER: 286}),
    "transcripts:call_row": ("get", {**CALL_VIEW, MEMBER: 286, MANAGER: 286}),
    "transcripts:call_audio": ("get", CALL_VIEW),
    # Transcribing again discards people's corrections: the uploader's or a manager's call.
    "transcripts:call_retranscribe": ("post", CALL_OWNER_ACTION),
    "transcripts:call_retranscribe_confirm": ("get", CALL_OWNER_PAGE),
    "transcripts:call_cancel": ("post", CALL_OWNER_ACTION),
    "transcripts:call_rename": ("post", CALL_OWNER_ACTION),
    "transcripts:call_delete": ("post", CALL_OWNER_ACTION),
    "transcripts:call_hold": ("post", CALL_OWNER_ACTION),
    "transcripts:team_list": ("get", {**EVERYONE, ANON: 302}),
    "transcripts:team_detail": ("get", {**CALL_VIEW}),
    "transcripts:team_rename": ("post", TEAM_MANAGER_ACTION),
    "transcripts:member_role": ("post", TEAM_MANAGER_ACTION),
    "transcripts:team_switch": ("post", {v: 302 for v in VISITORS}),
    "transcripts:invitation_create": ("post", TEAM_MANAGER_ACTION),
    "transcripts:invitation_resend": ("post", TEAM_MANAGER_ACTION),
    "transcripts:invitation_revoke": ("post", TEAM_MANAGER_ACTION),
    # Anyone holding the link reaches the page; what it offers depends on who they are
    # (Invitation.decide, tested in test_invitations.py).
    "transcripts:invitation_accept": ("get", EVERYONE),
    "transcripts:member_remove": ("post", TEAM_MANAGER_ACTION),
    "transcripts:call_export": ("get", CALL_VIEW),
    "transcripts:call_insights": ("get", CALL_VIEW),
    # Without htmx, the transcript's search box goes to the call page.
    "transcripts:call_transcript": ("get", {**CALL_VIEW, MEMBER: 302, MANAGER: 302}),
    "transcripts:segment_detail": ("get", CALL_VIEW),
    "transcripts:segment_edit": ("get", CALL_VIEW),
    "transcripts:segment_restore": ("post", CALL_ACTION),
    "transcripts:call_speakers": ("post", CALL_ACTION),
    # Speakers told apart by voice are fixed by any member, like a line's text; the call's rep
    # is named by the uploader or a manager.
    "transcripts:line_speaker": ("get", CALL_VIEW),
    "transcripts:call_merge_voices": ("post", CALL_ACTION),
    "transcripts:call_rep_voice": ("post", CALL_ACTION),
    "transcripts:call_restore_voices": ("post", CALL_ACTION),
    "transcripts:call_rep": ("post", CALL_OWNER_ACTION),
    "transcripts:call_swap_speakers": ("post", CALL_ACTION),
    "transcripts:search": ("get", {**EVERYONE, ANON: 302}),
    "transcripts:dashboard": ("get", {**EVERYONE, ANON: 302}),
    "transcripts:team_recording": ("post", TEAM_MANAGER_ACTION),
    "transcripts:team_vocabulary": ("post", TEAM_MANAGER_ACTION),
    "transcripts:team_quality": ("post", TEAM_MANAGER_ACTION),
    "transcripts:team_retention": ("post", TEAM_MANAGER_ACTION),
    "transcripts:team_export": ("get", {**TEAM_MANAGER_ACTION, MANAGER: 200}),
    # Every member sees the trackers; only managers change them (WRITES below).
    "transcripts:tracker_list": ("get", CALL_VIEW),
    "transcripts:tracker_edit": ("get", TEAM_MANAGER_PAGE),
    "transcripts:tracker_delete": ("post", TEAM_MANAGER_ACTION),
    # One's own API tokens and notices; a team's webhooks (its managers only).
    "profile:detail": ("get", {**EVERYONE, ANON: 302}),
    "profile:token_create": ("post", {v: 302 for v in VISITORS}),
    "profile:token_revoke": (
        "post",
        {**EVERYONE, ANON: 302, MEMBER: 404, OUTSIDER: 404, MANAGER: 302, STAFF: 404},
    ),
    "profile:notices": ("post", {v: 302 for v in VISITORS}),
    # One's own voice print: no URL names a person, so each visitor reaches only theirs (what
    # they see and delete is tested in test_voice_prints.py). A POST without a file is a 400.
    "transcripts:voice_print": ("get", {**EVERYONE, ANON: 302}),
    "transcripts:voice_enrol": ("post", {**{v: 400 for v in VISITORS}, ANON: 302}),
    "transcripts:voice_print_delete": ("post", {v: 302 for v in VISITORS}),
    "webhooks:endpoint_add": ("post", TEAM_MANAGER_ACTION),
    "webhooks:endpoint_delete": ("post", TEAM_MANAGER_ACTION),
    "webhooks:delivery_resend": ("post", TEAM_MANAGER_ACTION),
}

# Pages that every member reads but only managers may change: the POST to them.
WRITES = {
    "transcripts:tracker_list": TEAM_MANAGER_ACTION,
    "transcripts:tracker_edit": TEAM_MANAGER_ACTION,
    # Starting a team is open to anyone logged in (TEAM_CREATION="anyone", the default).
    "transcripts:team_list": {**TEAM_MANAGER_ACTION, MEMBER: 302, OUTSIDER: 302, STAFF: 302},
}


def project_url_names(patterns=None, namespace=""):
    """Every named URL of the project, except the admin's (checked below as a whole)."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            # The admin is checked below as a whole; the REST API by tests/test_api_access.py.
            if pattern.app_name == "admin" or pattern.namespace == "api":
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
    # Its speakers told apart by voice, so the views that fix them answer too.
    call = make_call(acme, alice, status=Call.Status.DONE, duration=29.7, voice_count=2)
    call.segments.create(index=0, start=0, end=3, text="Hi Sarah.", voice=0, machine_voice=0)
    invitation = Invitation(team=acme, email="dave@example.com", invited_by=alice)
    email_token, _ = invitation.issue_tokens()
    invitation.save()
    endpoint = WebhookEndpoint.objects.create(team=acme, url="https://93.184.216.34/hook")
    return {
        "call": call,
        "invitation": invitation,
        "invitation_token": email_token,
        # Alice's token: only she may revoke it.
        "token": ApiToken.issue(alice, "dialer")[0],
        "endpoint": endpoint,
        "delivery": WebhookDelivery.objects.create(
            endpoint=endpoint, event="call.done", payload={}
        ),
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
        "token": world["invitation_token"]
        if name == "transcripts:invitation_accept"
        else "not-a-token",
        "invitation_id": world["invitation"].pk,
        "format": "txt",
        "index": 0,
        "tracker_id": world["team"].trackers.first().pk,
        "token_id": world["token"].pk,
        "endpoint_id": world["endpoint"].pk,
        "delivery_id": world["delivery"].pk,
    }
    from django.urls import NoReverseMatch

    for keys in (
        [],
        ["uuid"],
        ["slug"],
        ["slug", "membership_id"],
        ["slug", "invitation_id"],
        ["uidb64", "token"],
        ["token"],
        ["uuid", "format"],
        ["uuid", "index"],
        ["slug", "tracker_id"],
        ["token_id"],
        ["slug", "endpoint_id"],
        ["slug", "delivery_id"],
    ):
        try:
            return reverse(name, kwargs={k: pattern_kwargs[k] for k in keys})
        except NoReverseMatch:
            continue
    raise AssertionError(f"Teach url_for how to build {name}")


POST_DATA = {
    "transcripts:call_rename": {"title": "Renamed"},
    "transcripts:invitation_create": {"email": "erin@example.com", "role": "member"},
    "transcripts:team_switch": {"team": ""},
    "transcripts:team_recording": {"rep_channel": "1"},
    "transcripts:team_vocabulary": {"vocabulary": "Zentrix, Quorra"},
    "transcripts:team_quality": {"quality": "fast"},
    "transcripts:call_speakers": {"rep": "Dana", "customer": "Sarah"},
    "transcripts:call_merge_voices": {"source": "1", "target": "0"},
    "transcripts:call_rep_voice": {"voice": "0"},
    "transcripts:call_rep": {"rep": "alice"},
    "transcripts:team_rename": {"name": "Acme Sales EMEA"},
    "transcripts:member_role": {"role": "member"},
    "transcripts:tracker_list": {"name": "Security", "phrases": "SOC 2\nsecurity review"},
    "transcripts:tracker_edit": {"name": "Rivals", "phrases": "rival\nrivals"},
    "transcripts:team_list": {"name": "New team"},
    "profile:token_create": {"name": "dialer"},
    "webhooks:endpoint_add": {"url": "https://93.184.216.34/hook", "events": ["call.done"]},
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


@pytest.mark.parametrize("visitor", VISITORS)
@pytest.mark.parametrize("name", sorted(WRITES))
def test_only_managers_change_what_members_read(client, world, name, visitor):
    expected = WRITES[name]
    if visitor != ANON:
        client.force_login(
            world["users"][visitor], backend="django.contrib.auth.backends.ModelBackend"
        )
    url = url_for(name, world)
    response = client.post(url, POST_DATA[name])
    assert response.status_code == expected[visitor], f"POST {url} as {visitor}"


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


@pytest.mark.parametrize("status", [Call.Status.DONE, Call.Status.FAILED, Call.Status.CANCELLED])
def test_a_member_who_did_not_upload_cannot_transcribe_again(client_for, world, bob, status):
    call = world["call"]
    Call.objects.filter(pk=call.pk).update(status=status)
    client = client_for(bob)
    page = client.get(call.get_absolute_url()).content.decode()
    assert reverse("transcripts:call_retranscribe", args=[call.uuid]) not in page
    response = client.post(reverse("transcripts:call_retranscribe", args=[call.uuid]))
    assert response.status_code == 403
    call.refresh_from_db()
    assert call.status == status
    assert call.segments.count() == 1  # the transcript, corrections included, is kept


@pytest.mark.parametrize("status", [Call.Status.QUEUED, Call.Status.PROCESSING])
def test_a_member_who_did_not_upload_cannot_cancel(client_for, world, bob, status):
    call = world["call"]
    Call.objects.filter(pk=call.pk).update(status=status)
    client = client_for(bob)
    for url in (call.get_absolute_url(), reverse("transcripts:call_progress", args=[call.uuid])):
        assert (
            reverse("transcripts:call_cancel", args=[call.uuid])
            not in client.get(url).content.decode()
        )
    assert client.post(reverse("transcripts:call_cancel", args=[call.uuid])).status_code == 403
    call.refresh_from_db()
    assert call.status == status


@pytest.mark.parametrize("status", [Call.Status.QUEUED, Call.Status.PROCESSING])
def test_the_uploader_and_a_manager_see_cancel(client_for, world, acme, make_call, bob, status):
    bobs = make_call(acme, bob, status=status)
    for person in (bob, world["users"][MANAGER]):
        page = client_for(person).get(bobs.get_absolute_url()).content.decode()
        assert reverse("transcripts:call_cancel", args=[bobs.uuid]) in page


def test_the_uploader_may_transcribe_their_call_again(
    client_for, world, acme, make_call, bob, django_capture_on_commit_callbacks
):
    bobs = make_call(acme, bob, status=Call.Status.FAILED)
    client = client_for(bob)
    assert (
        reverse("transcripts:call_retranscribe", args=[bobs.uuid])
        in client.get(bobs.get_absolute_url()).content.decode()
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("transcripts:call_retranscribe", args=[bobs.uuid]))
    bobs.refresh_from_db()
    assert bobs.status == Call.Status.QUEUED
