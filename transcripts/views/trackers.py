"""A team's keyword trackers: the phrases every call is searched for. Every member sees them;
only managers change them, because a change rewrites the hits of all the team's past calls."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from .. import selectors, services
from ..forms import TrackerForm
from .teams import team_managed_by

CHANGED = "Past calls are being searched for the change; it shows on each call within minutes."


@require_http_methods(["GET", "POST"])
def tracker_list(request: HttpRequest, slug: str) -> HttpResponse:
    """The team's trackers, and a form for a new one."""
    team = selectors.team_for_user(request.user, slug)
    is_manager = team.is_manager(request.user)
    if request.method == "POST":
        team_managed_by(request, slug)
    form = TrackerForm(request.POST or None, team=team)
    if request.method == "POST" and form.is_valid():
        tracker = form.save(commit=False)
        tracker.team = team
        services.tracker_save(tracker=tracker)
        messages.success(request, f"Tracker “{tracker.name}” added. {CHANGED}")
        return redirect("transcripts:tracker_list", slug=team.slug)
    context = {
        "team": team,
        "trackers": team.trackers.all(),
        "form": form if is_manager else None,
        "is_manager": is_manager,
    }
    return render(
        request, "transcripts/tracker_list.html", context, status=400 if form.errors else 200
    )


@require_http_methods(["GET", "POST"])
def tracker_edit(request: HttpRequest, slug: str, tracker_id: int) -> HttpResponse:
    team = team_managed_by(request, slug)
    tracker = selectors.tracker_of_team(team, tracker_id)
    form = TrackerForm(request.POST or None, instance=tracker, team=team)
    if request.method == "POST" and form.is_valid():
        services.tracker_save(tracker=form.save(commit=False))
        messages.success(request, f"Tracker “{tracker.name}” saved. {CHANGED}")
        return redirect("transcripts:tracker_list", slug=team.slug)
    context = {"team": team, "tracker": tracker, "form": form}
    return render(
        request, "transcripts/tracker_edit.html", context, status=400 if form.errors else 200
    )


@require_POST
def tracker_delete(request: HttpRequest, slug: str, tracker_id: int) -> HttpResponse:
    team = team_managed_by(request, slug)
    tracker = selectors.tracker_of_team(team, tracker_id)
    services.tracker_delete(tracker=tracker)
    messages.success(request, f"Tracker “{tracker.name}” deleted.")
    return redirect(reverse("transcripts:tracker_list", args=[team.slug]))
