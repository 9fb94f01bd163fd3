"""Writes the API adds to the portal's: calls imported by URL, and idempotent creation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from transcripts import services
from transcripts.models import Call, Team

from .models import IdempotencyKey, UrlImport
from .tasks import file_name

# As Stripe does: a key is remembered for a day.
IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=24)


class IdempotencyMismatch(Exception):
    """The key was used before for a different request."""


def call_import_url(
    *,
    team: Team,
    user,
    url: str,
    title: str = "",
    rep=None,
    speakers_expected: int | None = None,
    quality: str = "",
) -> Call:
    """A call whose recording a worker downloads from `url`, then checks and queues as an
    upload, with the `quality` asked for (blank: the team's). Returns at once."""
    from django_q.tasks import async_task

    services.check_queue_allowance(user)
    services.check_rep(team=team, user=user, rep=rep)
    with transaction.atomic():
        call = Call.objects.create(
            team=team,
            uploaded_by=user,
            rep=rep or services.default_rep(team, user),
            speakers_expected=speakers_expected,
            title=title.strip()[:200],
            original_filename=file_name(url),
            quality=quality or team.quality,
        )
        url_import = UrlImport.objects.create(call=call, url=url)
        transaction.on_commit(
            lambda: async_task(
                "api.tasks.import_call_url",
                url_import.pk,
                task_name=f"import {call.uuid.hex[:8]} at {timezone.now():%H:%M:%S.%f}",
                group="imports",
            )
        )
    return call


def request_fingerprint(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def call_create_once(
    *, user, key: str, fingerprint: str, create: Callable[[], Call]
) -> tuple[Call, bool]:
    """The call made by the first request with this Idempotency-Key, or a new one made by
    `create`; and whether it is new. The same key for a different request is refused."""
    IdempotencyKey.objects.filter(
        user=user, key=key, created_at__lt=timezone.now() - IDEMPOTENCY_KEY_LIFETIME
    ).delete()
    earlier = IdempotencyKey.objects.filter(user=user, key=key).select_related("call").first()
    if earlier is None:
        made: list[Call] = []
        try:
            with transaction.atomic():
                made.append(create())
                IdempotencyKey.objects.create(
                    user=user, key=key, fingerprint=fingerprint, call=made[0]
                )
            return made[0], True
        except IntegrityError:
            # A concurrent request with the same key won: its call is the one.
            if made and made[0].audio.name:
                made[0].audio.storage.delete(made[0].audio.name)
            earlier = IdempotencyKey.objects.select_related("call").get(user=user, key=key)
    if earlier.fingerprint != fingerprint:
        raise IdempotencyMismatch(
            "This Idempotency-Key was used for a different request: use a new key."
        )
    return earlier.call, False
