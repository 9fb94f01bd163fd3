"""What ops and the load balancer ask: is the database there, and are the workers keeping up?"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.db.models import Min
from django.utils import timezone

from .models import Call, ClusterHeartbeat

logger = logging.getLogger(__name__)

# The reaper schedule beats every minute; three missed beats mean no cluster is running.
HEARTBEAT_STALE_SECONDS = 180


def queue_figures() -> dict:
    now = timezone.now()
    queued = Call.objects.queued()
    oldest = queued.aggregate(oldest=Min("queued_at"))["oldest"]
    last_beat = ClusterHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True)
    beat = last_beat.first()
    return {
        "queued_calls": queued.count(),
        "processing_calls": Call.objects.filter(status=Call.Status.PROCESSING).count(),
        "oldest_queued_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        "last_worker_heartbeat_seconds": round((now - beat).total_seconds(), 1) if beat else None,
    }


def health() -> tuple[dict, bool]:
    """The figures, and whether the web side can serve (the database answers).

    A database error names the host, port and role: it goes to the log, never into the answer.
    """
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        figures = queue_figures()
    except DatabaseError:
        logger.exception("Health check: the database does not answer")
        return {"status": "down", "database": False}, False
    beat = figures["last_worker_heartbeat_seconds"]
    workers_ok = beat is not None and beat < HEARTBEAT_STALE_SECONDS
    status = "ok" if workers_ok or not figures["queued_calls"] else "degraded"
    return {"status": status, "database": True, "workers_alive": workers_ok, **figures}, True
