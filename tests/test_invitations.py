"""Invitations: how people join a team, and the account pre-hijacking of issue 9 they stop.

Nobody joins a team without accepting; an address is verified only by a link sent to it; a
copied link joins only a new account or the address's verified owner; "invite" answers the same
whether or not the address has an account.
"""

import re
from datetime import timedelta
from html import unescape
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.conftest import make_user
from transcripts.forms import ACCOUNT_NOT_MADE
from transcripts.models import Invitation, Membership, Profile, Team

LINK = re.compile(r"https?://[^/\s]+(/invitations/[\w-]+/)")
NEW_PASSWORD = "another long passphrase"


@pytest.fixture
def invite(client_for, django_capture_on_commit_callbacks):
    """`manager` invites `email` to `team`; returns the e-mailed link and the copyable one."""

    def send(manager, team, email: str, role: str = "member"):
        client = client_for(manager)
        sent_before = len(mail.outbox)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("transcripts:invitation_create", args=[team.slug]),
                {"email": email, "role": role},
            )
        assert response.status_code == 302, response
        page = client.get(team.get_absolute_url()).content.decode()
        copied = re.search(r'value="([^"]+)" id="invitation-link"', page)
        assert len(mail.outbox) == sent_before + 1
        emailed = LINK.search(mail.outbox[-1].body).group(1)
        return emailed, LINK.search(copied.group(1)).group(1)

    return send


def flash(response) -> list[str]:
    return [str(message) for message in response.wsgi_request._messages]


def create_account(client, link: str, username: str):
    return client.post(
        link, {"username": username, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )


def log_in(username: str, password: str = NEW_PASSWORD) -> Client:
    client = Client()
    response = client.post(reverse("login"), {"username": username, "password": password})
    assert response.status_code == 302, f"{username} could not log in"
    return client


@pytest.fixture
def greta(globex):
    """Globex's manager."""
    return make_user("greta", globex, role="manager", email="greta@globex.example")


def test_the_carol_attack_no_longer_lets_a_manager_into_another_team(
    invite, alice, acme, globex, greta, make_call, client_for
):
    globex_call = make_call(globex, greta, title="Globex pricing call")
    # 1. Alice, Acme's manager, invites carol@ and opens the copied link herself.
    _, copied = invite(alice, acme, "carol@corp.example")
    attacker = Client()
    assert 'data-decision="create_account"' in attacker.get(copied).content.decode()
    assert create_account(attacker, copied, "carol").status_code == 302
    carol = get_user_model().objects.get(username="carol")
    assert carol.email == "carol@corp.example" and not Profile.has_verified_email(carol)

    # 2. Globex invites the same address: nobody joins until someone accepts.
    emailed, globex_copied = invite(greta, globex, "Carol@corp.example")
    assert mail.outbox[-1].to == ["carol@corp.example"]
    assert not globex.memberships.filter(user=carol).exists()
    # The attacker, logged in as the account she made, cannot use a copied link...
    page = attacker.get(globex_copied)
    assert 'data-decision="confirm_address"' in page.content.decode()
    assert attacker.post(globex_copied).status_code == 400
    assert not globex.memberships.filter(user=carol).exists()
    assert attacker.get(globex_call.get_absolute_url()).status_code == 404

    # 3. The real Carol opens the e-mailed link: she may not make a second account with her
    # address, and is offered to take the account over by e-mail. (Logged out, the page is
    # the same whether or not the address has an account: see the tests of the probe below.)
    real_carol = Client()
    page = real_carol.get(emailed).content.decode()
    assert 'data-decision="create_account"' in page and reverse("password_reset") in page
    response = create_account(real_carol, emailed, "realcarol")
    assert response.status_code == 400 and ACCOUNT_NOT_MADE in response.content.decode()
    assert not get_user_model().objects.filter(username="realcarol").exists()
    real_carol.post(reverse("password_reset"), {"email": "carol@corp.example"})
    reset_link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[-1].body)
    form_url = real_carol.get(reset_link.group(1))["Location"]
    real_carol.post(
        form_url, {"new_password1": "carols own secret", "new_password2": "carols own secret"}
    )
    carol.refresh_from_db()
    assert Profile.has_verified_email(carol)
    # The attacker's session ended with the password she knew.
    assert attacker.get(reverse("transcripts:call_list")).status_code == 302

    # 4. Carol logs in and accepts: only now is the account in Globex, and it is hers.
    real_carol = log_in("carol", "carols own secret")
    assert real_carol.post(emailed).status_code == 302
    assert globex.memberships.filter(user=carol, role=Membership.Role.MEMBER).exists()
    assert real_carol.get(globex_call.get_absolute_url()).status_code == 200
    assert (
        Client().post(reverse("login"), {"username": "carol", "password": NEW_PASSWORD}).status_code
        == 200
    )


