"""/healthz for load balancers and ops, and the queue depth in the admin."""

from datetime import timedelta

from django.utils import timezone

from transcripts.models import Call, ClusterHeartbeat
from transcripts.tasks import reap_stale_calls


def test_it_answers_without_login_with_queue_figures(client, acme, make_call):
    make_call(acme, queued_at=timezone.now() - timedelta(seconds=90))
    make_call(acme)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] is True
    assert body["queued_calls"] == 2
    assert 89 < body["oldest_queued_seconds"] < 120


def test_it_says_degraded_when_calls_wait_and_no_worker_beats(client, acme, make_call):
    make_call(acme)
    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["workers_alive"] is False


def test_the_reaper_schedule_records_a_worker_heartbeat(client, acme, make_call):
    make_call(acme)
    reap_stale_calls()
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["last_worker_heartbeat_seconds"] < 5
    assert ClusterHeartbeat.objects.count() == 1


def test_it_is_ok_with_an_empty_queue_and_no_workers(client, db):
    assert client.get("/healthz").json()["status"] == "ok"


def test_the_admin_shows_the_queue_depth(client_for, staff, acme, make_call):
    make_call(acme)
    make_call(acme, status=Call.Status.PROCESSING)
    page = client_for(staff).get("/admin/transcripts/call/").content.decode()
    assert "<strong>1</strong> waiting" in page
    assert "<strong>1</strong> transcribing" in page
