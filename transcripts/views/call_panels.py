"""A transcribed call's analysis: the timeline, talk ratio and analytics panel of its page."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import charts, selectors, services
from ..exports import EXPORT_FORMATS
from ..models import Call


def transcript_context(request: HttpRequest, call: Call) -> dict:
    """What the page of a transcribed call shows below the player (empty until it is done).

    Used by the call page and by the progress fragment that replaces itself with the
    transcript when the call finishes, so both render the same markup.
    """
    if call.status != Call.Status.DONE:
        return {}
    updating = services.call_request_analytics(call)
    segments = list(call.segments.all())
    return {
        **search_context(request, segments),
        **insights_context(call, segments, updating=updating),
        "export_formats": list(EXPORT_FORMATS),
    }


def search_context(request: HttpRequest, segments: list) -> dict:
    """The transcript's lines, those matching the search box (?q=) marked as `matched`."""
    query = request.GET.get("q", "").strip()[:200]
    patterns = selectors.term_patterns(query)
    for segment in segments:
        segment.matched = selectors.text_matches(segment.text, patterns)
    return {
        "segments": segments,
        "q": query,
        "match_count": sum(segment.matched for segment in segments),
    }


def insights_context(call: Call, segments: list, *, updating: bool = False) -> dict:
    analytics = call.analytics or {}
    return {
        "analytics": analytics,
        # The figures shown are the last ones; a worker is computing new ones.
        "analytics_updating": updating,
        "timeline": charts.timeline(call, segments, analytics),
        "speaker_stats": charts.speaker_stats(call, analytics),
        "best_rep_share": selectors.BEST_REP_TALK_SHARE,
    }


@require_GET
def call_insights(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The timeline and analytics panel alone: htmx reloads them after a correction, and polls
    while a worker updates them."""
    call = selectors.call_for_user(request.user, uuid)
    if call.status != Call.Status.DONE:
        return HttpResponse(status=204)
    updating = services.call_request_analytics(call)
    segments = list(call.segments.all())
    context = {"call": call, **insights_context(call, segments, updating=updating)}
    return render(request, "transcripts/_insights.html", context)
