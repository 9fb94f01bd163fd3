from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from .. import selectors, services
from ..forms import CallFilterForm, CallRepForm, CallTitleForm, UploadForm
from ..media import serve_audio
from ..uploads import too_large_response
from .call_panels import transcript_context

# The call list's sortable columns: (label, sort key as in selectors.CALL_SORTS, the order of
# a first click: dates and lengths newest and longest first, titles A to Z).
LIST_COLUMNS = [
    ("Call", "title", "title"),
    ("Uploaded", "created", "-created"),
    ("Length", "duration", "-duration"),
    ("Status", "status", "status"),
]


@require_GET
def call_list(request: HttpRequest) -> HttpResponse:
    calls = selectors.calls_for_user(request.user)
    team = selectors.active_team(request)
    if team:
        calls = calls.filter(team=team)
    form = CallFilterForm(request.GET, uploaders=selectors.uploaders_for_user(request.user))
    filters = form.filters()
    calls = selectors.filter_calls(calls, **filters)
    page = Paginator(calls, 25).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "calls": page.object_list,
        "form": form,
        "sort": filters["sort"],
        "filtered": any(
            request.GET.get(name) for name in ("status", "uploader", "date_from", "date_to")
        ),
        "columns": _sort_links(filters["sort"]),
    }
    return render(request, "transcripts/call_list.html", context)


def _sort_links(current: str) -> list[dict]:
    """Each column's header: a click sorts by it, and a second click reverses the order."""
    links = []
    for label, key, first in LIST_COLUMNS:
        active = current.lstrip("-") == key
        following = {key: f"-{key}", f"-{key}": key}.get(current, first)
        links.append(
            {
                "label": label,
                "key": key,
                "sort": following,
                "active": active,
                "descending": active and current.startswith("-"),
            }
        )
    return links


@require_http_methods(["GET", "POST"])
def call_upload(request: HttpRequest) -> HttpResponse:
    teams = selectors.teams_for_user(request.user)
    if not teams.exists():
        messages.error(request, "You are not in a team yet: ask a manager to add you.")
        return redirect("transcripts:call_list")
    form = UploadForm(request.POST or None, request.FILES or None, teams=teams, user=request.user)
    if request.method == "POST" and getattr(request, "upload_too_large", False):
        return too_large_response(request)
    if request.method == "POST" and form.is_valid():
        try:
            call = services.call_create(
                team=form.cleaned_data["team"],
                user=request.user,
                upload=form.cleaned_data["audio"],
                title=form.cleaned_data["title"],
                rep=form.cleaned_data["rep"],
                speakers_expected=form.cleaned_data["speakers_expected"],
                quality=form.cleaned_data["quality"],
            )
        except ValidationError as error:
            form.add_error("audio", error)
        else:
            return redirect(call)
    status = 400 if form.errors else 200
    return render(request, "transcripts/call_upload.html", {"form": form}, status=status)


@require_GET
def call_detail(request: HttpRequest, uuid: UUID) -> HttpResponse:
    call = selectors.call_for_user(request.user, uuid)
    can_change = call.can_change(request.user)
    context = {
        "call": call,
        "can_change": can_change,
        "can_hold": request.user.is_staff or call.team.is_manager(request.user),
        "rep_form": CallRepForm(call=call, initial={"rep": call.rep}) if can_change else None,
        **transcript_context(request, call),
    }
    return render(request, "transcripts/call_detail.html", context)


