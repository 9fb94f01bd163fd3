"""Your voice: the voice print that names you on mono calls, made from a recording of yourself
(read by a worker: the speaker encoder never loads in the web) or learned from your calls."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from .. import services
from ..forms import VoiceSampleForm
from ..models import VoiceEnrolment, VoicePrint
from ..uploads import too_large_response


def voice_context(request: HttpRequest, form: VoiceSampleForm | None = None) -> dict:
    # Only ever the visitor's own: no URL here names a person or a print.
    return {
        "voice_print": VoicePrint.objects.filter(user=request.user).first(),
        "enrolment": VoiceEnrolment.objects.filter(user=request.user).first(),
        "form": form or VoiceSampleForm(),
        "min_speech_seconds": VoiceEnrolment.MIN_SPEECH_SECONDS,
        "max_seconds": VoiceEnrolment.MAX_SECONDS,
    }


@require_GET
def voice_print(request: HttpRequest) -> HttpResponse:
    context = voice_context(request)
    if request.htmx:
        # The status, polled while a recording waits for a worker.
        response = render(request, "transcripts/_voice_status.html", context)
        enrolment = context["enrolment"]
        if enrolment is None or enrolment.is_finished:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    return render(request, "transcripts/voice_print.html", context)


@require_POST
def voice_enrol(request: HttpRequest) -> HttpResponse:
    if getattr(request, "upload_too_large", False):
        return too_large_response(request)
    form = VoiceSampleForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.voice_enrolment_create(user=request.user, upload=form.cleaned_data["audio"])
        except ValidationError as error:
            form.add_error("audio", error)
        else:
            messages.success(request, "Thanks: your recording is being read. This takes a moment.")
            return redirect("transcripts:voice_print")
    return render(request, "transcripts/voice_print.html", voice_context(request, form), status=400)


@require_POST
def voice_print_delete(request: HttpRequest) -> HttpResponse:
    if services.voice_print_delete(user=request.user):
        messages.success(request, "Your voice print is deleted.")
    return redirect("transcripts:voice_print")
