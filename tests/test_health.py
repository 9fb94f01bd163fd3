"""/healthz for load balancers and ops, and the queue depth in the admin."""

import copy
import logging
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from transcripts import health
from transcripts.models import Call, ClusterHeartbeat
from transcripts.tasks import reap_stale_calls


def test_it_answers_without_login_with_a_status_only(client, acme, make_call):
    make_call(acme)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded"}


def test_staff_get_the_queue_figures(client_for, staff, acme, make_call):
    make_call(acme, queued_at=timezone.now() - timedelta(seconds=90))
    make_call(acme)
    response = client_for(staff).get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] is True
    assert body["queued_calls"] == 2
    assert 89 < body["oldest_queued_seconds"] < 120


def test_members_get_a_status_only(client_for, bob, acme, make_call):
    make_call(acme)
    assert client_for(bob).get("/healthz").json() == {"status": "degraded"}


def test_it_says_degraded_when_calls_wait_and_no_worker_beats(client_for, staff, acme, make_call):
    make_call(acme)
    body = client_for(staff).get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["workers_alive"] is False


def test_the_reaper_schedule_records_a_worker_heartbeat(client_for, staff, acme, make_call):
    make_call(acme)
    reap_stale_calls()
    body = client_for(staff).get("/healthz").json()
    assert body["status"] == "ok"
    assert body["last_worker_heartbeat_seconds"] < 5
    assert ClusterHeartbeat.objects.count() == 1


# What a database's connection error would give away: its address and the role.
LEAKY = {"host": "127.0.0.1", "role": "healthz_leaky_role", "file": "healthz-leaky-dir"}


@pytest.fixture
def broken_database(monkeypatch, tmp_path):
    """The health check's connection points at a database that refuses it: for PostgreSQL a
    role that does not exist, for SQLite a file in a folder that does not exist."""
    default = connections["default"]
    params = copy.deepcopy(default.settings_dict)
    if default.vendor == "postgresql":
        params.update(HOST=LEAKY["host"], USER=LEAKY["role"])
    else:
        params["NAME"] = str(tmp_path / LEAKY["file"] / "db.sqlite3")
    broken = type(default)(params, alias="healthz_broken")
    monkeypatch.setattr(health, "connection", broken)
    yield broken
    broken.close()


def test_a_broken_database_answers_503_without_its_details(client, db, broken_database, caplog):
    with caplog.at_level(logging.ERROR, logger="transcripts.health"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "down"}
    body = response.content.decode()
    for detail in (*LEAKY.values(), str(broken_database.settings_dict.get("PORT") or "5432")):
        assert detail not in body
    # The details are in the log, for ops.
    [record] = [r for r in caplog.records if r.name == "transcripts.health"]
    assert record.exc_info is not None
    logged = str(record.exc_info[1])
    assert LEAKY["role"] in logged or "unable to open database file" in logged


def test_it_is_ok_with_an_empty_queue_and_no_workers(client, db):
    assert client.get("/healthz").json()["status"] == "ok"


def test_the_admin_shows_the_queue_depth(client_for, staff, acme, make_call):
    make_call(acme)
    make_call(acme, status=Call.Status.PROCESSING)
    page = client_for(staff).get("/admin/transcripts/call/").content.decode()
    assert "<strong>1</strong> waiting" in page
    assert "<strong>1</strong> transcribing" in page
