"""The reaper: calls whose worker died go back to the queue, and fail after too many tries."""

from datetime import timedelta
from importlib import import_module
from unittest import mock

import pytest
from django.core.files import File
from django.db import OperationalError
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from transcripts import services
from transcripts.models import Call
from transcripts.tasks import FORGOTTEN_AFTER, reap_stale_calls


def expire(call: Call) -> None:
    Call.objects.filter(pk=call.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_it_requeues_a_call_whose_lease_ran_out(
    acme, make_call, django_capture_on_commit_callbacks
):
    call = make_call(acme)
    call.claim("dead-worker")
    expire(call)
    with django_capture_on_commit_callbacks(execute=True):
        assert reap_stale_calls() == 1
    call.refresh_from_db()
    assert call.status == Call.Status.QUEUED
    assert call.lease_owner == ""
    assert OrmQ.objects.count() == 1


def test_it_leaves_a_live_lease_alone(acme, make_call):
    call = make_call(acme)
    call.claim("busy-worker")
    assert reap_stale_calls() == 0
    call.refresh_from_db()
    assert call.status == Call.Status.PROCESSING


def test_it_fails_a_call_after_too_many_attempts(acme, make_call, settings):
    settings.MAX_TRANSCRIPTION_ATTEMPTS = 2
    call = make_call(acme)
    for worker in ("first", "second"):
        call.claim(worker)
        expire(call)
        if worker == "first":
            reap_stale_calls()
            call.refresh_from_db()
    reap_stale_calls()
    call.refresh_from_db()
    assert call.status == Call.Status.FAILED
    assert "stopped unexpectedly 2 times" in call.error


def test_it_enqueues_a_call_whose_task_never_reached_the_broker(
    acme, make_call, django_capture_on_commit_callbacks
):
    make_call(acme, queued_at=timezone.now() - timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert reap_stale_calls() == 1
    assert OrmQ.objects.count() == 1


def a_while_ago() -> timezone.datetime:
    return timezone.now() - FORGOTTEN_AFTER - timedelta(minutes=1)


def test_it_enqueues_a_queued_call_whose_task_is_gone(
    acme, make_call, django_capture_on_commit_callbacks
):
    # Its task failed before it claimed the call (the database away a moment) and was
    # acknowledged: the call is queued, with the id of a task that no longer exists.
    make_call(acme, task_id="failed-task", queued_at=a_while_ago())
    with django_capture_on_commit_callbacks(execute=True):
        assert reap_stale_calls() == 1
    assert OrmQ.objects.count() == 1


def test_it_leaves_a_call_whose_task_waits_in_the_broker(
    acme, make_call, django_capture_on_commit_callbacks
):
    call = make_call(acme)
    with django_capture_on_commit_callbacks(execute=True):
        services.call_enqueue(call)
    # A long queue: the call has waited a while, its task with it.
    Call.objects.filter(pk=call.pk).update(queued_at=a_while_ago())
    with django_capture_on_commit_callbacks(execute=True):
        assert reap_stale_calls() == 0
    assert OrmQ.objects.count() == 1


def test_it_leaves_a_call_queued_a_moment_ago(acme, make_call):
    make_call(acme, queued_at=timezone.now())
    assert reap_stale_calls() == 0


def test_an_upload_whose_enqueue_fails_is_kept_and_queued_by_the_reaper(
    acme, alice, speech_sample, django_capture_on_commit_callbacks, caplog
):
    broker_down = mock.patch("django_q.tasks.async_task", side_effect=OperationalError("down"))
    with speech_sample.open("rb") as handle, broker_down:
        with django_capture_on_commit_callbacks(execute=True):
            # No error for the person: an upload answered with one is uploaded again.
            call = services.call_create(team=acme, user=alice, upload=File(handle), check=False)
    assert "down" in caplog.text
    assert OrmQ.objects.count() == 0
    Call.objects.filter(pk=call.pk).update(queued_at=a_while_ago())
    with django_capture_on_commit_callbacks(execute=True):
        assert reap_stale_calls() == 1
    assert OrmQ.objects.count() == 1


def test_it_runs_every_minute(db):
    schedule = Schedule.objects.get(func="transcripts.tasks.reap_stale_calls")
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1


def schedule_reaper_as_the_migrations_do() -> None:
    """Transactional tests empty every table after them, the migrations' schedules included:
    make the reaper's again with the migrations' own code."""
    from django.apps import apps

    if not Schedule.objects.filter(func="transcripts.tasks.reap_stale_calls").exists():
        import_module("transcripts.migrations.0002_schedule_reaper").schedule_reaper(apps, None)
        import_module("transcripts.migrations.0008_teamui").quiet_reaper(apps, None)


@pytest.mark.django_db(transaction=True)
def test_its_successes_are_not_saved_so_they_do_not_crowd_out_transcriptions():
    # The scheduler closes the database connection: no test transaction can hold it.
    from django_q.brokers import get_broker
    from django_q.scheduler import scheduler
    from django_q.signing import SignedPackage

    schedule_reaper_as_the_migrations_do()

    Schedule.objects.filter(func="transcripts.tasks.reap_stale_calls").update(
        next_run=timezone.now() - timedelta(seconds=1)
    )
    scheduler(broker=get_broker())
    # Other schedules (retention) may fall due in the same pass: find the reaper's task.
    tasks = [SignedPackage.loads(queued.payload) for queued in OrmQ.objects.all()]
    (task,) = [t for t in tasks if t["func"] == "transcripts.tasks.reap_stale_calls"]
    assert task["save"] is False and task["kwargs"] == {}
