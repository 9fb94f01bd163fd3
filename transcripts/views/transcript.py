"""A call's transcript: searching it, and correcting its lines in place."""

from __future__ import annotations

from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import selectors, services
from ..forms import SegmentTextForm
from ..models import Call
from .call_panels import search_context
from .speakers import line_saved


@require_GET
def call_transcript(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The transcript with the lines matching ?q= marked; htmx swaps it in as people type."""
    call = selectors.call_for_user(request.user, uuid)
    if not request.htmx:
        # Without JavaScript the search box submits to the call page itself.
        return redirect(f"{call.get_absolute_url()}?{request.GET.urlencode()}")
    segments = list(call.segments.all()) if call.status == Call.Status.DONE else []
    context = {"call": call, **search_context(request, segments)}
    return render(request, "transcripts/_transcript_lines.html", context)


@require_GET
def segment_detail(request: HttpRequest, uuid: UUID, index: int) -> HttpResponse:
    """One line of the transcript (what "Cancel" on the edit form swaps back in)."""
    call = selectors.call_for_user(request.user, uuid)
    segment = selectors.segment_of_call(call, index)
    return render(request, "transcripts/_segment.html", {"call": call, "segment": segment})


@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, uuid: UUID, index: int) -> HttpResponse:
    """Correct a line: htmx swaps the form in place of the line, and the line back after."""
    call = selectors.call_for_user(request.user, uuid)
    segment = selectors.segment_of_call(call, index)
    form = SegmentTextForm(request.POST or None, initial={"text": segment.text})
    if request.method == "POST" and form.is_valid():
        try:
            changed = services.segment_edit(segment=segment, text=form.cleaned_data["text"])
        except ValidationError as error:
            form.add_error("text", error)
        else:
            return line_saved(request, call, segment, changed)
    context = {"call": call, "segment": segment, "form": form}
    if request.htmx:
        # htmx swaps only successful answers: the form comes back with its errors as a 200.
        return render(request, "transcripts/_segment_form.html", context)
    status = 400 if form.errors else 200
    return render(request, "transcripts/segment_edit.html", context, status=status)


@require_POST
def segment_restore(request: HttpRequest, uuid: UUID, index: int) -> HttpResponse:
    """Undo the corrections of a line: back to what Whisper heard."""
    call = selectors.call_for_user(request.user, uuid)
    segment = selectors.segment_of_call(call, index)
    changed = services.segment_restore(segment=segment)
    return line_saved(request, call, segment, changed)
