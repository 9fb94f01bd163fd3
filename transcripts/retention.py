"""Retention rules: each team keeps recordings N days and transcripts M days after upload.

Run every hour by a Django-Q2 schedule (migration 0007). Expired audio goes first, then expired
calls with their transcript and analytics. A call on hold, or still being transcribed, is left
alone. Running it twice does nothing more the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from .models import Call, Team

logger = logging.getLogger(__name__)


@dataclass
class RetentionReport:
    recordings_deleted: int = 0
    calls_deleted: int = 0

    def __str__(self) -> str:
        return (
            f"{self.recordings_deleted} recording(s) and {self.calls_deleted} call(s) with "
            "their transcripts deleted"
        )


def _expired(team: Team, days: int, now: datetime):
    return team.calls.filter(
        created_at__lt=now - timedelta(days=days),
        retention_hold=False,
        status__in=Call.FINISHED,
    )


def apply_retention(*, now: datetime | None = None) -> str:
    """Delete what every team's rules say has expired; returns (and logs) what it did."""
    now = now or timezone.now()
    report = RetentionReport()
    teams = Team.objects.filter(
        Q(audio_retention_days__isnull=False) | Q(transcript_retention_days__isnull=False)
    )
    for team in teams:
        if team.audio_retention_days:
            for call in _expired(team, team.audio_retention_days, now).exclude(audio=""):
                if call.delete_audio():
                    logger.info("Retention: deleted the recording of call %s (%s)", call.uuid, team)
                    report.recordings_deleted += 1
        if team.transcript_retention_days:
            cutoff = now - timedelta(days=team.transcript_retention_days)
            for call in _expired(team, team.transcript_retention_days, now):
                # The call's own delete: segments, tracker hits and analytics go with it, and
                # its recording (if any is left) once the deletion is committed. Checked again
                # under the row's lock: a hold or "Transcribe again" since the list was read wins.
                if call.delete_if_expired(cutoff):
                    logger.info("Retention: deleted call %s (%s)", call.uuid, team)
                    report.calls_deleted += 1
    logger.info("Retention: %s", report)
    return str(report)
