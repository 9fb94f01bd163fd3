"""A team's dashboard: calls per week, how much each rep talks, what comes up."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import selectors

WEEKS = 12


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    slug = selectors.query_text(request.GET, "team")
    if slug:
        team = selectors.team_for_user(request.user, slug)
    else:
        team = selectors.active_team(request) or selectors.teams_for_user(request.user).first()
    context = {
        "team": team,
        "teams": selectors.teams_for_user(request.user),
        "board": selectors.team_dashboard(team, weeks=WEEKS) if team else None,
    }
    return render(request, "transcripts/dashboard.html", context)
