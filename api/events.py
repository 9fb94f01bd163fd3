"""What happens when a call finishes or is deleted: webhooks and e-mail notices, each sent by
a task of its own, so a slow receiver or mail server never holds up a transcription."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from transcripts.models import Call, call_finished

from . import notices, webhooks
from .models import Event


@receiver(call_finished, sender=Call)
def call_was_finished(sender, call: Call, **kwargs) -> None:
    from django_q.tasks import async_task

    call = Call.objects.select_related("team", "uploaded_by").get(pk=call.pk)
    event = Event.CALL_DONE if call.status == Call.Status.DONE else Event.CALL_FAILED
    webhooks.queue_event(call.team_id, event, webhooks.call_payload(call, event))
    # Checked again when the task runs: the uploader may be removed while it waits.
    if call.uploaded_by_id and notices.uploader_still_sees(call):
        async_task(
            "api.tasks.send_call_notice",
            call.pk,
            task_name=f"notice {call.uuid.hex[:8]} at {timezone.now():%H:%M:%S.%f}",
            group="notices",
        )


@receiver(post_delete, sender=Call)
def call_was_deleted(sender, instance: Call, **kwargs) -> None:
    payload = webhooks.call_payload(instance, Event.CALL_DELETED)
    team_id = instance.team_id
    # After the commit: a deletion rolled back sends nothing, and when the whole team goes,
    # its endpoints are gone by then too.
    transaction.on_commit(
        lambda: webhooks.queue_event(team_id, Event.CALL_DELETED, payload), robust=True
    )
