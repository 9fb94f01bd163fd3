"""The call's rep: the team member who led it, named on upload (the page and the API), changed
on the call's page, shown on the page, the list and the API, and whose talk share the
dashboard counts. A manager uploading the team's calls is not everyone's rep."""

import importlib
import re

import pytest
from django.apps import apps
from django.urls import reverse

from tests.api_helpers import bearer
from tests.conftest import make_user
from transcripts.models import Call

UPLOAD_URL = reverse("transcripts:call_upload")


def upload(client, path, **fields):
    with path.open("rb") as handle:
        return client.post(UPLOAD_URL, {"audio": handle, "title": "", **fields})


def test_the_uploader_is_the_rep_by_default(client_for, bob, speech_sample):
    assert upload(client_for(bob), speech_sample).status_code == 302
    call = Call.objects.get()
    assert call.rep == bob and call.speakers_expected is None


def test_a_manager_names_a_member_as_the_rep(client_for, alice, bob, speech_sample):
    page = client_for(alice).get(UPLOAD_URL).content.decode()
    assert '<select name="rep"' in page and '<option value="bob">bob</option>' in page
    upload(client_for(alice), speech_sample, rep="bob", speakers_expected="3")
    call = Call.objects.get()
    assert (call.uploaded_by, call.rep, call.speakers_expected) == (alice, bob, 3)


def test_a_member_leads_their_own_calls_only(client_for, alice, bob, speech_sample):
    assert '<select name="rep"' not in client_for(bob).get(UPLOAD_URL).content.decode()
    response = upload(client_for(bob), speech_sample, rep="alice")
    assert response.status_code == 400
    assert "Only a manager can name someone else as the call&#x27;s rep." in (
        response.content.decode()
    )
    assert not Call.objects.exists()


def test_nobody_outside_the_team_is_a_rep(client_for, alice, charlie, speech_sample):
    response = upload(client_for(alice), speech_sample, rep="charlie")
    assert response.status_code == 400
    assert not Call.objects.exists()


@pytest.mark.parametrize("people", ["0", "7", "two"])
def test_people_on_the_call_are_between_one_and_six(client_for, alice, speech_sample, people):
    response = upload(client_for(alice), speech_sample, speakers_expected=people)
    assert response.status_code == 400
    assert not Call.objects.exists()


def test_a_manager_in_two_teams_cannot_name_someone_of_the_other_team(
    client_for, alice, globex, speech_sample
):
    dave = make_user("dave", globex)
    response = upload(client_for(alice), speech_sample, rep="dave", team=str(globex.pk))
    assert response.status_code == 400  # alice is not in Globex: not her team to upload to
    response = upload(client_for(alice), speech_sample, rep=dave.username)
    assert response.status_code == 400
    assert not Call.objects.exists()


# --- The API ------------------------------------------------------------------------------


def api_upload(client, user, path, **fields):
    with path.open("rb") as handle:
        return client.post("/api/v1/calls/", {"audio": handle, **fields}, **bearer(user))


def test_the_api_takes_a_rep_and_the_people_on_the_call(client, alice, bob, speech_sample):
    response = api_upload(client, alice, speech_sample, rep="bob", speakers_expected=2)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rep"], body["speakers_expected"], body["uploaded_by"]) == ("bob", 2, "alice")
    assert Call.objects.get().rep == bob


def test_the_api_refuses_a_rep_a_member_may_not_name(client, alice, bob, charlie, speech_sample):
    response = api_upload(client, bob, speech_sample, rep="alice")
    assert response.status_code == 400
    assert "rep" in response.json()
    response = api_upload(client, alice, speech_sample, rep="charlie")
    assert response.status_code == 400
    response = api_upload(client, alice, speech_sample, speakers_expected=9)
    assert response.status_code == 400
    assert not Call.objects.exists()


def test_the_api_changes_the_rep(client, alice, bob, acme, make_call):
    call = make_call(acme, bob, status=Call.Status.DONE)
    url = f"/api/v1/calls/{call.uuid}/"
    # Bob uploaded it, but only a manager names someone else.
    response = client.patch(url, {"rep": "alice"}, content_type="application/json", **bearer(bob))
    assert response.status_code == 400
    response = client.patch(url, {"rep": "alice"}, content_type="application/json", **bearer(alice))
    assert response.status_code == 200 and response.json()["rep"] == "alice"
    response = client.patch(url, {"rep": None}, content_type="application/json", **bearer(alice))
    assert response.json()["rep"] is None


def test_a_member_who_did_not_upload_cannot_change_the_rep(client, alice, bob, acme, make_call):
    call = make_call(acme, alice, status=Call.Status.DONE)
    response = client.patch(
        f"/api/v1/calls/{call.uuid}/",
        {"rep": "bob"},
        content_type="application/json",
        **bearer(bob),
    )
    assert response.status_code == 403
    call.refresh_from_db()
    assert call.rep == alice


# --- The call's page and the list ---------------------------------------------------------


