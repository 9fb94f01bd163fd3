"""Team vocabulary: managers list the names their calls use, and every engine is told of them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from django.urls import reverse

from tests.openai_api_server import FakeTranscriptionAPI
from transcripts import transcription
from transcripts.speech import audio
from transcripts.speech.base import DecodeOptions, EngineSpec
from transcripts.speech.engines import load_engine
from transcripts.speech.openai_api_engine import OpenAIAPIEngine

NAMES = ("Zentrix", "Quorra", "Kyvo", "Ledgerly")
SCRIPT = (
    "We moved our support desk to Zentrix last spring. Now Zentrix sends every ticket to "
    "Quorra, and the team at Kyvo reads them in Ledgerly."
)


def test_a_manager_saves_the_teams_vocabulary_one_name_each(client_for, alice, acme):
    url = reverse("transcripts:team_vocabulary", args=[acme.slug])
    client_for(alice).post(url, {"vocabulary": "Zentrix,  Quorra\nKyvo, Zentrix,"})
    acme.refresh_from_db()
    assert acme.vocabulary == "Zentrix, Quorra, Kyvo"
    page = client_for(alice).get(acme.get_absolute_url()).content.decode()
    assert "Zentrix, Quorra, Kyvo</textarea>" in page


def test_a_member_sees_the_vocabulary_but_cannot_change_it(client_for, bob, acme):
    acme.vocabulary = "Zentrix, Quorra"
    acme.save()
    page = client_for(bob).get(acme.get_absolute_url()).content.decode()
    assert '<span class="phrase">Quorra</span>' in page and "vocabulary-form" not in page
    url = reverse("transcripts:team_vocabulary", args=[acme.slug])
    assert client_for(bob).post(url, {"vocabulary": "Other"}).status_code == 403


def test_the_worker_decodes_a_teams_calls_with_its_vocabulary(acme):
    acme.vocabulary = "Zentrix, Quorra"
    assert transcription.decode_options(acme).hotwords == "Zentrix, Quorra"
    acme.vocabulary = ""
    assert transcription.decode_options(acme).hotwords is None


def test_engines_without_hotwords_get_the_names_in_the_prompt():
    options = DecodeOptions(hotwords="Zentrix, Quorra", initial_prompt="A renewal call.")
    assert options.prompt == "Names: Zentrix, Quorra. A renewal call."
    assert DecodeOptions().prompt is None


@pytest.fixture(scope="module")
def rare_names(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng (make test-packages)")
    wav = tmp_path_factory.mktemp("vocabulary") / "names.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", "-w", str(wav), SCRIPT], check=True)
    return wav


def names_heard(text: str) -> set[str]:
    return {name for name in NAMES if name.lower() in text.lower()}


def test_the_vocabulary_lifts_faster_whisper_on_rare_names(rare_names):
    engine = load_engine(EngineSpec(engine="faster", device="cpu"))
    samples = audio.decode(rare_names)
    plain = " ".join(s.text for s in engine.transcribe(samples, DecodeOptions()))
    told = " ".join(
        s.text for s in engine.transcribe(samples, DecodeOptions(hotwords=", ".join(NAMES)))
    )
    # Measured with tiny.en: none of the four names without, three of them with.
    assert len(names_heard(plain)) <= 1
    assert len(names_heard(told)) >= 3


# A long vocabulary, as a team may keep it (818 characters, 282 of tiny.en's tokens: more than
# the 223 faster-whisper keeps of hotwords).
LONG_VOCABULARY = ", ".join(
    f"{company} {product}"
    for company in ("Zentrix", "Quorra", "Kyvo", "Ledgerly", "Brightwell", "Osterfeld", "Nimbara")
    for product in ("Desk", "Flow", "Ledger", "Insight", "Relay", "Vault", "Pulse", "Atlas")
)[:818]
SAID_BEFORE = " ".join(["we talked about the renewal and the pricing for the enterprise plan"] * 3)


def test_a_long_vocabulary_and_the_words_before_fit_what_whisper_reads():
    from transcripts.speech.faster_engine import fitted_prompt

    model = load_engine(EngineSpec(engine="faster", device="cpu")).model
    tokens = len(model.hf_tokenizer.encode(" " + LONG_VOCABULARY).ids)
    assert tokens > model.max_length // 2
    samples = np.random.default_rng(0).normal(0, 0.01, 28 * 16000).astype(np.float32)
    decode = dict(vad_filter=False, hotwords=LONG_VOCABULARY, max_new_tokens=188, language="en")
    # As hole repair decoded a clip of 28 s: faster-whisper refuses it.
    with pytest.raises(ValueError, match="exceeds the `max_length`"):
        list(model.transcribe(samples, initial_prompt=SAID_BEFORE, **decode)[0])
    fitted = fitted_prompt(model, SAID_BEFORE, LONG_VOCABULARY, 188)
    # The words nearest the audio are kept, as many as fit.
    assert fitted and SAID_BEFORE.endswith(fitted) and fitted != SAID_BEFORE
    segments, _info = model.transcribe(samples, initial_prompt=fitted, **decode)
    list(segments)
    assert fitted_prompt(model, "A renewal call.", "Zentrix", 188) == "A renewal call."


def test_a_long_vocabulary_and_prompt_still_transcribe(rare_names):
    engine = load_engine(EngineSpec(engine="faster", device="cpu"))
    options = DecodeOptions(hotwords=LONG_VOCABULARY, initial_prompt=SAID_BEFORE)
    # Without the prompt fitted, the batched pass refused it (ValueError) and the call failed.
    text = " ".join(s.text for s in engine.transcribe(audio.decode(rare_names), options))
    assert len(text.split()) >= 15 and "last spring" in text.lower()


def test_openai_whisper_gets_the_vocabulary_as_its_initial_prompt(tmp_path):
    from transcripts.speech.whisper_engine import OpenAIWhisperEngine

    engine = OpenAIWhisperEngine(
        EngineSpec(engine="openai", model="tiny.en", device="cpu", model_dir=tmp_path)
    )
    arguments = engine._arguments(DecodeOptions(hotwords="Zentrix, Quorra"))
    assert arguments["initial_prompt"] == "Names: Zentrix, Quorra."


def test_the_api_gets_the_vocabulary_in_its_prompt(monkeypatch, rare_names):
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with FakeTranscriptionAPI(api_key="sk-test") as api:
        engine = OpenAIAPIEngine(
            EngineSpec(engine="api", api_key="sk-test", api_base=api.url), backoff_seconds=0.0
        )
        list(engine.transcribe(audio.decode(rare_names), DecodeOptions(hotwords="Zentrix, Kyvo")))
    assert api.requests[0].field("prompt") == "Names: Zentrix, Kyvo."
