"""A call's transcript as a file: TXT, SRT, VTT, JSON or DOCX."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from .. import exports, selectors, services
from ..models import Call


@require_GET
def call_export(request: HttpRequest, uuid: UUID, format: str) -> HttpResponse:
    call = selectors.call_for_user(request.user, uuid)
    if format not in exports.EXPORT_FORMATS or call.status != Call.Status.DONE:
        raise Http404("No such export.")
    # The export carries the last figures; a worker brings them up to date for the next one.
    services.call_request_analytics(call)
    content = exports.render(
        format,
        call.segments.all(),
        title=call.display_title,
        duration=call.duration or 0.0,
        analytics=call.analytics,
    )
    spec = exports.EXPORT_FORMATS[format]
    response = HttpResponse(content, content_type=spec.content_type)
    response["Content-Disposition"] = content_disposition_header(
        True, f"{export_name(call)}.{spec.extension}"
    )
    return response


def export_name(call: Call) -> str:
    """A file name anyone's system accepts: the title's letters and digits, or the call's id."""
    name = slugify(call.title or Path(call.original_filename).stem)[:80].strip("-_")
    return name or f"call-{call.uuid.hex[:8]}"
