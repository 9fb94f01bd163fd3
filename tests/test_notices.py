"""E-mail notices: the uploader hears when a call is done or failed, unless they turned it off."""

import pytest
from django.core import mail
from django.urls import reverse
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from api import tasks
from api.models import NoticePreference
from transcripts import services
from transcripts.models import Call, Membership


@pytest.fixture(autouse=True)
def site(settings):
    settings.SITE_URL = "https://calls.example.com"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def uploader(alice):
    alice.email = "alice@acme.example"
    alice.save()
    return alice


def queued_notices() -> list[int]:
    packages = [SignedPackage.loads(message.payload) for message in OrmQ.objects.all()]
    return [p["args"][0] for p in packages if p["func"] == "api.tasks.send_call_notice"]


def test_the_uploader_hears_when_a_call_is_done(
    acme, uploader, make_call, django_capture_on_commit_callbacks
):
    call = make_call(acme, uploader, title="Initech discovery")
    with django_capture_on_commit_callbacks(execute=True):
        call.claim("worker-1")
        call.finish("worker-1", processing_seconds=2.0)
    # A task sends it, not the worker that transcribed the call.
    assert mail.outbox == []
    assert queued_notices() == [call.pk]
    assert tasks.send_call_notice(call.pk)
    [message] = mail.outbox
    assert message.to == ["alice@acme.example"]
    assert message.subject == "Transcribed: Initech discovery"
    assert f"https://calls.example.com/calls/{call.uuid}/" in message.body


def test_the_uploader_hears_why_a_call_failed(acme, uploader, make_call):
    call = make_call(acme, uploader, title="Broken")
    call.fail("This file is not audio.")
    assert tasks.send_call_notice(call.pk)
    assert "This file is not audio." in mail.outbox[0].body
    assert mail.outbox[0].subject == "Could not transcribe: Broken"


def test_no_notice_for_someone_who_turned_them_off(client_for, acme, uploader, make_call):
    response = client_for(uploader).post(reverse("profile:notices"), {})
    assert response.status_code == 302
    assert NoticePreference.objects.get(user=uploader).email_when_finished is False
    call = make_call(acme, uploader, status=Call.Status.DONE)
    assert not tasks.send_call_notice(call.pk)
    assert mail.outbox == []

    client_for(uploader).post(reverse("profile:notices"), {"email_when_finished": "on"})
    assert tasks.send_call_notice(call.pk)


def test_no_notice_without_an_address_or_while_a_call_runs(acme, alice, make_call):
    assert not tasks.send_call_notice(make_call(acme, alice, status=Call.Status.DONE).pk)
    alice.email = "alice@acme.example"
    alice.save()
    assert not tasks.send_call_notice(make_call(acme, alice, status=Call.Status.QUEUED).pk)
    assert mail.outbox == []


def test_no_notice_for_an_uploader_removed_from_the_team(
    acme, alice, bob, make_call, django_capture_on_commit_callbacks
):
    bob.email = "bob@acme.example"
    bob.save()
    done = make_call(acme, bob)
    failed = make_call(acme, bob)
    services.member_remove(membership=Membership.objects.get(user=bob, team=acme))
    # The title and the error are the team's: Bob may no longer read them.
    done.retitle("Initech acquisition - board only")
    with django_capture_on_commit_callbacks(execute=True):
        done.claim("worker-1")
        done.finish("worker-1", processing_seconds=2.0)
        failed.fail("Initech's board asked for this to be cut.")
    assert queued_notices() == []
    # Nor does a task queued before the removal send one.
    assert not tasks.send_call_notice(done.pk)
    assert not tasks.send_call_notice(failed.pk)
    assert mail.outbox == []


def test_an_uploader_removed_while_the_notice_waits_gets_none(
    acme, uploader, bob, make_call, django_capture_on_commit_callbacks
):
    call = make_call(acme, uploader)
    with django_capture_on_commit_callbacks(execute=True):
        call.claim("worker-1")
        call.finish("worker-1", processing_seconds=2.0)
    assert queued_notices() == [call.pk]
    # Bob, another manager, takes Alice out of the team before the task runs.
    Membership.objects.filter(user=bob, team=acme).update(role=Membership.Role.MANAGER)
    services.member_remove(membership=Membership.objects.get(user=uploader, team=acme))
    assert not tasks.send_call_notice(call.pk)
    assert mail.outbox == []