def test_inviting_answers_the_same_whether_or_not_the_address_has_an_account(
    client_for, alice, acme, staff, django_capture_on_commit_callbacks
):
    staff.email = "olivia@corp.example"
    staff.save()
    client = client_for(alice)
    answers = []
    for address in ("olivia@corp.example", "nobody@corp.example"):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("transcripts:invitation_create", args=["acme"]),
                {"email": address, "role": "manager"},
            )
        page = client.get(acme.get_absolute_url()).content.decode()
        answers.append(
            (
                response.status_code,
                response["Location"],
                [m.replace(address, "ADDRESS") for m in flash(response)],
                page.replace(address, "ADDRESS").count("ADDRESS"),
            )
        )
    assert answers[0] == answers[1]
    assert answers[0][2] == ["Invitation sent to ADDRESS."]
    assert [message.to for message in mail.outbox] == [
        ["olivia@corp.example"],
        ["nobody@corp.example"],
    ]
    # The superuser was not pulled into the team: she is only invited.
    assert not acme.memberships.filter(user=staff).exists()


def same_page(page: str, address: str, link: str) -> str:
    """The page with what differs by design (the address, the link, the CSRF token) blanked."""
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", page)
    page = re.sub(r'"X-CSRFToken": "[^"]+"', "CSRF", page)
    return (
        page.replace(link, "LINK").replace(quote(link, safe=""), "LINK").replace(address, "ADDRESS")
    )


def test_the_copied_link_does_not_tell_whether_the_address_has_an_account(
    invite, client_for, alice, charlie, staff
):
    """Anyone may start a team and invite any address, and is shown the copied link: opened
    logged out, it must not tell them whether the address has an account."""
    staff.email = "olivia@corp.example"
    staff.save()
    response = client_for(charlie).post(reverse("transcripts:team_list"), {"name": "Probe"})
    probe = Team.objects.get(slug=response["Location"].strip("/").split("/")[-1])
    pages = []
    for address in ("olivia@corp.example", "nobody@corp.example"):
        _, copied = invite(charlie, probe, address)
        response = Client().get(copied)
        assert response.status_code == 200
        pages.append(same_page(response.content.decode(), address, copied))
    assert pages[0] == pages[1]
    # The one page offers both: a new account, or logging in to the one the address has.
    assert 'data-decision="create_account"' in pages[0]
    assert 'id="invitation-create-account"' in pages[0] and 'id="invitation-log-in"' in pages[0]
    assert "An account already uses" not in pages[0]


def test_the_account_form_refuses_a_taken_address_only_where_it_would_make_the_account(
    invite, alice, acme, staff
):
    staff.email = "olivia@corp.example"
    staff.save()
    answers = []
    for address in ("olivia@corp.example", "nobody@corp.example"):
        _, copied = invite(alice, acme, address)
        # A form with mistakes is answered the same way for both addresses...
        response = Client().post(
            copied, {"username": "probe", "password1": NEW_PASSWORD, "password2": "typo"}
        )
        assert response.status_code == 400
        answers.append(same_page(response.content.decode(), address, copied))
    assert answers[0] == answers[1] and ACCOUNT_NOT_MADE not in answers[0]
    # ...and a right one makes no second account: the person is told to log in instead.
    _, copied = invite(alice, acme, "olivia@corp.example")
    response = create_account(Client(), copied, "olivia2")
    assert response.status_code == 400
    assert ACCOUNT_NOT_MADE in response.content.decode()
    assert not get_user_model().objects.filter(username="olivia2").exists()
    assert not acme.memberships.filter(user=staff).exists()


def test_someone_with_an_account_logs_in_from_the_page_and_joins(invite, alice, acme, staff):
    staff.email = "olivia@corp.example"
    staff.set_password(NEW_PASSWORD)
    staff.save()
    emailed, _ = invite(alice, acme, "olivia@corp.example")
    client = Client()
    page = client.get(emailed).content.decode()
    log_in_url = unescape(re.search(r'id="invitation-log-in" href="([^"]+)"', page).group(1))
    response = client.post(
        log_in_url, {"username": "olivia@corp.example", "password": NEW_PASSWORD}
    )
    # Back to the invitation, now as the account the address has.
    assert response["Location"] == emailed
    assert 'data-decision="accept"' in client.get(emailed).content.decode()
    assert client.post(emailed)["Location"] == acme.get_absolute_url()
    assert acme.memberships.filter(user=staff).exists()


