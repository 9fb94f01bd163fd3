"""Search across the calls of one's teams: words said, titles, speakers and trackers."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import selectors


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = " ".join(selectors.query_text(request.GET, "q").split())[:200]
    team = selectors.active_team(request)
    results = selectors.search_calls(request.user, query, team=team) if query else []
    page = Paginator(results, 20).get_page(request.GET.get("page"))
    context = {"q": query, "team": team, "page": page, "results": page.object_list}
    return render(request, "transcripts/search.html", context)
