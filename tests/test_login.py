"""Logging in with a username or an e-mail address, in any case; failures count per account."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from tests.conftest import PASSWORD, make_user
from transcripts.auth import account_for_login
from transcripts.forms import ACCOUNT_NOT_MADE, InvitedAccountForm, UniqueEmailUserChangeForm


@pytest.fixture
def dana(acme):
    return make_user("Dana", acme, email="Dana.Lee@Example.com")


def logged_in_as(client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id).get_username() if user_id else None


@pytest.mark.parametrize(
    "typed", ["Dana", "dana", "DANA", "dana.lee@example.com", " Dana.Lee@EXAMPLE.com "]
)
def test_a_person_logs_in_with_their_username_or_address_in_any_case(client, dana, typed):
    response = client.post(reverse("login"), {"username": typed, "password": PASSWORD})
    assert response.status_code == 302
    assert logged_in_as(client) == "Dana"


def test_a_wrong_password_fails_whatever_the_name(client, dana):
    for typed in ["Dana", "dana.lee@example.com"]:
        response = client.post(reverse("login"), {"username": typed, "password": "guess"})
        assert response.status_code == 200
        assert logged_in_as(client) is None


def test_an_exact_username_wins_over_another_case(db):
    make_user("sam")
    upper = make_user("Sam")
    assert account_for_login("Sam") == upper
    # "SAM" could be either: it names nobody.
    assert account_for_login("SAM") is None


def test_an_address_two_accounts_share_logs_in_neither(client, db):
    make_user("one", email="shared@example.com")
    make_user("two", email="SHARED@example.com")
    client.post(reverse("login"), {"username": "shared@example.com", "password": PASSWORD})
    assert logged_in_as(client) is None


def test_failures_count_against_the_account_however_it_is_named(client, dana, settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    for typed in ["Dana", "dana.lee@example.com", "DANA"]:
        client.post(reverse("login"), {"username": typed, "password": "guess"})
    response = client.post(reverse("login"), {"username": "Dana", "password": PASSWORD})
    assert response.status_code == 429
    assert logged_in_as(client) is None


def test_an_invited_account_cannot_take_an_address_already_in_use(dana):
    form = InvitedAccountForm(
        {"username": "dana2", "password1": "a long pass phrase", "password2": "a long pass phrase"},
        email="dana.lee@example.com",
    )
    assert not form.is_valid()
    assert form.non_field_errors() == [ACCOUNT_NOT_MADE]


def test_the_admin_refuses_an_address_another_account_uses(dana, bob):
    data = {
        "username": "bob",
        "email": "DANA.LEE@example.com",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    form = UniqueEmailUserChangeForm(data, instance=bob)
    assert not form.is_valid()
    assert "Another account already uses this address." in form.errors["email"]


def test_the_check_warns_about_shared_addresses(db, capsys):
    make_user("one", email="shared@example.com")
    make_user("two", email="Shared@Example.com")
    call_command("check")
    assert "transcripts.W001" in capsys.readouterr().err
