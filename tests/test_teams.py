"""Teams run from the portal: starting one, renaming it, roles, and the manager a team keeps."""

import pytest
from django.urls import reverse

from transcripts import services
from transcripts.models import Membership, Team


def test_anyone_starts_a_team_and_manages_it(client_for, charlie):
    response = client_for(charlie).post(
        reverse("transcripts:team_list"), {"name": " Initech  Sales"}
    )
    team = Team.objects.get(name="Initech Sales")
    assert response.status_code == 302 and response["Location"] == team.get_absolute_url()
    assert team.slug == "initech-sales"
    assert team.is_manager(charlie)
    assert team.trackers.count() == 3  # the default trackers, as for every new team


def test_a_team_gets_a_free_slug_and_never_the_switch_url(db, alice):
    # Acme's slug is "acme" already.
    first = services.team_create(name="Acme", user=alice)
    second = services.team_create(name="Acme", user=alice)
    assert (first.slug, second.slug) == ("acme-2", "acme-3")
    assert services.team_create(name="Switch", user=alice).slug == "switch-2"


def test_a_slug_taken_at_the_same_moment_goes_on_to_the_next(db, alice, acme, monkeypatch):
    # As if another request had made "Acme" between this one's look and its insert.
    monkeypatch.setattr(services, "slugs_taken", lambda base: set())
    assert services.team_create(name="Acme", user=alice).slug == "acme-2"


def test_only_staff_start_teams_when_the_setting_says_so(client_for, settings, charlie, staff):
    settings.TEAM_CREATION = "staff"
    url = reverse("transcripts:team_list")
    page = client_for(charlie).get(url).content.decode()
    assert 'id="team-create"' not in page
    assert client_for(charlie).post(url, {"name": "Mine"}).status_code == 403
    assert client_for(staff).post(url, {"name": "Ops"}).status_code == 302
    assert list(Team.objects.filter(name__in=["Mine", "Ops"]).values_list("name", flat=True)) == [
        "Ops"
    ]


def test_a_team_needs_a_name(client_for, charlie):
    response = client_for(charlie).post(reverse("transcripts:team_list"), {"name": "   "})
    assert response.status_code == 400
    assert not Team.objects.filter(memberships__user=charlie).exclude(slug="globex").exists()


def test_a_manager_renames_the_team_and_its_links_stay(client_for, alice, acme):
    url = reverse("transcripts:team_rename", args=["acme"])
    response = client_for(alice).post(url, {"name": "Acme EMEA"})
    assert response.status_code == 302
    acme.refresh_from_db()
    assert (acme.name, acme.slug) == ("Acme EMEA", "acme")


def test_a_manager_makes_a_member_manager_and_back(client_for, alice, bob, acme):
    membership = bob.memberships.get(team=acme)
    url = reverse("transcripts:member_role", args=["acme", membership.pk])
    client = client_for(alice)
    client.post(url, {"role": "manager"})
    assert acme.is_manager(bob)
    client.post(url, {"role": "member"})
    assert not acme.is_manager(bob)


def test_an_unknown_role_changes_nothing(client_for, alice, bob, acme):
    membership = bob.memberships.get(team=acme)
    url = reverse("transcripts:member_role", args=["acme", membership.pk])
    client_for(alice).post(url, {"role": "owner"})
    membership.refresh_from_db()
    assert membership.role == Membership.Role.MEMBER


@pytest.mark.parametrize("action", ["demote", "remove"])
def test_the_last_manager_stays_and_is_told_the_way_out(client_for, alice, bob, acme, action):
    membership = alice.memberships.get(team=acme)
    client = client_for(alice)
    if action == "demote":
        url = reverse("transcripts:member_role", args=["acme", membership.pk])
        response = client.post(url, {"role": "member"}, follow=True)
    else:
        url = reverse("transcripts:member_remove", args=["acme", membership.pk])
        response = client.post(url, follow=True)
    page = response.content.decode()
    assert "make another member manager first" in page
    assert Membership.objects.get(pk=membership.pk).role == Membership.Role.MANAGER
    # Once Bob manages too, Alice may step down.
    services.member_set_role(membership=bob.memberships.get(team=acme), role="manager")
    services.member_set_role(membership=membership, role="member")
    assert not acme.is_manager(alice) and acme.is_manager(bob)


def test_the_only_manager_sees_the_rule_before_trying(client_for, alice, acme):
    page = client_for(alice).get(acme.get_absolute_url()).content.decode()
    assert 'id="only-manager"' in page


def test_members_see_roles_but_no_controls(client_for, alice, bob, acme):
    page = client_for(bob).get(acme.get_absolute_url()).content.decode()
    assert "Manager" in page
    assert "role-form" not in page and "team-rename" not in page


@pytest.mark.parametrize("selected", ["", "acme"])
def test_the_team_link_is_on_every_page_whichever_team_is_selected(client_for, bob, selected):
    client = client_for(bob)
    client.post(reverse("transcripts:team_switch"), {"team": selected})
    for name in ["transcripts:call_list", "transcripts:search", "transcripts:dashboard"]:
        page = client.get(reverse(name)).content.decode()
        expected = f"/teams/{selected}/" if selected else reverse("transcripts:team_list")
        assert f'href="{expected}" id="nav-team"' in page, name


def test_the_teams_page_lists_ones_teams_with_the_role(client_for, alice, acme):
    page = client_for(alice).get(reverse("transcripts:team_list")).content.decode()
    assert "Acme Sales" in page and "manager" in page
