"""Who is who on a call: naming the speakers, swapping the two of a dual-channel call,
fixing those told apart by voice by hand, and the team's setting."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods, require_POST

from .. import selectors, services
from ..forms import (
    LineVoiceForm,
    RepVoiceForm,
    SpeakerNamesForm,
    TeamRecordingForm,
    VoiceMergeForm,
)
from ..models import Call
from ..speakers import CUSTOMER, REP
from .teams import team_managed_by


@require_POST
def call_speakers(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Name the speakers of a call (the rep and the customer, or each voice); a blank name
    goes back to the default."""
    call = selectors.call_for_user(request.user, uuid)
    if call.has_voices:
        names = {
            str(voice): request.POST.get(f"voice_{voice}", "") for voice, _ in call.voice_choices()
        }
    else:
        form = SpeakerNamesForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Names can be up to 100 characters.")
            return redirect(call)
        names = {REP: form.cleaned_data["rep"], CUSTOMER: form.cleaned_data["customer"]}
    try:
        call.rename_speakers(names)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Speakers renamed in the transcript, analytics and exports.")
    return redirect(call)


@require_POST
def call_swap_speakers(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The rep was on the other channel of this call: exchange the speakers."""
    call = selectors.call_for_user(request.user, uuid)
    if call.has_channels:
        call.swap_speakers()
        messages.success(request, "Speakers swapped.")
    else:
        messages.error(
            request,
            "Only the two channels of a dual-channel call can be swapped: on a call told apart "
            "by voice, say which voice is the rep's.",
        )
    return redirect(call)


# --- Speakers told apart by voice, fixed by hand: any member of the team, like a line's text.


def _voiced_call(request: HttpRequest, uuid: UUID) -> Call:
    call = selectors.call_for_user(request.user, uuid)
    if not call.has_voices:
        raise Http404("This call's speakers were not told apart by voice.")
    return call


@require_http_methods(["GET", "POST"])
def line_speaker(request: HttpRequest, uuid: UUID, index: int) -> HttpResponse:
    """Give a line to another speaker: htmx swaps the chooser in place of the line, and the
    line back after."""
    call = _voiced_call(request, uuid)
    segment = selectors.segment_of_call(call, index)
    form = LineVoiceForm(request.POST or None, call=call, initial={"voice": segment.voice})
    if request.method == "POST" and form.is_valid():
        voices = call.voice_count
        try:
            changed = services.line_move(segment=segment, voice=form.cleaned_data["voice"])
        except ValidationError as error:
            form.add_error("voice", error)
        else:
            response = line_saved(request, call, segment, changed)
            if request.htmx and call.voice_count != voices:
                # A new speaker renames the others ("Customer 1") and joins the speakers
                # panel: the whole page is drawn again.
                response["HX-Refresh"] = "true"
            return response
    context = {"call": call, "segment": segment, "form": form}
    if request.htmx:
        return render(request, "transcripts/_segment_speaker_form.html", context)
    status = 400 if form.errors else 200
    return render(request, "transcripts/segment_speaker.html", context, status=status)


@require_POST
def call_merge_voices(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Diarization split one person in two: every line of one speaker goes to another."""
    call = _voiced_call(request, uuid)
    form = VoiceMergeForm(request.POST, call=call)
    if not form.is_valid():
        messages.error(request, "Choose two of this call's speakers.")
        return redirect(call)
    source, target = form.cleaned_data["source"], form.cleaned_data["target"]
    names = call.speaker_for_voice(source), call.speaker_for_voice(target)
    try:
        moved = services.voices_merge(call=call, source=source, target=target)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, f"{moved} line{pluralize(moved)} of {names[0]} given to {names[1]}."
        )
    return redirect(call)


@require_POST
def call_rep_voice(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Say which voice is the rep's (or that the rep does not speak on the call)."""
    call = _voiced_call(request, uuid)
    form = RepVoiceForm(request.POST, call=call)
    if not form.is_valid():
        messages.error(request, "Choose one of this call's speakers.")
        return redirect(call)
    if services.rep_voice_set(call=call, voice=form.cleaned_data["voice"]):
        messages.success(request, "The rep's voice is saved: the analytics follow.")
    return redirect(call)


@require_POST
def call_restore_voices(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Every line back to the speaker the machine heard."""
    call = _voiced_call(request, uuid)
    if services.voices_restore(call=call):
        messages.success(request, "Every line is back with the speaker the machine heard.")
    return redirect(call)


def line_saved(request: HttpRequest, call: Call, segment, changed: bool) -> HttpResponse:
    """After a line changed: the line again (htmx), or the page at the line."""
    if not request.htmx:
        if changed:
            messages.success(request, "The line is saved.")
        return redirect(f"{call.get_absolute_url()}#t={segment.start:.2f}")
    response = render(request, "transcripts/_segment.html", {"call": call, "segment": segment})
    if changed:
        # The analytics panel and the speakers panel listen for this and reload.
        response["HX-Trigger"] = "analytics-changed"
    return response


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
