"""Teams: starting one, who is in them and in which role, and which one a person is looking at."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import selectors, services, transcription
from ..forms import (
    InvitationForm,
    MemberRoleForm,
    TeamNameForm,
    TeamQualityForm,
    TeamRetentionForm,
    TeamVocabularyForm,
)
from ..models import Membership


def team_managed_by(request: HttpRequest, slug: str):
    """The team, if the user manages it (403 for its other members, 404 for everyone else).
    Every view that changes a team or its settings opens with it: the one rule for who may."""
    team = selectors.team_for_user(request.user, slug)
    if not team.is_manager(request.user):
        raise PermissionDenied("Only the team's managers can change it.")
    return team


@require_http_methods(["GET", "POST"])
def team_list(request: HttpRequest) -> HttpResponse:
    """The user's teams, and a form to start a new one (TEAM_CREATION says who may)."""
    may_create = services.team_may_be_created_by(request.user)
    form = TeamNameForm(request.POST or None)
    if request.method == "POST":
        if not may_create:
            raise PermissionDenied("Only staff can start a team here.")
        if form.is_valid():
            team = services.team_create(name=form.cleaned_data["name"], user=request.user)
            request.session["team"] = team.slug
            messages.success(request, f"{team.name} is ready: you manage it. Invite your team.")
            return redirect(team)
    memberships = request.user.memberships.select_related("team").order_by("team__name")
    context = {"memberships": memberships, "form": form, "may_create": may_create}
    return render(
        request, "transcripts/team_list.html", context, status=400 if form.errors else 200
    )


@require_GET
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = selectors.team_for_user(request.user, slug)
    is_manager = team.is_manager(request.user)
    context = {
        "team": team,
        "memberships": team.memberships.select_related("user").order_by("user__username"),
        "is_manager": is_manager,
        "manager_count": team.memberships.filter(role=Membership.Role.MANAGER).count(),
        "roles": Membership.Role.choices,
        "form": InvitationForm(),
        "name_form": TeamNameForm(initial={"name": team.name}),
        "invitations": (
            team.invitations.unanswered().select_related("invited_by") if is_manager else []
        ),
        # Shown once, to the manager who just sent it, to hand over another way if need be.
        "invitation_link": request.session.pop("invitation_link", None) if is_manager else None,
        "retention_form": TeamRetentionForm(instance=team),
        "vocabulary": transcription.vocabulary_terms(team.vocabulary),
        "quality_form": TeamQualityForm(instance=team),
    }
    return render(request, "transcripts/team_detail.html", context)


@require_POST
def team_rename(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_managed_by(request, slug)
    form = TeamNameForm(request.POST)
    if form.is_valid():
        services.team_rename(team=team, name=form.cleaned_data["name"])
        messages.success(request, f"The team is now called {team.name}.")
    else:
        messages.error(request, "Give the team a name.")
    return redirect(team)


@require_POST
def member_role(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    team = team_managed_by(request, slug)
    membership = get_object_or_404(
        Membership.objects.select_related("user"), pk=membership_id, team=team
    )
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose member or manager.")
        return redirect(team)
    try:
        services.member_set_role(membership=membership, role=form.cleaned_data["role"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        name = membership.user.get_username()
        messages.success(request, f"{name} is now a {membership.get_role_display().lower()}.")
    return redirect(team)


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
def team_vocabulary(request: HttpRequest, slug: str) -> HttpResponse:
    """The names the engine should expect in the team's calls. Managers only: every new call
    of the team is decoded with them."""
    team = team_managed_by(request, slug)
    form = TeamVocabularyForm(request.POST, instance=team)
    if form.is_valid():
        team = form.save(commit=False)
        team.vocabulary = ", ".join(transcription.vocabulary_terms(team.vocabulary))
        team.save(update_fields=["vocabulary"])
        messages.success(request, "New calls will be transcribed with this vocabulary.")
    else:
        messages.error(request, " ".join(form.errors.get("vocabulary", ["Check the vocabulary."])))
    return redirect(team)


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


@require_POST
def team_quality(request: HttpRequest, slug: str) -> HttpResponse:
    """Fast or Accurate for the team's uploads. Managers only: it sets what every upload of
    the team costs, unless the uploader chooses."""
    team = team_managed_by(request, slug)
    form = TeamQualityForm(request.POST, instance=team)
    if form.is_valid():
        form.save()
        messages.success(request, f"New calls will be transcribed {team.get_quality_display()}.")
    else:
        messages.error(request, " ".join(form.errors.get("quality", ["Choose Fast or Accurate."])))
    return redirect(team)