def test_the_page_shows_the_rep_and_who_may_change_it(client_for, alice, bob, acme, make_call):
    call = make_call(acme, alice, status=Call.Status.DONE)
    page = client_for(bob).get(call.get_absolute_url()).content.decode()
    assert '<strong id="call-rep-name">alice</strong>' in page
    assert 'id="rep-select"' not in page
    page = client_for(alice).get(call.get_absolute_url()).content.decode()
    assert 'id="rep-select"' in page
    assert (
        client_for(bob)
        .post(reverse("transcripts:call_rep", args=[call.uuid]), {"rep": "bob"})
        .status_code
        == 403
    )


def test_a_manager_changes_the_rep_and_their_voice_is_renamed(
    client_for, alice, bob, acme, make_voiced_call
):
    bob.first_name, bob.last_name = "Bob", "Stone"
    bob.save()
    call = make_voiced_call(acme, alice)
    assert call.segments.get(index=0).speaker == "alice"
    client_for(alice).post(reverse("transcripts:call_rep", args=[call.uuid]), {"rep": "bob"})
    call.refresh_from_db()
    assert call.rep == bob and call.analytics_stale
    assert call.segments.get(index=0).speaker == "Bob Stone"
    page = client_for(alice).get(call.get_absolute_url()).content.decode()
    assert '<strong id="call-rep-name">Bob Stone</strong>' in page


def test_the_uploader_cannot_name_someone_else(client_for, alice, bob, acme, make_call):
    call = make_call(acme, bob, status=Call.Status.DONE)
    response = client_for(bob).post(
        reverse("transcripts:call_rep", args=[call.uuid]), {"rep": "alice"}, follow=True
    )
    assert "Only a manager can name someone else" in response.content.decode()
    call.refresh_from_db()
    assert call.rep == bob


def test_the_list_shows_each_calls_rep(client_for, alice, bob, acme, make_call):
    make_call(acme, alice, title="Alice's own", rep=bob)
    page = client_for(alice).get(reverse("transcripts:call_list")).content.decode()
    assert '<th class="col-rep">Rep</th>' in page
    assert re.search(r'<td class="col-rep">bob</td>', page)


# --- The dashboard --------------------------------------------------------------------------


def test_the_dashboard_counts_the_reps_share_not_the_uploaders(
    client_for, alice, bob, acme, make_dual_call, make_voiced_call
):
    # Alice, a manager, uploads the team's calls: Bob led them.
    make_dual_call(acme, alice, rep=bob)
    make_voiced_call(acme, alice, rep=bob)
    page = client_for(alice).get(reverse("transcripts:dashboard")).content.decode()
    shares = dict(re.findall(r'class="rep-share" data-rep="(\w+)" data-share="([\d.]+)"', page))
    assert set(shares) == {"bob"}
    # The average of the dual call's 63% and the voiced call's share of the heard speech.
    voiced = Call.objects.filter(channel_layout="mono").get()
    dual = Call.objects.filter(channel_layout="dual").get()
    assert float(shares["bob"]) == pytest.approx(
        (dual.rep_talk_share + voiced.rep_talk_share) / 2, abs=1e-4
    )


def test_a_call_whose_rep_is_not_heard_has_no_share(client_for, alice, acme, make_voiced_call):
    make_voiced_call(acme, alice, rep_voice=None)
    page = client_for(alice).get(reverse("transcripts:dashboard")).content.decode()
    assert 'class="rep-share"' not in page


# --- Calls made before the rep was a field --------------------------------------------------


def test_the_migration_makes_the_uploader_the_rep_where_in_the_team(
    alice, charlie, staff, acme, make_call
):
    mine = make_call(acme, alice, rep=None)
    outsiders = make_call(acme, charlie, rep=None)
    staffs = make_call(acme, staff, rep=None)
    nobodys = make_call(acme, None, rep=None)
    migration = importlib.import_module("transcripts.migrations.0013_fixes_call_rep")
    migration.rep_is_the_uploader(apps, None)
    reps = {c.pk: c.rep_id for c in Call.objects.all()}
    assert reps == {mine.pk: alice.pk, outsiders.pk: None, staffs.pk: None, nobodys.pk: None}


def test_a_call_moved_to_another_team_in_the_admin_drops_a_rep_outside_it(
    rf, staff, alice, bob, charlie, acme, globex, make_call
):
    from types import SimpleNamespace

    from django.contrib import admin

    call = make_call(acme, alice, rep=bob)
    moved = Call.objects.get(pk=call.pk)
    moved.team = globex
    change = SimpleNamespace(changed_data=["team"])
    admin.site._registry[Call].save_model(rf.post("/"), moved, change, True)
    call.refresh_from_db()
    # Bob is not in Globex, nor is the uploader: nobody leads it there until someone says.
    assert call.team == globex and call.rep is None
    moved.team, moved.rep = acme, charlie
    admin.site._registry[Call].save_model(rf.post("/"), moved, change, True)
    call.refresh_from_db()
    assert call.team == acme and call.rep == alice
