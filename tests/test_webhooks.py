"""Webhooks: signed as Standard Webhooks says (verified here with the `standardwebhooks`
library), sent by tasks with retries and exponential backoff, logged, and sent again on request."""

import ast
import contextlib
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django_q.models import OrmQ, Schedule
from standardwebhooks.webhooks import Webhook

from api import tasks, webhooks
from api.models import WebhookDelivery, WebhookEndpoint
from tests.api_helpers import LocalServer, bearer, reply, trickling
from transcripts.models import Call


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.SITE_URL = "https://calls.example.com"


def retries():
    return Schedule.objects.filter(func="api.tasks.deliver_webhook")


def endpoint_for(team, server, events=None) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        team=team, url=server.url("/hooks/callscribe"), events=events or ["call.done"]
    )


def verified(endpoint: WebhookEndpoint, request) -> dict:
    _method, _path, headers, body = request
    return Webhook(endpoint.secret).verify(body, headers)


def finish(call: Call, capture) -> None:
    """The worker's last step, committed, so the signal's receivers run."""
    with capture(execute=True):
        assert call.claim("worker-1")
        assert call.finish("worker-1", processing_seconds=3.0)


def run_tasks(group: str = "") -> None:
    """What a cluster would run: the queued webhook deliveries, in this process."""
    from django_q.signing import SignedPackage

    for message in OrmQ.objects.all():
        task = SignedPackage.loads(message.payload)
        if task["func"] == "api.tasks.deliver_webhook":
            tasks.deliver_webhook(*task["args"])
            message.delete()


def deliver_once(team, handle, payload=None) -> WebhookDelivery:
    """One delivery of a call.done to a local receiver that answers with `handle`; returns it
    as it stands after that attempt."""
    with LocalServer(handle) as receiver:
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint_for(team, receiver),
            event="call.done",
            payload={"type": "call.done"} if payload is None else payload,
        )
        tasks.deliver_webhook(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_a_finished_call_sends_a_signed_call_done(
    acme, alice, make_call, django_capture_on_commit_callbacks
):
    with LocalServer(lambda handler, number: reply(handler, 204)) as receiver:
        endpoint = endpoint_for(acme, receiver)
        call = make_call(acme, alice, title="Initech")
        finish(call, django_capture_on_commit_callbacks)
        # Nothing is sent by the worker itself: a task does it.
        assert receiver.received == []
        run_tasks()
    assert len(receiver.received) == 1
    message = verified(endpoint, receiver.received[0])
    assert message["type"] == "call.done"
    assert message["data"]["id"] == str(call.uuid)
    assert message["data"]["transcript_url"] == (
        f"https://calls.example.com/api/v1/calls/{call.uuid}/transcript/"
    )
    headers = receiver.received[0][2]
    delivery = WebhookDelivery.objects.get()
    assert headers["webhook-id"] == delivery.message_id
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.response_status == 204 and delivery.attempts == 1


def test_a_forged_signature_does_not_verify(acme, alice, make_call, dual_call):
    from standardwebhooks.webhooks import WebhookVerificationError

    with LocalServer(lambda handler, number: reply(handler, 200)) as receiver:
        endpoint = endpoint_for(acme, receiver)
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event="call.done", payload={"type": "call.done"}
        )
        tasks.deliver_webhook(delivery.pk)
    _method, _path, headers, body = receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(body.replace(b"done", b"fail"), headers)