@pytest.mark.parametrize("typed", ["olivia", "no-such-user"])
def test_a_username_is_refused_the_same_way_whether_it_exists_or_not(
    client_for, alice, acme, staff, typed
):
    response = client_for(alice).post(
        reverse("transcripts:invitation_create", args=["acme"]), {"email": typed, "role": "member"}
    )
    assert flash(response) == ["Give the e-mail address of the person to invite."]
    assert not Invitation.objects.exists()
    assert not acme.memberships.filter(user=staff).exists()


def test_an_existing_verified_user_joins_only_by_accepting(invite, alice, acme, staff, client_for):
    staff.email = "olivia@corp.example"
    staff.save()
    Profile.verify_email(staff)
    _, copied = invite(alice, acme, "olivia@corp.example", role="manager")
    client = client_for(staff)
    page = client.get(copied).content.decode()
    assert 'data-decision="accept"' in page and "Join Acme Sales as olivia" in page
    assert not acme.memberships.filter(user=staff).exists()
    response = client.post(copied)
    assert response["Location"] == acme.get_absolute_url()
    assert acme.memberships.get(user=staff).role == Membership.Role.MANAGER


def test_the_emailed_link_verifies_the_address_of_a_new_account(invite, alice, acme):
    emailed, _ = invite(alice, acme, "dave@corp.example")
    client = Client()
    assert create_account(client, emailed, "dave").status_code == 302
    dave = get_user_model().objects.get(username="dave")
    assert Profile.has_verified_email(dave)
    assert acme.memberships.filter(user=dave).exists()
    # Logged in as Dave straight away.
    assert client.get(acme.get_absolute_url()).status_code == 200


def test_a_copied_link_makes_an_unverified_account(invite, alice, acme):
    _, copied = invite(alice, acme, "dave@corp.example")
    assert create_account(Client(), copied, "dave").status_code == 302
    dave = get_user_model().objects.get(username="dave")
    assert acme.memberships.filter(user=dave).exists()
    assert not Profile.has_verified_email(dave)


def test_an_unverified_owner_who_opens_the_emailed_link_accepts_and_is_verified(
    invite, alice, acme, globex, greta, client_for
):
    dave = make_user("dave", email="dave@corp.example")
    emailed, _ = invite(greta, globex, "dave@corp.example")
    client = client_for(dave)
    assert 'data-decision="accept"' in client.get(emailed).content.decode()
    assert client.post(emailed).status_code == 302
    assert globex.memberships.filter(user=dave).exists()
    assert Profile.has_verified_email(dave)


def test_someone_logged_in_with_another_address_cannot_accept(invite, alice, acme, bob, client_for):
    emailed, copied = invite(alice, acme, "dave@corp.example")
    client = client_for(bob)
    for link in (emailed, copied):
        assert 'data-decision="other_account"' in client.get(link).content.decode()
        assert client.post(link).status_code == 400
    assert Invitation.objects.get().accepted_at is None


def test_a_link_works_once(invite, alice, acme):
    emailed, copied = invite(alice, acme, "dave@corp.example")
    assert create_account(Client(), emailed, "dave").status_code == 302
    for link in (emailed, copied):
        response = Client().get(link)
        assert response.status_code == 410
        assert "This invitation is no longer valid" in response.content.decode()
    assert create_account(Client(), copied, "dave2").status_code == 410
    assert not get_user_model().objects.filter(username="dave2").exists()


def test_an_expired_link_is_refused(invite, alice, acme):
    emailed, _ = invite(alice, acme, "dave@corp.example")
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(emailed).status_code == 410
    assert create_account(Client(), emailed, "dave").status_code == 410
    assert not get_user_model().objects.filter(username="dave").exists()


def test_an_unknown_link_is_not_found(db, client):
    assert client.get(reverse("transcripts:invitation_accept", args=["made-up"])).status_code == 404


def test_a_manager_revokes_an_invitation(invite, alice, acme, client_for):
    emailed, copied = invite(alice, acme, "dave@corp.example")
    invitation = Invitation.objects.get()
    url = reverse("transcripts:invitation_revoke", args=["acme", invitation.pk])
    assert client_for(alice).post(url).status_code == 302
    for link in (emailed, copied):
        assert Client().get(link).status_code == 410
    assert 'data-invitation="dave@corp.example"' not in (
        client_for(alice).get(acme.get_absolute_url()).content.decode()
    )


