"""What the Django-Q2 workers run for the API: webhook deliveries, e-mail notices, and
downloads of recordings imported by URL."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from transcripts import services
from transcripts.models import Call
from transcripts.recordings import worker_temp_dir

from . import notices, outbound, webhooks
from .models import UrlImport, WebhookDelivery

logger = logging.getLogger(__name__)


def deliver_webhook(delivery_id: int) -> bool:
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or not delivery.endpoint.is_active:
        return False
    return webhooks.attempt(delivery)


def send_call_notice(call_id: int) -> bool:
    call = Call.objects.select_related("uploaded_by").filter(pk=call_id).first()
    return call is not None and notices.send_call_notice(call)


def import_call_url(import_id: int) -> str:
    """Download the recording of a call imported by URL, check it as an upload is checked,
    and queue the call for transcription; or fail the call, saying why."""
    url_import = UrlImport.objects.select_related("call").filter(pk=import_id).first()
    if url_import is None or url_import.status != UrlImport.Status.DOWNLOADING:
        return "nothing to do"
    call = url_import.call
    # In the worker's own folder: one left by a killed worker is removed when workers start.
    with tempfile.TemporaryDirectory(dir=worker_temp_dir()) as folder:
        target = Path(folder) / "recording"
        try:
            size = outbound.download(
                url_import.url,
                target,
                max_bytes=settings.MAX_UPLOAD_BYTES,
                timeout=settings.URL_IMPORT_TIMEOUT_SECONDS,
            )
            info = services.check_recording(target)
        except (outbound.OutboundError, ValidationError) as error:
            message = " ".join(getattr(error, "messages", None) or [str(error)])
            UrlImport.objects.filter(pk=url_import.pk).update(
                status=UrlImport.Status.FAILED, error=message, finished_at=timezone.now()
            )
            call.fail(f"The recording could not be imported: {message}")
            return message
        name = file_name(url_import.url)
        with transaction.atomic():
            call.refresh_from_db()
            if call.status != Call.Status.QUEUED:
                return "cancelled meanwhile"
            with target.open("rb") as handle:
                call.audio.save(services.recording_name(info), File(handle), save=False)
            call.original_filename = name
            call.size_bytes = size
            call.duration = info.duration
            call.save(update_fields=["audio", "original_filename", "size_bytes", "duration"])
            UrlImport.objects.filter(pk=url_import.pk).update(
                status=UrlImport.Status.DONE, size_bytes=size, finished_at=timezone.now()
            )
            services.call_enqueue(call)
    return f"downloaded {size} bytes"


def file_name(url: str) -> str:
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return name[:255] or "recording"
