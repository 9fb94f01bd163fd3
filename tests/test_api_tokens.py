"""Personal API tokens: only a hash is kept, they can be revoked or expire, and a person's
tokens share one rate limit."""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from api.authentication import TokenRateThrottle
from api.models import ApiToken

LIST = "/api/v1/calls/"


def auth(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_only_a_hash_of_the_token_is_stored(alice):
    token, secret = ApiToken.issue(alice, "dialer")
    token.refresh_from_db()
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = [str(value) for value in ApiToken.objects.values().get().values()]
    assert secret not in stored
    assert token.prefix == secret[:10]


def test_a_token_works_as_its_owner(client, alice, dual_call):
    _, secret = ApiToken.issue(alice, "dialer")
    response = client.get(LIST, **auth(secret))
    assert response.status_code == 200
    assert [call["id"] for call in response.json()["results"]] == [str(dual_call.uuid)]


def test_it_refuses_a_wrong_token(client, alice):
    _, secret = ApiToken.issue(alice, "dialer")
    assert client.get(LIST, **auth(secret + "x")).status_code == 401
    assert client.get(LIST, HTTP_AUTHORIZATION=f"Token {secret}").status_code == 401


def test_a_revoked_token_stops_working(client, client_for, alice):
    token, secret = ApiToken.issue(alice, "dialer")
    assert client.get(LIST, **auth(secret)).status_code == 200
    page = client_for(alice)
    response = page.post(reverse("profile:token_revoke", args=[token.pk]))
    assert response.status_code == 302
    page.logout()
    assert client.get(LIST, **auth(secret)).status_code == 401
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_an_expired_token_stops_working(client, alice):
    _, secret = ApiToken.issue(alice, "dialer", expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(LIST, **auth(secret)).status_code == 401


def test_the_token_of_a_deactivated_account_stops_working(client, alice):
    _, secret = ApiToken.issue(alice, "dialer")
    alice.is_active = False
    alice.save()
    assert client.get(LIST, **auth(secret)).status_code == 401


def test_it_records_when_a_token_was_last_used(client, alice):
    token, secret = ApiToken.issue(alice, "dialer")
    assert token.last_used_at is None
    client.get(LIST, **auth(secret))
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_the_profile_page_shows_a_new_token_once(client_for, alice, client):
    page = client_for(alice)
    response = page.post(
        reverse("profile:token_create"), {"name": "Aircall export", "expires_in_days": "30"}
    )
    assert response.status_code == 302
    token = ApiToken.objects.get(user=alice)
    assert token.name == "Aircall export"
    assert token.expires_at > timezone.now() + timedelta(days=29)
    shown = page.get(reverse("profile:detail")).content.decode()
    secret = shown.split('id="token-secret"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert secret.startswith("cs_") and ApiToken.find(secret) == token
    again = page.get(reverse("profile:detail")).content.decode()
    assert secret not in again
    assert token.prefix in again


def test_the_command_prints_a_token_that_works(client, alice):
    out = StringIO()
    call_command("create_api_token", "alice", "--name", "CRM sync", stdout=out)
    secret = out.getvalue().strip()
    assert ApiToken.objects.get().name == "CRM sync"
    assert client.get(LIST, **auth(secret)).status_code == 200


def test_a_person_has_at_most_the_set_number_of_working_tokens(client_for, alice, settings):
    settings.API_TOKENS_PER_PERSON = 2
    first, _ = ApiToken.issue(alice, "CRM")
    ApiToken.issue(alice, "Dialer")
    page = client_for(alice)
    response = page.post(reverse("profile:token_create"), {"name": "Third"}, follow=True)
    assert "You have 2 tokens that work" in response.content.decode()
    assert "new_api_token" not in page.session
    with pytest.raises(CommandError, match="revoke one you no longer use"):
        call_command("create_api_token", "alice", "--name", "Third", stdout=StringIO())
    assert alice.api_tokens.count() == 2
    # Revoked and expired tokens do not count.
    first.revoke()
    ApiToken.objects.filter(name="Dialer").update(expires_at=timezone.now())
    page.post(reverse("profile:token_create"), {"name": "Third"})
    ApiToken.issue(alice, "Fourth")
    assert set(ApiToken.objects.filter(user=alice).usable().values_list("name", flat=True)) == {
        "Third",
        "Fourth",
    }


def test_a_persons_tokens_share_one_limit_in_every_process(client, alice, bob, monkeypatch):
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/minute"})
    shared = caches["shared"]
    shared.clear()
    _, first = ApiToken.issue(alice, "busy script")
    _, second = ApiToken.issue(alice, "another script")
    answers = [client.get(LIST, **auth(first)).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    # Another token of hers gets no more; another person is not held back.
    assert client.get(LIST, **auth(second)).status_code == 429
    _, bobs = ApiToken.issue(bob, "bob's script")
    assert client.get(LIST, **auth(bobs)).status_code == 200
    # Counted where every web process counts (the database), not in this one's memory.
    caches["default"].clear()
    assert client.get(LIST, **auth(first)).status_code == 429
    shared.clear()


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b"])
def test_a_malformed_header_is_refused(client, alice, header):
    assert client.get(LIST, HTTP_AUTHORIZATION=header).status_code == 401
