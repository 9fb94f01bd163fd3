"""Resetting a forgotten password by e-mail, in the site's layout."""

import re

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from transcripts.models import Profile

RESET_LINK = re.compile(r"https?://[^/\s]+(/accounts/reset/\S+/)")
NEW = {"new_password1": "a brand new passphrase", "new_password2": "a brand new passphrase"}


def request_reset(client, address: str):
    return client.post(reverse("password_reset"), {"email": address})


def test_the_login_page_offers_a_reset(client, db):
    page = client.get(reverse("login")).content.decode()
    assert f'href="{reverse("password_reset")}" id="forgot-password"' in page


def test_it_resets_a_password_through_the_emailed_link(client, alice):
    alice.email = "alice@acme.example"
    alice.save()
    response = request_reset(client, "ALICE@acme.example")
    assert response["Location"] == reverse("password_reset_done")
    (message,) = mail.outbox
    assert message.to == ["alice@acme.example"] and message.subject == "Your callscribe password"
    link = RESET_LINK.search(message.body).group(1)
    form_url = client.get(link)["Location"]
    page = client.get(form_url).content.decode()
    assert "Choose your password" in page and 'class="topbar"' in page
    assert client.post(form_url, NEW)["Location"] == reverse("password_reset_complete")
    assert Client().login(username="alice", password=NEW["new_password1"])
    # The link reached the address, so the address is Alice's.
    assert Profile.has_verified_email(alice)
    # And it works once.
    assert "This link has expired" in Client().get(link, follow=True).content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, alice):
    response = request_reset(client, "nobody@acme.example")
    assert response["Location"] == reverse("password_reset_done")
    assert not mail.outbox
    assert "If an account uses that address" in client.get(response["Location"]).content.decode()


def test_an_account_that_never_had_a_password_can_get_one(client, db):
    # People added by a manager before invitations existed have no usable password.
    user = get_user_model().objects.create_user(username="dana", email="dana@acme.example")
    assert not user.has_usable_password()
    request_reset(client, "dana@acme.example")
    assert len(mail.outbox) == 1


def test_the_old_set_password_links_no_longer_work(client, db):
    """A manager was shown these for new members: the link must not give him the account."""
    user = get_user_model().objects.create_user(username="dana", email="dana@acme.example")
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    old = reverse("password_reset_confirm", args=[uid, default_token_generator.make_token(user)])
    page = client.get(old, follow=True).content.decode()
    assert "This link has expired" in page
    assert not Profile.has_verified_email(user)


def test_the_new_password_page_names_the_account_and_its_teams(client, alice):
    alice.email = "alice@acme.example"
    alice.save()
    request_reset(client, "alice@acme.example")
    link = RESET_LINK.search(mail.outbox[0].body).group(1)
    page = client.get(client.get(link)["Location"]).content.decode()
    assert 'For the account <span class="account-name">alice</span>' in page
    assert "<strong>Acme Sales</strong>" in page
