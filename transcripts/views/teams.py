"""Teams: who is in them, and which one a person is looking at."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from .. import selectors, services
from ..forms import MemberAddForm, TeamVocabularyForm
from ..models import Membership


def _team_managed_by(request: HttpRequest, slug: str):
    team = selectors.team_for_user(request.user, slug)
    if not team.is_manager(request.user):
        raise PermissionDenied("Only the team's managers can change its members.")
    return team


@require_GET
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = selectors.team_for_user(request.user, slug)
    context = {
        "team": team,
        "memberships": team.memberships.select_related("user").order_by("user__username"),
        "is_manager": team.is_manager(request.user),
        "form": MemberAddForm(),
        "setup_link": request.session.pop("setup_link", None),
        "vocabulary": services.vocabulary_terms(team.vocabulary),
    }
    return render(request, "transcripts/team_detail.html", context)


@require_POST
def member_add(request: HttpRequest, slug: str) -> HttpResponse:
    team = _team_managed_by(request, slug)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            membership, created = services.member_add(
                team=team,
                identifier=form.cleaned_data["identifier"],
                role=form.cleaned_data["role"],
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            name = membership.user.get_username()
            messages.success(request, f"{name} joined {team.name}.")
            if created:
                # Shown once, to the manager, to send to the new member.
                request.session["setup_link"] = request.build_absolute_uri(
                    services.password_setup_path(membership.user)
                )
    else:
        messages.error(request, "Give a username or an email address.")
    return redirect(team)


@require_POST
def member_remove(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    team = _team_managed_by(request, slug)
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
    team = _team_managed_by(request, slug)
    form = TeamVocabularyForm(request.POST, instance=team)
    if form.is_valid():
        team = form.save(commit=False)
        team.vocabulary = ", ".join(services.vocabulary_terms(team.vocabulary))
        team.save(update_fields=["vocabulary"])
        messages.success(request, "New calls will be transcribed with this vocabulary.")
    else:
        messages.error(request, " ".join(form.errors.get("vocabulary", ["Check the vocabulary."])))
    return redirect(team)
