"""What transcribes the team's calls, and where their audio goes."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import quality, selectors, transcription
from ..speech.base import TranscriptionError
from ..speech.engines import ENGINE_NAMES, installed, resolve_engine_name


@require_GET
def transcription_settings(request: HttpRequest) -> HttpResponse:
    spec = transcription.engine_spec()
    try:
        engine = resolve_engine_name(spec)
    except TranscriptionError as error:
        engine, problem = "", str(error)
    else:
        problem = ""
    context = {
        "spec": spec,
        "engine": engine,
        "problem": problem,
        "options": transcription.effective_decoding(engine, spec),
        "teams": [
            (team, transcription.vocabulary_terms(team.vocabulary), quality.label(team.quality))
            for team in selectors.teams_for_user(request.user)
        ],
        "installed": {name: installed(name) for name in ENGINE_NAMES},
        "qualities": quality.choices(),
        "measured_on": quality.MEASURED_ON,
        "second_pass": quality.second_pass_note(),
        # With the API engine, every recording is uploaded to OpenAI: people must know.
        "audio_leaves_server": engine == "api",
    }
    return render(request, "transcripts/settings.html", context)
