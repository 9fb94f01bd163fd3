"""The pages people use: the call list, a call's page, and the fragments htmx polls."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from transcripts.models import Call


def test_the_call_list_requires_login(client):
    response = client.get(reverse("transcripts:call_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_login_page_renders(client, db):
    assert client.get(reverse("login")).status_code == 200


def test_a_user_logs_in_with_a_password(client, alice):
    from tests.conftest import PASSWORD

    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("transcripts:call_list")).status_code == 200


def test_the_call_list_shows_the_teams_calls(client_for, alice, acme, make_call):
    make_call(acme, alice, title="Discovery call with Initech")
    response = client_for(alice).get(reverse("transcripts:call_list"))
    assert response.status_code == 200
    assert "Discovery call with Initech" in response.content.decode()


def test_the_call_list_polls_only_unfinished_calls(client_for, alice, acme, make_call):
    make_call(acme, title="Still queued")
    make_call(acme, title="All done", status=Call.Status.DONE)
    page = client_for(alice).get(reverse("transcripts:call_list")).content.decode()
    assert page.count('hx-trigger="every 2s"') == 1


def test_the_call_page_polls_its_progress_while_queued(client_for, alice, acme, make_call):
    call = make_call(acme)
    page = client_for(alice).get(call.get_absolute_url()).content.decode()
    assert reverse("transcripts:call_progress", args=[call.uuid]) in page
    assert "Waiting for a worker" in page


def test_the_progress_fragment_shows_percent_and_time_left(client_for, alice, acme, make_call):
    call = make_call(acme)
    call.claim("worker-1")
    call.start_transcribing("worker-1", duration=600.0, resumed_from=0.0)
    # Half done in ten minutes: about ten minutes left (plus the seconds this test takes).
    Call.objects.filter(pk=call.pk).update(
        progress=0.5, transcribing_started_at=timezone.now() - timedelta(minutes=10)
    )
    response = client_for(alice).get(reverse("transcripts:call_progress", args=[call.uuid]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Transcribing" in body and "50%" in body
    assert "About 10 min" in body and "left" in body
    assert 'hx-trigger="every 2s"' in body


def test_the_progress_fragment_stops_polling_with_the_transcript(
    client_for, alice, acme, make_call
):
    call = make_call(acme, status=Call.Status.DONE, duration=30.0, processing_seconds=2.0)
    call.segments.create(index=0, start=0.0, end=3.0, text="Hi Sarah, thanks for your time.")
    response = client_for(alice).get(reverse("transcripts:call_progress", args=[call.uuid]))
    assert response.status_code == 286
    body = response.content.decode()
    assert "Hi Sarah, thanks for your time." in body
    assert "every 2s" not in body  # it stops polling
    assert "15.0× real time" in body


def test_the_progress_fragment_explains_a_failure(client_for, alice, acme, make_call):
    call = make_call(acme, status=Call.Status.FAILED, error="This file has no audio track.")
    response = client_for(alice).get(reverse("transcripts:call_progress", args=[call.uuid]))
    assert response.status_code == 286
    assert "This file has no audio track." in response.content.decode()


def test_a_list_row_stops_polling_when_its_call_is_done(client_for, alice, acme, make_call):
    call = make_call(acme, status=Call.Status.DONE)
    response = client_for(alice).get(reverse("transcripts:call_row", args=[call.uuid]))
    assert response.status_code == 286


def test_retranscribing_requeues_a_finished_call(
    client_for, alice, acme, make_call, django_capture_on_commit_callbacks
):
    call = make_call(acme, status=Call.Status.FAILED, error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post(
            reverse("transcripts:call_retranscribe", args=[call.uuid])
        )
    assert response.status_code == 302
    call.refresh_from_db()
    assert call.status == Call.Status.QUEUED and call.error == ""


def test_deleting_a_call_removes_its_audio(
    client_for, alice, acme, make_call, settings, django_capture_on_commit_callbacks
):
    call = make_call(acme)
    path = settings.MEDIA_ROOT / call.audio.name
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        client_for(alice).post(reverse("transcripts:call_delete", args=[call.uuid]))
    assert not Call.objects.filter(pk=call.pk).exists()
    assert not path.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/transcripts/call/",
        "/admin/transcripts/team/",
        "/admin/transcripts/invitation/",
        "/admin/transcripts/profile/",
        "/admin/django_q/ormq/",
        "/admin/django_q/success/",
        "/admin/django_q/failure/",
        "/admin/django_q/schedule/",
    ],
)
def test_admin_pages_render_for_staff(client_for, staff, url):
    assert client_for(staff).get(url).status_code == 200


def test_the_admin_call_page_shows_segments(client_for, staff, acme, make_call):
    call = make_call(acme, status=Call.Status.DONE)
    call.segments.create(index=0, start=0.0, end=3.0, text="Pricing starts at forty dollars.")
    response = client_for(staff).get(f"/admin/transcripts/call/{call.pk}/change/")
    assert response.status_code == 200
    assert "Pricing starts at forty dollars." in response.content.decode()


def test_an_admin_correction_keeps_what_whisper_heard(client_for, staff, acme, make_call):
    call = make_call(acme, status=Call.Status.DONE)
    segment = call.segments.create(index=0, start=0.0, end=3.0, text="Pricing starts at forty.")
    response = client_for(staff).post(
        f"/admin/transcripts/call/{call.pk}/change/",
        {
            "title": "",
            "team": acme.pk,
            "uploaded_by": "",
            "segments-TOTAL_FORMS": "1",
            "segments-INITIAL_FORMS": "1",
            "segments-MIN_NUM_FORMS": "0",
            "segments-MAX_NUM_FORMS": "1000",
            "segments-0-id": segment.pk,
            "segments-0-call": call.pk,
            "segments-0-text": "  Pricing starts at   forty dollars. ",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    segment.refresh_from_db()
    # The rule of Segment.edit_text: spaces tidied, Whisper's version kept.
    assert segment.text == "Pricing starts at forty dollars."
    assert segment.original_text == "Pricing starts at forty."


def test_the_admin_action_retranscribes(
    client_for, staff, acme, make_call, django_capture_on_commit_callbacks
):
    call = make_call(acme, status=Call.Status.DONE)
    with django_capture_on_commit_callbacks(execute=True):
        client_for(staff).post(
            "/admin/transcripts/call/",
            {"action": "retranscribe", "_selected_action": [call.pk]},
        )
    call.refresh_from_db()
    assert call.status == Call.Status.QUEUED


def test_cancelling_stops_a_queued_call(client_for, alice, acme, make_call):
    call = make_call(acme)
    response = client_for(alice).post(reverse("transcripts:call_cancel", args=[call.uuid]))
    assert response.status_code == 302
    call.refresh_from_db()
    assert call.status == Call.Status.CANCELLED


def test_cancelling_a_running_call_takes_its_lease(client_for, alice, acme, make_call):
    call = make_call(acme)
    call.claim("worker-1")
    client_for(alice).post(reverse("transcripts:call_cancel", args=[call.uuid]))
    call.refresh_from_db()
    assert call.status == Call.Status.CANCELLED
    assert not call.heartbeat("worker-1")


def test_a_missing_page_is_answered_in_the_sites_layout(client_for, alice):
    response = client_for(alice).get("/calls/no-such-page/")
    page = response.content.decode()
    assert response.status_code == 404
    assert 'id="error-page"' in page and 'id="nav-team"' in page


def test_a_refusal_says_why_in_the_sites_layout(client_for, bob, acme):
    response = client_for(bob).get(reverse("transcripts:tracker_edit", args=["acme", 1]))
    page = response.content.decode()
    assert response.status_code == 403
    assert "Only the team&#x27;s managers can change it." in page and 'class="topbar"' in page


def test_the_server_error_page_renders_without_a_request(db):
    from django.template import loader

    page = loader.get_template("500.html").render()
    assert "Something went wrong" in page and 'class="topbar"' in page


def test_every_page_has_a_favicon_and_a_skip_link(client_for, alice):
    page = client_for(alice).get(reverse("transcripts:call_list")).content.decode()
    assert 'rel="icon"' in page
    assert '<a class="skip-link" href="#content">' in page and '<main id="content"' in page


def test_a_transcribed_calls_page_skips_to_the_transcript(client_for, alice, dual_call):
    page = client_for(alice).get(dual_call.get_absolute_url()).content.decode()
    assert '<a class="skip-link" href="#transcript-panel">Skip to the transcript</a>' in page
    assert 'id="transcript-panel" tabindex="-1"' in page


def test_lengths_read_as_one_clock_everywhere(client_for, alice, acme, make_call, staff):
    call = make_call(acme, alice, title="Long call", status=Call.Status.DONE, duration=3725.4)
    make_call(acme, alice, title="Short call", status=Call.Status.DONE, duration=75.2)
    page = client_for(alice).get(reverse("transcripts:call_list")).content.decode()
    assert ">1:02:05<" in page and ">1:15<" in page
    admin = client_for(staff).get(reverse("admin:transcripts_call_changelist")).content.decode()
    assert "1:02:05" in admin and "1:15" in admin
    assert str(call.duration) not in admin