def test_sending_again_replaces_the_links_and_renews_the_expiry(
    invite, alice, acme, client_for, django_capture_on_commit_callbacks
):
    old_emailed, old_copied = invite(alice, acme, "dave@corp.example")
    invitation = Invitation.objects.get()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(days=1))
    page = client_for(alice).get(acme.get_absolute_url()).content.decode()
    assert "(expired)" in page  # listed, so that it can be sent again
    with django_capture_on_commit_callbacks(execute=True):
        client_for(alice).post(
            reverse("transcripts:invitation_resend", args=["acme", invitation.pk])
        )
    new_emailed = LINK.search(mail.outbox[-1].body).group(1)
    assert new_emailed != old_emailed
    # Only hashes of the links are kept: replaced ones are simply unknown.
    for link in (old_emailed, old_copied):
        response = Client().get(link)
        assert response.status_code == 404
        assert "This invitation is no longer valid" in response.content.decode()
    assert Client().get(new_emailed).status_code == 200
    assert Invitation.objects.count() == 1


def test_inviting_an_address_again_renews_its_invitation(invite, alice, acme):
    first, _ = invite(alice, acme, "dave@corp.example")
    second, _ = invite(alice, acme, "DAVE@corp.example", role="manager")
    assert Invitation.objects.get().role == "manager"
    assert Client().get(first).status_code == 404
    assert Client().get(second).status_code == 200


def test_pending_invitations_are_listed_for_managers_only(invite, alice, bob, acme, client_for):
    invite(alice, acme, "dave@corp.example")
    page = client_for(alice).get(acme.get_absolute_url()).content.decode()
    assert 'data-invitation="dave@corp.example"' in page
    member_page = client_for(bob).get(acme.get_absolute_url()).content.decode()
    assert "dave@corp.example" not in member_page and 'id="invitation-form"' not in member_page


def test_a_manager_cannot_touch_another_teams_invitations(invite, greta, globex, alice, client_for):
    invite(greta, globex, "dave@corp.example")
    invitation = Invitation.objects.get()
    for name in ("invitation_resend", "invitation_revoke"):
        url = reverse(f"transcripts:{name}", args=["acme", invitation.pk])
        assert client_for(alice).post(url).status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_the_invitation_email_names_the_team_and_the_inviter(invite, alice, acme):
    emailed, _ = invite(alice, acme, "dave@corp.example")
    message = mail.outbox[-1]
    assert message.subject == "Join Acme Sales on callscribe"
    assert "alice invites you to join the team Acme Sales" in message.body
    assert message.from_email == "callscribe <callscribe@localhost>"
    assert emailed in message.body


def test_an_address_already_in_the_team_is_not_invited(client_for, alice, bob, acme):
    bob.email = "bob@corp.example"
    bob.save()
    response = client_for(alice).post(
        reverse("transcripts:invitation_create", args=["acme"]),
        {"email": "bob@corp.example", "role": "member"},
    )
    assert flash(response) == [
        "Someone with the address bob@corp.example is already in Acme Sales."
    ]
    assert not mail.outbox and not Invitation.objects.exists()


def test_the_pages_name_the_account_and_the_team(invite, alice, acme, staff, client_for):
    emailed, _ = invite(alice, acme, "dave@corp.example")
    page = Client().get(emailed).content.decode()
    assert "Join Acme Sales" in page and "your account in <strong>Acme Sales</strong>" in page
    staff.email = "olivia@corp.example"
    staff.save()
    Profile.verify_email(staff)
    _, copied = invite(alice, acme, "olivia@corp.example")
    page = client_for(staff).get(copied).content.decode()
    assert 'You are logged in as <span class="account-name">olivia</span>' in page


def test_the_copied_link_sits_in_a_full_width_field_with_a_copy_button(invite, alice, acme):
    invite(alice, acme, "dave@corp.example")
    # invite() read the link off the page once: it is shown only then.
    client = Client()
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    client.post(
        reverse("transcripts:invitation_create", args=[acme.slug]),
        {"email": "erin@corp.example", "role": "member"},
    )
    page = client.get(acme.get_absolute_url()).content.decode()
    assert 'id="invitation-link" class="wide"' in page
    assert 'data-copy="invitation-link"' in page


def test_an_invited_person_then_logs_in_with_the_address(invite, alice, acme):
    emailed, _ = invite(alice, acme, "dave@corp.example")
    create_account(Client(), emailed, "dave")
    assert log_in("DAVE@corp.example").get(acme.get_absolute_url()).status_code == 200
