"""Reads: every query of calls a person can see starts here, scoped to their teams."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404

from .models import Call, Team


def calls_for_user(user) -> QuerySet[Call]:
    return Call.objects.for_user(user).select_related("team", "uploaded_by")


def call_for_user(user, uuid: UUID) -> Call:
    """The call, if one of the user's teams owns it; 404 otherwise (never 403: a call in another
    team must not even be confirmed to exist)."""
    try:
        return calls_for_user(user).get(uuid=uuid)
    except Call.DoesNotExist:
        raise Http404("No such call.") from None


def teams_for_user(user) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user).order_by("name")


def team_for_user(user, slug: str) -> Team:
    """The team, if the user is in it; 404 otherwise."""
    try:
        return teams_for_user(user).get(slug=slug)
    except Team.DoesNotExist:
        raise Http404("No such team.") from None


def active_team(request) -> Team | None:
    """The team the user chose to look at (the team switcher); None shows all their teams."""
    slug = request.session.get("team")
    return teams_for_user(request.user).filter(slug=slug).first() if slug else None