def test_a_receiver_that_fails_twice_gets_it_the_third_time(acme, alice, make_call):
    answers = lambda handler, number: reply(handler, 500 if number <= 2 else 200)  # noqa: E731
    with LocalServer(answers) as receiver:
        endpoint = endpoint_for(acme, receiver)
        call = make_call(acme, alice, status=Call.Status.DONE)
        payload = webhooks.call_payload(call, "call.done")
        [delivery] = webhooks.queue_event(acme.pk, "call.done", payload)
        tasks.deliver_webhook(delivery.pk)
        waits = []
        for _ in range(2):
            delivery.refresh_from_db()
            assert delivery.status == WebhookDelivery.Status.RETRYING
            assert delivery.response_status == 500
            retry = retries().get()
            assert retry.next_run == delivery.next_attempt_at
            waits.append(delivery.next_attempt_at - delivery.last_attempt_at)
            # When it is due, the cluster's scheduler runs it (and deletes a one-off schedule).
            retry.delete()
            tasks.deliver_webhook(*ast.literal_eval(retry.args))
        delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts == 3 and delivery.response_status == 200
    assert waits == [timedelta(seconds=30), timedelta(seconds=60)]
    assert not retries().exists()
    assert len(receiver.received) == 3
    for request in receiver.received:
        assert request[2]["webhook-id"] == delivery.message_id
        assert verified(endpoint, request)["data"]["id"] == str(call.uuid)


def test_a_receiver_that_hangs_times_out_and_is_tried_later(acme, dual_call):
    def hang(handler, number):
        time.sleep(3)
        with contextlib.suppress(OSError):  # the sender has given up by now
            reply(handler, 200)

    delivery = deliver_once(acme, hang)
    assert delivery.status == WebhookDelivery.Status.RETRYING
    assert "did not answer within 1 s" in delivery.error
    assert delivery.response_status is None
    assert retries().count() == 1


def test_a_receiver_that_trickles_its_answer_is_cut_off_and_tried_later(acme, dual_call):
    # A byte every 0.1 s, never a second without one: 28 s for the status and headers.
    answer = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: yes\r\n" * 20 + b"\r\n"
    delivery = deliver_once(acme, trickling(b"", answer))
    # Cut off and tried again: never held until the answer came, and counted delivered.
    assert delivery.status == WebhookDelivery.Status.RETRYING
    assert "did not answer within 1 s" in delivery.error
    assert retries().count() == 1


