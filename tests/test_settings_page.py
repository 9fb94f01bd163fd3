"""The settings page says which engine transcribes, and plainly whether audio leaves the server."""

from django.urls import reverse

URL = reverse("transcripts:settings")


def test_it_says_audio_stays_with_a_local_engine(client_for, alice, settings):
    settings.WHISPER_ENGINE = "faster"
    page = client_for(alice).get(URL).content.decode()
    assert "Audio stays on this server" in page
    assert 'id="engine">faster' in page


def test_it_warns_that_audio_leaves_with_the_api_engine(client_for, alice, settings):
    settings.WHISPER_ENGINE = "api"
    settings.OPENAI_API_KEY = "sk-test"
    page = client_for(alice).get(URL).content.decode()
    assert "the audio of every call leaves this" in page
    assert "sk-test" not in page


def test_auto_never_picks_the_api(client_for, alice, settings):
    settings.WHISPER_ENGINE = "auto"
    settings.OPENAI_API_KEY = "sk-test"
    page = client_for(alice).get(URL).content.decode()
    assert "Audio stays on this server" in page


def test_it_explains_an_unknown_engine(client_for, alice, settings):
    settings.WHISPER_ENGINE = "whisperx"
    page = client_for(alice).get(URL).content.decode()
    assert "Unknown WHISPER_ENGINE" in page


def test_it_shows_the_effective_beam_batch_and_word_times_not_zero(client_for, alice, settings):
    settings.WHISPER_ENGINE = "faster"
    settings.WHISPER_DEVICE = "cpu"
    settings.WHISPER_BEAM_SIZE = 0
    settings.WHISPER_BATCH_SIZE = 0
    page = client_for(alice).get(URL).content.decode()
    assert "<th>Beam size</th><td>5</td>" in page
    assert "<th>Batch size (speech chunks decoded at once)</th><td>4</td>" in page
    assert "<th>Word timestamps</th><td>yes</td>" in page
    assert "beam_size" not in page


def test_it_says_how_phone_line_calls_are_read(client_for, alice, settings):
    settings.WHISPER_ENGINE = "faster"
    page = client_for(alice).get(URL).content.decode()
    assert "<th>Phone-line calls (8 kHz audio)</th><td>read through from start to end" in page
    settings.WHISPER_VAD = False
    page = client_for(alice).get(URL).content.decode()
    assert "<th>Phone-line calls (8 kHz audio)</th><td>as any other call</td>" in page


def test_it_lists_each_teams_vocabulary(client_for, alice, acme):
    acme.vocabulary = "Zentrix, Quorra"
    acme.save()
    page = client_for(alice).get(URL).content.decode()
    assert '<span class="phrase">Zentrix</span>' in page
    assert '<span class="phrase">Quorra</span>' in page
