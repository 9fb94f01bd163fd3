"""Teams: who is in them, and which one a person is looking at."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from .. import selectors, services
from ..forms import InvitationForm, TeamRetentionForm
from ..models import Membership


def team_managed_by(request: HttpRequest, slug: str):
    """The team, if the user manages it (403 for its other members, 404 for everyone else)."""
    team = selectors.team_for_user(request.user, slug)
    if not team.is_manager(request.user):
        raise PermissionDenied("Only the team's managers can change its members.")
    return team


@require_GET
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = selectors.team_for_user(request.user, slug)
    is_manager = team.is_manager(request.user)
    context = {
        "team": team,
        "memberships": team.memberships.select_related("user").order_by("user__username"),
        "is_manager": is_manager,
        "form": InvitationForm(),
        "invitations": (
            team.invitations.unanswered().select_related("invited_by") if is_manager else []
        ),
        # Shown once, to the manager who just sent it, to hand over another way if need be.
        "invitation_link": request.session.pop("invitation_link", None) if is_manager else None,
        "retention_form": TeamRetentionForm(instance=team),
    }
    return render(request, "transcripts/team_detail.html", context)


@require_POST
def member_remove(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    team = team_managed_by(request, slug)
    membership = get_object_or_404(Membership, pk=membership_id, team=team)
    try:
        services.member_remove(membership=membership)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{membership.user.get_username()} left {team.name}.")
    return redirect(team)


@require_POST
def team_switch(request: HttpRequest) -> HttpResponse:
    """Look at one team's calls, or at all of one's teams (an empty choice)."""
    slug = request.POST.get("team", "")
    if slug:
        selectors.team_for_user(request.user, slug)
    request.session["team"] = slug
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = "/"
    return redirect(target or "/")


@require_POST
def team_retention(request: HttpRequest, slug: str) -> HttpResponse:
    """How long the team keeps recordings and transcripts. Managers only: it deletes calls."""
    team = team_managed_by(request, slug)
    form = TeamRetentionForm(request.POST, instance=team)
    if form.is_valid():
        form.save()
        messages.success(request, "Retention rules saved.")
    else:
        errors = [message for field in form.errors.values() for message in field]
        messages.error(request, " ".join(errors))
    return redirect(team)