def test_a_receiver_that_answers_a_broken_body_is_tried_later(acme, dual_call):
    def broken_chunk(handler, number):
        handler.wfile.write(b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")

    delivery = deliver_once(acme, broken_chunk)
    assert delivery.status == WebhookDelivery.Status.RETRYING and delivery.attempts == 1
    assert delivery.response_status == 500 and "broke off" in delivery.error
    assert retries().count() == 1


def test_after_the_last_attempt_it_gives_up(acme, dual_call, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    delivery = deliver_once(acme, lambda handler, number: reply(handler, 410), payload={})
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.error == "The receiver answered HTTP 410."
    assert not retries().exists()


def test_a_receiver_on_a_private_address_is_refused(acme, dual_call, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with LocalServer(lambda handler, number: reply(handler, 200)) as receiver:
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint_for(acme, receiver), event="call.done", payload={}
        )
        tasks.deliver_webhook(delivery.pk)
    delivery.refresh_from_db()
    assert "loopback" in delivery.error
    assert receiver.received == []


def test_failed_and_deleted_calls_are_announced_to_endpoints_that_listen(
    client, acme, alice, make_call, django_capture_on_commit_callbacks
):
    with LocalServer(lambda handler, number: reply(handler, 200)) as receiver:
        endpoint = endpoint_for(acme, receiver, events=["call.failed", "call.deleted"])
        done = make_call(acme, alice)
        finish(done, django_capture_on_commit_callbacks)
        assert not WebhookDelivery.objects.exists()

        failing = make_call(acme, alice, title="Broken")
        with django_capture_on_commit_callbacks(execute=True):
            failing.fail("This file is not audio.")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.delete(f"/api/v1/calls/{done.uuid}/", **bearer(alice))
        assert response.status_code == 204
        run_tasks()
    messages = [verified(endpoint, request) for request in receiver.received]
    assert [m["type"] for m in messages] == ["call.failed", "call.deleted"]
    assert messages[0]["data"]["error"] == "This file is not audio."
    assert messages[1]["data"] == {
        "id": str(done.uuid),
        "team": "acme",
        "title": done.display_title,
        "status": "done",
    }


def test_managers_register_endpoints_through_the_api(client, alice, acme, settings):
    url = "/api/v1/teams/acme/webhooks/"
    response = client.post(
        url,
        {"url": "http://127.0.0.1:9/hook", "events": ["call.done"]},
        content_type="application/json",
        **bearer(alice),
    )
    assert response.status_code == 201, response.content
    assert response.json()["secret"].startswith("whsec_")
    assert WebhookEndpoint.objects.get().events == ["call.done"]
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    refused = client.post(
        url, {"url": "http://169.254.169.254/"}, content_type="application/json", **bearer(alice)
    )
    assert refused.status_code == 400


def test_the_team_page_shows_managers_the_deliveries_and_sends_again(
    client_for, acme, alice, bob, dual_call, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpoint.objects.create(team=acme, url="https://93.184.216.34/hook")
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="call.done",
        payload={},
        status=WebhookDelivery.Status.FAILED,
        attempts=10,
        response_status=500,
        error="The receiver answered HTTP 500.",
    )
    page = client_for(bob).get(acme.get_absolute_url()).content.decode()
    assert "webhook-deliveries" not in page
    page = client_for(alice).get(acme.get_absolute_url()).content.decode()
    assert 'id="webhook-deliveries"' in page and "HTTP 500" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post(
            reverse("webhooks:delivery_resend", args=["acme", delivery.pk])
        )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.attempts == 0
    assert OrmQ.objects.count() == 1


def test_a_delivery_still_being_tried_is_not_sent_again_beside_its_retries(
    client, client_for, alice, staff, acme, dual_call, django_capture_on_commit_callbacks
):
    with LocalServer(lambda handler, number: reply(handler, 503)) as receiver:
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint_for(acme, receiver), event="call.done", payload={}
        )
        tasks.deliver_webhook(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.RETRYING and retries().count() == 1
    page = client_for(alice).get(acme.get_absolute_url()).content.decode()
    assert "HTTP 503" in page and "delivery_resend" not in page
    resend = reverse("webhooks:delivery_resend", args=["acme", delivery.pk])
    assert f'action="{resend}"' not in page

    # Asked all the same, by the page, the API and the admin: each refuses, saying why.
    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(alice).post(resend, follow=True)
        assert webhooks.STILL_BEING_TRIED in answer.content.decode()
        answer = client.post(
            reverse("api:delivery-resend", args=["acme", delivery.pk]), **bearer(alice)
        )
        assert answer.status_code == 409
        assert answer.json()["detail"] == webhooks.STILL_BEING_TRIED
        answer = client_for(staff).post(
            "/admin/api/webhookdelivery/",
            {"action": "send_again", "_selected_action": [delivery.pk]},
            follow=True,
        )
        assert "0 deliveries will be sent again" in answer.content.decode()
    # Nothing queued now, and the one retry still scheduled: no second round of attempts.
    assert not OrmQ.objects.exists() and retries().count() == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.RETRYING and delivery.attempts == 1


def test_the_admin_sends_again(client_for, staff, acme, dual_call):
    endpoint = WebhookEndpoint.objects.create(team=acme, url="https://93.184.216.34/hook")
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event="call.done", payload={}, status="failed", attempts=10
    )
    response = client_for(staff).post(
        "/admin/api/webhookdelivery/",
        {"action": "send_again", "_selected_action": [delivery.pk]},
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING


def test_the_team_page_adds_an_endpoint(client_for, acme, alice, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    page = client_for(alice)
    page.post(
        reverse("webhooks:endpoint_add", args=["acme"]),
        {"url": "https://93.184.216.34/hook", "events": ["call.done", "call.failed"]},
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["call.done", "call.failed"] and endpoint.created_by == alice
    page.post(reverse("webhooks:endpoint_add", args=["acme"]), {"url": "http://10.0.0.1/"})
    assert WebhookEndpoint.objects.count() == 1


def test_deleting_a_team_with_endpoints_and_calls_sends_nothing(
    acme, alice, dual_call, django_capture_on_commit_callbacks
):
    WebhookEndpoint.objects.create(team=acme, url="https://93.184.216.34/hook")
    with django_capture_on_commit_callbacks(execute=True):
        acme.delete()
    assert not WebhookDelivery.objects.exists()
    assert not OrmQ.objects.exists()
