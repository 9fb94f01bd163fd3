"""Who is who on a call: naming the two speakers, swapping them, and the team's setting."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from .. import selectors
from ..forms import SpeakerNamesForm, TeamRecordingForm
from ..speakers import CUSTOMER, REP
from .teams import team_managed_by


@require_POST
def call_speakers(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Name the rep and the customer of a call; a blank name goes back to the role."""
    call = selectors.call_for_user(request.user, uuid)
    form = SpeakerNamesForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Names can be up to 100 characters.")
        return redirect(call)
    try:
        call.rename_speakers(
            {REP: form.cleaned_data["rep"], CUSTOMER: form.cleaned_data["customer"]}
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Speakers renamed in the transcript, analytics and exports.")
    return redirect(call)


@require_POST
def call_swap_speakers(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The rep was on the other channel of this call: exchange the speakers."""
    call = selectors.call_for_user(request.user, uuid)
    if call.has_speakers:
        call.swap_speakers()
        messages.success(request, "Speakers swapped.")
    else:
        messages.error(request, "This call's speakers are not separated, so there is no swap.")
    return redirect(call)


@require_POST
def team_recording(request: HttpRequest, slug: str) -> HttpResponse:
    """Which channel the team's dialer records the rep on. Managers only: it changes how every
    new call is labelled."""
    team = team_managed_by(request, slug)
    form = TeamRecordingForm(request.POST, instance=team)
    if form.is_valid():
        form.save()
        messages.success(
            request,
            f"New calls will have the rep on the {team.get_rep_channel_display().lower()} channel.",
        )
    else:
        messages.error(request, "Choose the left or the right channel.")
    return redirect(team)
