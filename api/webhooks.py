"""Webhook deliveries, as the Standard Webhooks specification has them: a JSON body signed
with the endpoint's secret (webhook-id, webhook-timestamp, webhook-signature), sent by a
Django-Q2 task with a short timeout, and tried again later with exponential backoff."""

from __future__ import annotations

import http.client
import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from transcripts.models import Call

from . import outbound
from .models import Event, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def call_payload(call: Call, event: str) -> dict:
    """What a webhook says about a call: enough to fetch the rest through the API."""
    data = {
        "id": str(call.uuid),
        "team": call.team.slug,
        "title": call.display_title,
        "status": call.status,
    }
    if event == Event.CALL_FAILED:
        data["error"] = call.error
    if event != Event.CALL_DELETED:
        data["url"] = absolute(reverse("api:call-detail", args=[call.uuid]))
        data["web_url"] = absolute(call.get_absolute_url())
    if event == Event.CALL_DONE:
        data["transcript_url"] = absolute(reverse("api:call-transcript", args=[call.uuid]))
        data["duration"] = call.duration
    return {"type": event, "timestamp": timezone.now().isoformat(), "data": data}


def queue_event(team_id: int, event: str, payload: dict) -> list[WebhookDelivery]:
    """A delivery for each of the team's active endpoints that listens to `event`."""
    endpoints = WebhookEndpoint.objects.filter(team_id=team_id, is_active=True)
    deliveries = []
    with transaction.atomic():
        for endpoint in endpoints:
            if event not in endpoint.events:
                continue
            delivery = WebhookDelivery.objects.create(
                endpoint=endpoint, event=event, payload=payload
            )
            enqueue(delivery)
            deliveries.append(delivery)
    return deliveries


def enqueue(delivery: WebhookDelivery) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(
            "api.tasks.deliver_webhook",
            delivery.pk,
            task_name=f"webhook {delivery.message_id} at {timezone.now():%H:%M:%S.%f}",
            group="webhooks",
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS * 4 + 30,
        )
    )


STILL_BEING_TRIED = (
    "This webhook is still being tried; it can be sent again once it is delivered or has failed."
)


def send_again(delivery: WebhookDelivery) -> bool:
    """A person's "send again": a fresh round of attempts, with the same webhook-id, for a
    delivery whose round is over (delivered or failed). Returns False for one still being
    tried: its scheduled retry would run beside the new round, and every later failure would
    then schedule two retries, sending the webhook twice over ever after."""
    with transaction.atomic():
        # One conditional update: of two clicks at once, one starts the round.
        restarted = (
            WebhookDelivery.objects.filter(pk=delivery.pk)
            .exclude(status__in=WebhookDelivery.BEING_TRIED)
            .update(
                status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=None, error=""
            )
            == 1
        )
        delivery.refresh_from_db()
        if restarted:
            enqueue(delivery)
    return restarted


def signed_request(delivery: WebhookDelivery, now: datetime) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    signature = Webhook(delivery.endpoint.secret).sign(delivery.message_id, now, body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "callscribe-webhooks",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return body.encode(), headers


def backoff(attempts: int) -> timedelta:
    """The wait before the next attempt: the base, doubled after every failure."""
    return timedelta(seconds=settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempts - 1))


def attempt(delivery: WebhookDelivery) -> bool:
    """Send the delivery once; record the outcome, and schedule the next try after a failure."""
    if delivery.status == WebhookDelivery.Status.DELIVERED:
        return True
    now = timezone.now()
    body, headers = signed_request(delivery, now)
    status, error = None, ""
    try:
        response = outbound.request(
            "POST",
            delivery.endpoint.url,
            body=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            # The whole answer within the time too, not only each of its bytes.
            cut_off_after=settings.WEBHOOK_TIMEOUT_SECONDS,
        )
        try:
            status = response.status
            # A little of the answer is read, never all of it: the receiver is not trusted.
            response.raw.read1(1024)
        finally:
            response.close()
    except outbound.OutboundError as failure:
        error = str(failure)
    # A broken answer (a malformed chunk, an endless header line) is the receiver's failure
    # too: raised, it left the delivery pending, never tried again.
    except (OSError, http.client.HTTPException) as failure:
        error = f"The receiver broke off: {failure!r}"
    delivered = status is not None and 200 <= status < 300
    if not delivered and not error:
        error = f"The receiver answered HTTP {status}."
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_status = status
    delivery.error = error
    delivery.next_attempt_at = None
    if delivered:
        delivery.status = WebhookDelivery.Status.DELIVERED
    elif delivery.attempts < settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.RETRYING
        delivery.next_attempt_at = now + backoff(delivery.attempts)
    else:
        delivery.status = WebhookDelivery.Status.FAILED
    delivery.save(
        update_fields=[
            "attempts",
            "last_attempt_at",
            "response_status",
            "error",
            "next_attempt_at",
            "status",
        ]
    )
    if delivery.next_attempt_at:
        schedule_retry(delivery)
    if not delivered:
        logger.info("Webhook %s to %s: %s", delivery.message_id, delivery.endpoint.url, error)
    return delivered


def schedule_retry(delivery: WebhookDelivery) -> None:
    from django_q.models import Schedule
    from django_q.tasks import schedule

    schedule(
        "api.tasks.deliver_webhook",
        delivery.pk,
        name=f"webhook {delivery.message_id} at {delivery.next_attempt_at.isoformat()}",
        # Deleted once it has run.
        schedule_type=Schedule.ONCE,
        next_run=delivery.next_attempt_at,
    )
