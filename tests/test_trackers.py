"""Keyword trackers: every team starts with some, members manage them, and calls are searched
again when they change."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from transcripts import tasks
from transcripts.models import DEFAULT_TRACKERS, Team, Tracker


def test_a_new_team_starts_with_the_default_trackers(db):
    team = Team.objects.create(name="Initech", slug="initech")
    assert sorted(team.trackers.values_list("name", flat=True)) == sorted(DEFAULT_TRACKERS)
    assert "discount" in team.trackers.get(name="Pricing").phrases


def test_the_first_team_of_ensure_admin_has_trackers(db, monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "a long enough password")
    call_command("ensure_admin", team="Sales")
    assert Team.objects.get(slug="sales").trackers.count() == len(DEFAULT_TRACKERS)


def test_members_see_their_teams_trackers(client_for, bob, acme):
    page = client_for(bob).get(reverse("transcripts:tracker_list", args=["acme"])).content
    assert b'data-tracker="Competitors"' in page and b"per user" in page


def test_a_manager_adds_a_tracker(client_for, alice, acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(alice).post(
            reverse("transcripts:tracker_list", args=["acme"]),
            {"name": "  Security ", "phrases": "SOC 2\nsecurity review, GDPR\n\nsoc 2"},
        )
    assert response.status_code == 302
    tracker = acme.trackers.get(name="Security")
    assert tracker.phrases == ["SOC 2", "security review", "GDPR"]
    acme.refresh_from_db()
    assert acme.trackers_changed_at is not None
    assert len(callbacks) == 1  # past calls are queued to be searched again


def test_tracker_names_are_unique_in_a_team_whatever_the_case(client_for, alice, acme):
    response = client_for(alice).post(
        reverse("transcripts:tracker_list", args=["acme"]), {"name": "pricing", "phrases": "fee"}
    )
    assert response.status_code == 400
    assert "The team already has a tracker with this name." in response.content.decode()


def test_a_tracker_needs_a_phrase(client_for, alice, acme):
    response = client_for(alice).post(
        reverse("transcripts:tracker_list", args=["acme"]), {"name": "Empty", "phrases": " , \n"}
    )
    assert response.status_code == 400
    assert "Give at least one word or phrase." in response.content.decode()


def test_a_manager_edits_a_tracker(client_for, alice, acme):
    tracker = acme.trackers.get(name="Competitors")
    url = reverse("transcripts:tracker_edit", args=["acme", tracker.pk])
    client = client_for(alice)
    assert "competitor\ncompetitors" in client.get(url).content.decode()
    response = client.post(url, {"name": "Competition", "phrases": "Gong\nChorus"})
    assert response.status_code == 302
    tracker.refresh_from_db()
    assert (tracker.name, tracker.phrases) == ("Competition", ["Gong", "Chorus"])


def test_a_manager_deletes_a_tracker(client_for, alice, acme, dual_call):
    tracker = acme.trackers.get(name="Pricing")
    assert dual_call.tracker_hits.filter(tracker=tracker).exists()
    response = client_for(alice).post(
        reverse("transcripts:tracker_delete", args=["acme", tracker.pk])
    )
    assert response.status_code == 302
    assert not Tracker.objects.filter(pk=tracker.pk).exists()
    assert not dual_call.tracker_hits.filter(tracker_id=tracker.pk).exists()


def test_a_member_sees_the_trackers_read_only(client_for, bob, acme):
    page = client_for(bob).get(reverse("transcripts:tracker_list", args=["acme"])).content.decode()
    assert 'data-tracker="Pricing"' in page
    assert 'id="trackers-read-only"' in page
    assert 'id="tracker-form"' not in page and "tracker-edit-" not in page


@pytest.mark.parametrize("action", ["add", "edit", "delete"])
def test_a_member_cannot_change_a_tracker(client_for, bob, acme, action):
    tracker = acme.trackers.get(name="Pricing")
    url = {
        "add": reverse("transcripts:tracker_list", args=["acme"]),
        "edit": reverse("transcripts:tracker_edit", args=["acme", tracker.pk]),
        "delete": reverse("transcripts:tracker_delete", args=["acme", tracker.pk]),
    }[action]
    response = client_for(bob).post(url, {"name": "Fees", "phrases": "fee"})
    assert response.status_code == 403
    assert list(acme.trackers.order_by("name").values_list("name", flat=True)) == [
        "Competitors",
        "Next steps",
        "Pricing",
    ]
    tracker.refresh_from_db()
    assert "price" in tracker.phrases


@pytest.mark.parametrize(
    "name, method",
    [("tracker_edit", "get"), ("tracker_edit", "post"), ("tracker_delete", "post")],
)
def test_another_teams_trackers_are_not_found(client_for, charlie, acme, name, method):
    tracker = acme.trackers.first()
    url = reverse(f"transcripts:{name}", args=["acme", tracker.pk])
    response = getattr(client_for(charlie), method)(url, {"name": "x", "phrases": "y"})
    assert response.status_code == 404
    assert Tracker.objects.filter(pk=tracker.pk, name=tracker.name).exists()


def test_a_tracker_of_one_team_cannot_be_reached_through_another(client_for, charlie, acme, globex):
    # Charlie manages Globex, so only the tracker's team stands in the way.
    charlie.memberships.filter(team=globex).update(role="manager")
    tracker = acme.trackers.first()
    url = reverse("transcripts:tracker_edit", args=["globex", tracker.pk])
    assert client_for(charlie).get(url).status_code == 404


def test_the_worker_searches_past_calls_again_after_a_change(acme, alice, make_dual_call):
    from transcripts import services

    calls = [make_dual_call(acme, alice) for _ in range(3)]
    tracker = acme.trackers.get(name="Competitors")
    tracker.phrases = ["other tools"]
    services.tracker_save(tracker=tracker)
    assert all(call.analytics_stale for call in calls)
    assert tasks.refresh_team_analytics(acme.pk) == 3
    for call in calls:
        call.refresh_from_db()
        assert not call.analytics_stale
        assert call.analytics["overall"]["tracker_counts"]["Competitors"] == 1
    # Nothing left to do the second time.
    assert tasks.refresh_team_analytics(acme.pk) == 0


def test_trackers_are_managed_in_the_admin(client_for, staff, acme):
    client = client_for(staff)
    assert client.get("/admin/transcripts/tracker/").status_code == 200
    response = client.post(
        "/admin/transcripts/tracker/add/",
        {"team": acme.pk, "name": "Legal", "phrases": "contract review\nNDA"},
    )
    assert response.status_code == 302
    assert acme.trackers.get(name="Legal").phrases == ["contract review", "NDA"]
    acme.refresh_from_db()
    assert acme.trackers_changed_at is not None


def test_the_team_page_shows_the_recording_setting_and_trackers(client_for, alice, bob, acme):
    page = client_for(alice).get(acme.get_absolute_url()).content.decode()
    assert 'id="rep-channel-left" checked' in page
    assert 'id="manage-trackers"' in page
    member_page = client_for(bob).get(acme.get_absolute_url()).content.decode()
    assert 'id="rep-channel-form"' not in member_page
    assert "the rep is on the <strong>left</strong> channel" in member_page


def test_a_manager_puts_the_rep_on_the_right_channel(client_for, alice, bob, acme):
    url = reverse("transcripts:team_recording", args=["acme"])
    assert client_for(bob).post(url, {"rep_channel": "1"}).status_code == 403
    assert client_for(alice).post(url, {"rep_channel": "1"}).status_code == 302
    acme.refresh_from_db()
    assert acme.rep_channel == 1
