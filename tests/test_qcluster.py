"""A real Django-Q2 cluster, in its own processes, transcribing calls uploaded through the web."""

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.workers import Cluster, wait_for
from transcripts import services
from transcripts.models import Call
from transcripts.speech import audio
from transcripts.speech.wer import word_error_rate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def cluster(tmp_path):
    running = Cluster(tmp_path / "qcluster.log").start()
    yield running
    running.stop()


def finished(call: Call):
    call.refresh_from_db()
    return call.is_finished


def test_a_worker_transcribes_an_upload_after_the_request_returned(
    cluster, client_for, alice, speech_sample, speech_script
):
    client = client_for(alice)
    with speech_sample.open("rb") as handle:
        response = client.post(reverse("transcripts:call_upload"), {"audio": handle})
    returned_at = timezone.now()
    assert response.status_code == 302
    call = Call.objects.get()
    assert call.segments.count() == 0

    wait_for(lambda: finished(call), message=f"the call to finish:\n{cluster.log()}")
    assert call.status == Call.Status.DONE, call.error
    assert call.transcribing_started_at > returned_at
    assert word_error_rate(speech_script, call.transcript_text) < 0.15
    assert "Process-" in cluster.log() or "processed" in cluster.log()


def test_bad_files_fail_clearly_and_the_worker_goes_on(
    cluster, acme, alice, make_call, tmp_path, speech_script
):
    bad = {
        "random.wav": (bytes(range(256)) * 40, audio.NOT_AUDIO),
        "empty.wav": (b"", audio.EMPTY_FILE),
        "notes.mp3": (b"Call Sarah back on Tuesday.\n" * 40, audio.NOT_AUDIO),
    }
    calls = {}
    for name, (content, _message) in bad.items():
        path = tmp_path / name
        path.write_bytes(content)
        calls[name] = make_call(acme, alice, path=path)
        services.call_enqueue(calls[name])
    good = make_call(acme, alice)
    services.call_enqueue(good)

    wait_for(lambda: finished(good), message=f"the good call to finish:\n{cluster.log()}")
    for name, (_content, message) in bad.items():
        call = calls[name]
        wait_for(lambda call=call: finished(call), message=name)
        assert call.status == Call.Status.FAILED
        assert call.error == message
    assert good.status == Call.Status.DONE
    assert word_error_rate(speech_script, good.transcript_text) < 0.15
    assert cluster.alive