@require_GET
def call_progress(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """The call's status fragment, polled by the call page until the call is finished."""
    call = selectors.call_for_user(request.user, uuid)
    context = {
        "call": call,
        "can_change": call.can_change(request.user),
        **transcript_context(request, call),
    }
    response = render(request, "transcripts/_call_status.html", context)
    return _stop_polling_when_finished(call, response)


@require_GET
def call_row(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """One row of the call list, polled while its call is queued or transcribing."""
    call = selectors.call_for_user(request.user, uuid)
    response = render(request, "transcripts/_call_row.html", {"call": call})
    return _stop_polling_when_finished(call, response)


def _stop_polling_when_finished(call, response: HttpResponse) -> HttpResponse:
    if not call.is_finished:
        return response
    # HTTP 286 tells htmx to swap in this last content and stop polling.
    final = HttpResponseStopPolling(response.content)
    final["Content-Type"] = response["Content-Type"]
    return final


@require_GET
def call_audio(request: HttpRequest, uuid: UUID) -> HttpResponse:
    call = selectors.call_for_user(request.user, uuid)
    if not call.has_audio:
        raise Http404("The recording was deleted under the team's retention rules.")
    return serve_audio(request, call)


def _call_changeable_by(request: HttpRequest, uuid: UUID):
    call = selectors.call_for_user(request.user, uuid)
    if not call.can_change(request.user):
        raise PermissionDenied("Only the person who uploaded this call or a manager can do that.")
    return call


@require_POST
def call_retranscribe(request: HttpRequest, uuid: UUID) -> HttpResponse:
    # It discards the transcript and any corrections people made: not every member's call.
    call = _call_changeable_by(request, uuid)
    if call.is_finished and services.work_on_call(call) and request.POST.get("confirmed") != "yes":
        # People's corrections are at stake: say what will happen first.
        return redirect("transcripts:call_retranscribe_confirm", uuid=call.uuid)
    # Decided under the call's lock, not by the copy read above: it may be queued already.
    try:
        if services.call_retranscribe(call):
            messages.success(request, "The call is queued to be transcribed again.")
        else:
            messages.error(request, "This call is still being transcribed: cancel it first.")
    except ValidationError as error:  # its recording was deleted
        messages.error(request, " ".join(error.messages))
    return redirect(call)


@require_GET
def call_retranscribe_confirm(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """What "Transcribe again" does to a call people have worked on, before it is done."""
    call = _call_changeable_by(request, uuid)
    context = {"call": call, "work": services.work_on_call(call)}
    return render(request, "transcripts/call_retranscribe.html", context)


@require_POST
def call_cancel(request: HttpRequest, uuid: UUID) -> HttpResponse:
    call = _call_changeable_by(request, uuid)
    if call.cancel():
        messages.success(request, "Transcription cancelled.")
    else:
        messages.error(request, "This call has already finished.")
    return redirect(call)


@require_POST
def call_rename(request: HttpRequest, uuid: UUID) -> HttpResponse:
    call = _call_changeable_by(request, uuid)
    form = CallTitleForm(request.POST)
    if form.is_valid():
        call.retitle(form.cleaned_data["title"])
        messages.success(request, "Title saved.")
    return redirect(call)


@require_POST
def call_rep(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Name the team member who led the call: the uploader or a manager; a manager may name
    any member of the team, anyone else only themselves."""
    call = _call_changeable_by(request, uuid)
    form = CallRepForm(request.POST, call=call)
    if not form.is_valid():
        messages.error(request, "Choose a member of the call's team.")
        return redirect(call)
    try:
        changed = services.call_set_rep(call=call, user=request.user, rep=form.cleaned_data["rep"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if changed:
            messages.success(request, "The call's rep is saved.")
    return redirect(call)


@require_POST
def call_delete(request: HttpRequest, uuid: UUID) -> HttpResponse:
    call = _call_changeable_by(request, uuid)
    title = call.display_title
    call.delete()
    messages.success(request, f"“{title}” and its recording were deleted.")
    return redirect("transcripts:call_list")


@require_POST
def call_hold(request: HttpRequest, uuid: UUID) -> HttpResponse:
    """Place or lift a hold: a held call is never deleted by the retention rules. Managers
    only, since a hold overrides the team's rules."""
    call = selectors.call_for_user(request.user, uuid)
    if not (request.user.is_staff or call.team.is_manager(request.user)):
        raise PermissionDenied("Only the team's managers can place a hold on a call.")
    held = request.POST.get("hold") == "1"
    call.set_retention_hold(held)
    if held:
        messages.success(request, "This call is on hold: the retention rules will not delete it.")
    else:
        messages.success(request, "Hold lifted: the team's retention rules apply again.")
    return redirect(call)
