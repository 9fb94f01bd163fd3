"""A call's transcript as a file (TXT, SRT, VTT, JSON or DOCX); a team's as a ZIP."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
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
        transcribed_with=call.transcribed_with(),
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


# Each call of a team's archive, in these formats: one to read, one with every detail.
TEAM_EXPORT_FORMATS = ("txt", "json")


@require_GET
def team_export(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """Every transcript of the team as a ZIP, streamed call by call. Managers only."""
    team = selectors.team_for_user(request.user, slug)
    if not team.is_manager(request.user):
        raise PermissionDenied("Only the team's managers can export all its transcripts.")
    response = StreamingHttpResponse(
        exports.zip_stream(_team_export_entries(team)), content_type="application/zip"
    )
    response["Content-Disposition"] = content_disposition_header(
        True, f"{team.slug}-transcripts.zip"
    )
    return response


def _team_export_entries(team):
    calls = team.calls.filter(status=Call.Status.DONE).select_related("team").order_by("created_at")
    for call in calls.iterator(chunk_size=50):
        # The archive carries the last figures: a team's worth of recomputing has no place in a
        # request (issue 9); a worker brings stale ones up to date.
        services.call_request_analytics(call)
        segments = list(call.segments.all())
        name = f"{call.created_at:%Y-%m-%d}-{export_name(call)}-{call.uuid.hex[:8]}"
        for format in TEAM_EXPORT_FORMATS:
            content = exports.render(
                format,
                segments,
                title=call.display_title,
                duration=call.duration or 0.0,
                analytics=call.analytics,
                transcribed_with=call.transcribed_with(),
            )
            yield f"{name}.{format}", content
