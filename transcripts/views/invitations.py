"""Invitations to a team: managers send, resend and revoke them; the invited person accepts.

Who may accept an invitation is decided by Invitation.decide(): read its docstring first.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .. import services
from ..forms import InvitationForm, InvitedAccountForm
from ..models import Invitation
from .teams import team_managed_by

Decision = Invitation.Decision


def _site_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


def _invitation_of_team(request: HttpRequest, slug: str, invitation_id: int) -> Invitation:
    team = team_managed_by(request, slug)
    return get_object_or_404(Invitation.objects.unanswered(), pk=invitation_id, team=team)


@require_POST
def invitation_create(request: HttpRequest, slug: str) -> HttpResponse:
    team = team_managed_by(request, slug)
    form = InvitationForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the e-mail address of the person to invite.")
        return redirect(team)
    try:
        invitation, link = services.invitation_send(
            team=team,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            invited_by=request.user,
            site_url=_site_url(request),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        # The same answer whether or not the address has an account.
        messages.success(request, f"Invitation sent to {invitation.email}.")
        request.session["invitation_link"] = link
    return redirect(team)


@require_POST
def invitation_resend(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    invitation = _invitation_of_team(request, slug, invitation_id)
    link = services.invitation_resend(invitation=invitation, site_url=_site_url(request))
    messages.success(
        request, f"Invitation sent again to {invitation.email}; older links stop working."
    )
    request.session["invitation_link"] = link
    return redirect(invitation.team)


@require_POST
def invitation_revoke(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    invitation = _invitation_of_team(request, slug, invitation_id)
    invitation.revoke()
    messages.success(request, f"The invitation of {invitation.email} is revoked.")
    return redirect(invitation.team)


@login_not_required
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation's link opens: accept, create an account, or what to do first."""
    invitation, via = Invitation.find(token)
    if invitation is None:
        return render(request, "transcripts/invitation_closed.html", status=404)
    decision = invitation.decide(request.user, via)
    if decision == Decision.CLOSED:
        return render(request, "transcripts/invitation_closed.html", status=410)
    form = None
    if decision == Decision.CREATE_ACCOUNT:
        form = InvitedAccountForm(request.POST or None, email=invitation.email)
    if request.method == "POST":
        try:
            if decision == Decision.ACCEPT:
                invitation.accept(request.user, via)
                return _joined(request, invitation)
            if form is not None and form.is_valid():
                with transaction.atomic():
                    user = form.save()
                    invitation.accept(user, via)
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return _joined(request, invitation)
        except ValidationError:
            return render(request, "transcripts/invitation_closed.html", status=410)
    context = {
        "invitation": invitation,
        "team": invitation.team,
        "decision": decision,
        "form": form,
        "by_email": via == Invitation.Via.EMAIL,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "transcripts/invitation_accept.html", context, status=status)


def _joined(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    messages.success(request, f"Welcome to {invitation.team.name}.")
    return redirect(invitation.team)
