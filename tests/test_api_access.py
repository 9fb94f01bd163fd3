"""Who reaches what in the API: every API URL, for five kinds of visitor.

Like tests/test_access.py, the matrix is checked against the URL configuration: a new API URL
that is not listed here fails. Outside one's teams everything is 404, as on the portal.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from api.models import WebhookDelivery, WebhookEndpoint
from tests.api_helpers import bearer
from transcripts.models import Call

# No credentials; logged in to the portal but without a token (the API takes tokens only, so a
# page cannot be made to call it with the browser's cookies); a token of someone in another
# team; tokens of a plain member and of a manager of the call's team.
ANON, NO_TOKEN, OUTSIDER, MEMBER, MANAGER = "anonymous", "no token", "outsider", "member", "manager"
VISITORS = [ANON, NO_TOKEN, OUTSIDER, MEMBER, MANAGER]

OURS = {ANON: 401, NO_TOKEN: 401, OUTSIDER: 404, MEMBER: 200, MANAGER: 200}
ANYONE_SIGNED_IN = {**OURS, OUTSIDER: 200}
MANAGERS = {**OURS, MEMBER: 403}
PUBLIC = {visitor: 200 for visitor in VISITORS}

# name -> [(method, data, expected)]; data is sent as JSON.
MATRIX = {
    "api:schema": [("get", None, PUBLIC)],
    "api:docs": [("get", None, PUBLIC)],
    "api:team-list": [("get", None, ANYONE_SIGNED_IN)],
    "api:team-detail": [("get", None, OURS)],
    "api:tracker-list": [("get", None, OURS)],
    "api:tracker-detail": [("get", None, OURS)],
    "api:call-list": [
        ("get", None, ANYONE_SIGNED_IN),
        # The outsider cannot name a team of someone else's: the form refuses the choice.
        (
            "post",
            {"team": "acme", "url": "https://recordings.example.com/a.mp3"},
            {**OURS, OUTSIDER: 400, MEMBER: 201, MANAGER: 201},
        ),
    ],
    "api:call-detail": [
        ("get", None, OURS),
        # Alice uploaded the call: Bob may rename the speakers, not the call.
        ("patch", {"title": "Renamed"}, {**OURS, MEMBER: 403}),
        ("patch", {"speaker_names": {"Rep": "Dana"}}, OURS),
        ("delete", None, {**OURS, MEMBER: 403, MANAGER: 204}),
    ],
    # As on the portal: the uploader's or a manager's (Alice's call; Bob is a plain member).
    "api:call-retranscribe": [("post", None, {**OURS, MEMBER: 403, MANAGER: 202})],
    # The call is done: there is nothing to cancel, but the manager gets past the access check.
    "api:call-cancel": [("post", None, {**OURS, MEMBER: 403, MANAGER: 409})],
    "api:call-transcript": [("get", None, OURS)],
    "api:call-analytics": [("get", None, OURS)],
    "api:call-tracker-hits": [("get", None, OURS)],
    "api:call-export": [("get", None, OURS)],
    "api:search": [("get", None, ANYONE_SIGNED_IN)],
    "api:webhook-list": [
        ("get", None, MANAGERS),
        ("post", {"url": "https://93.184.216.34/hook"}, {**MANAGERS, MANAGER: 201}),
    ],
    "api:webhook-detail": [
        ("get", None, MANAGERS),
        ("patch", {"is_active": False}, MANAGERS),
        ("delete", None, {**MANAGERS, MANAGER: 204}),
    ],
    "api:delivery-list": [("get", None, MANAGERS)],
    "api:delivery-detail": [("get", None, MANAGERS)],
    "api:delivery-resend": [("post", None, {**MANAGERS, MANAGER: 202})],
}


def api_url_names(patterns=None, namespace=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from api_url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name and namespace.startswith("api:"):
            yield f"{namespace}{pattern.name}"


def test_every_api_url_is_in_the_access_matrix():
    missing = sorted(set(api_url_names()) - set(MATRIX))
    assert not missing, f"Add these API URLs to the access matrix: {missing}"


@pytest.fixture
def world(acme, globex, alice, bob, charlie, dual_call):
    endpoint = WebhookEndpoint.objects.create(team=acme, url="https://93.184.216.34/hook")
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="call.done",
        payload={"type": "call.done"},
        status=WebhookDelivery.Status.FAILED,
    )
    return {
        "call": dual_call,
        "team": acme,
        "endpoint": endpoint,
        "delivery": delivery,
        "users": {NO_TOKEN: bob, OUTSIDER: charlie, MEMBER: bob, MANAGER: alice},
    }


def url_for(name: str, world) -> str:
    kwargs = {
        "uuid": world["call"].uuid,
        "slug": world["team"].slug,
        "team_slug": world["team"].slug,
    }
    if name.startswith("api:tracker-detail"):
        kwargs["pk"] = world["team"].trackers.first().pk
    elif name.startswith("api:webhook-detail"):
        kwargs["pk"] = world["endpoint"].pk
    elif name.startswith("api:delivery-") and name != "api:delivery-list":
        kwargs["pk"] = world["delivery"].pk
    from django.urls import NoReverseMatch

    for keys in ([], ["uuid"], ["slug"], ["team_slug"], ["team_slug", "pk"]):
        try:
            return reverse(name, kwargs={k: kwargs[k] for k in keys})
        except NoReverseMatch:
            continue
    raise AssertionError(f"Teach url_for how to build {name}")


CASES = [
    (name, number, visitor)
    for name, requests in sorted(MATRIX.items())
    for number in range(len(requests))
    for visitor in VISITORS
]


@pytest.mark.parametrize("name, number, visitor", CASES)
def test_each_visitor_gets_the_expected_answer(client, world, name, number, visitor):
    method, data, expected = MATRIX[name][number]
    headers = {}
    if visitor == NO_TOKEN:
        client.force_login(bob := world["users"][visitor], backend=_BACKEND)
        assert bob.api_tokens.count() == 0
    elif visitor != ANON:
        headers = bearer(world["users"][visitor])
    url = url_for(name, world)
    if name == "api:search":
        url += "?q=pricing"
    if data is None:
        response = getattr(client, method)(url, **headers)
    else:
        response = getattr(client, method)(url, data, content_type="application/json", **headers)
    assert response.status_code == expected[visitor], (
        f"{method.upper()} {url} as {visitor}: {response.status_code} {response.content[:300]!r}"
    )


_BACKEND = "django.contrib.auth.backends.ModelBackend"


def test_an_outsider_does_not_see_the_call_in_lists_or_search(client, world, charlie):
    headers = bearer(charlie)
    listed = client.get(reverse("api:call-list"), **headers).json()
    assert listed["results"] == []
    found = client.get(reverse("api:search") + "?q=pricing", **headers).json()
    assert found["results"] == []
    assert (
        str(world["call"].uuid)
        not in client.get(reverse("api:team-list"), **headers).content.decode()
    )


def test_an_unauthenticated_request_is_told_to_use_a_bearer_token(client, world):
    response = client.get(reverse("api:call-list"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert Call.objects.count() == 1
