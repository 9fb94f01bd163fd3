"""The transcription task, run as a worker runs it, with real Whisper weights on real speech."""

import pytest
from django.utils import timezone

from transcripts.models import Call
from transcripts.speech import audio
from transcripts.speech.wer import word_error_rate
from transcripts.tasks import transcribe_call

# tiny.en scores about 5% on the espeak sample; 15% leaves room for engine and setting changes
# without letting a broken pipeline (lost windows, repeated text) pass.
MAX_WER = 0.15


@pytest.fixture
def bad_files(tmp_path):
    files = {
        "random.wav": bytes(range(256)) * 40,
        "empty.wav": b"",
        "notes.mp3": b"Meeting notes: call Sarah back on Tuesday.\n" * 30,
    }
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(content)
    return paths


def test_it_transcribes_a_call_with_a_low_word_error_rate(
    db, acme, alice, make_call, speech_script
):
    call = make_call(acme, alice)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert call.status == Call.Status.DONE
    assert call.progress == 1.0
    assert call.duration == pytest.approx(29.7, abs=0.1)
    assert word_error_rate(speech_script, call.transcript_text) < MAX_WER
    assert call.engine in {"faster", "openai"}
    assert call.model_name == "tiny.en"
    assert call.processing_seconds > 0
    assert call.finished_at and call.attempts == 1
    assert call.lease_expires_at is None and call.lease_owner  # who transcribed it


def test_it_stores_segments_in_order_with_confidence(db, acme, make_call):
    call = make_call(acme)
    transcribe_call(call.pk)
    segments = list(call.segments.all())
    assert len(segments) >= 3
    assert [s.index for s in segments] == list(range(len(segments)))
    for before, after in zip(segments, segments[1:], strict=False):
        assert before.start <= after.start
        assert before.end <= after.start + 0.5
    assert all(s.avg_logprob is not None and s.avg_logprob < 0 for s in segments)
    assert all(0 <= s.no_speech_prob <= 1 for s in segments)


def test_it_does_not_transcribe_a_finished_call_again(db, acme, make_call):
    call = make_call(acme)
    transcribe_call(call.pk)
    count = call.segments.count()
    assert transcribe_call(call.pk) == "skipped (done)"
    assert call.segments.count() == count


def test_it_leaves_a_call_held_by_a_live_worker_alone(db, acme, make_call):
    call = make_call(acme)
    assert call.claim("another-worker")
    assert transcribe_call(call.pk) == "skipped (processing)"
    call.refresh_from_db()
    assert call.lease_owner == "another-worker"
    assert call.segments.count() == 0


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in the worker catches it."""


@pytest.fixture
def small_windows(settings):
    """Windows of 12 s, so the 30 s sample is transcribed in several."""
    settings.WHISPER_WINDOW_SECONDS = 12


def test_a_call_resumes_where_a_killed_worker_stopped(
    db, acme, make_call, small_windows, monkeypatch
):
    from transcripts import tasks

    reference = make_call(acme)
    transcribe_call(reference.pk)
    uninterrupted = list(reference.segments.values_list("start", "end", "text"))

    call = make_call(acme)
    original = tasks.CallTranscription.save_segment
    saved = []

    def die_in_the_second_window(self, channel, segment):
        if self.call.resume_at > 0 and saved and segment.start > self.call.resume_at:
            raise Killed
        original(self, channel, segment)
        saved.append(segment)

    monkeypatch.setattr(tasks.CallTranscription, "save_segment", die_in_the_second_window)
    with pytest.raises(Killed):
        transcribe_call(call.pk)
    call.refresh_from_db()
    assert call.status == Call.Status.PROCESSING
    assert 0 < call.resume_at < call.duration
    assert call.segments.count() > 0

    # The lease runs out; the next worker to get the call carries on.
    monkeypatch.setattr(tasks.CallTranscription, "save_segment", original)
    Call.objects.filter(pk=call.pk).update(lease_expires_at=timezone.now())
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert call.attempts == 2
    assert call.resumed_from == pytest.approx(call.resume_at, abs=60) and call.resumed_from > 0
    resumed = list(call.segments.values_list("start", "end", "text"))
    assert resumed == uninterrupted
    assert list(call.segments.values_list("index", flat=True)) == list(range(len(resumed)))


@pytest.mark.parametrize(
    "name, message",
    [
        ("random.wav", audio.NOT_AUDIO),
        ("empty.wav", audio.EMPTY_FILE),
        ("notes.mp3", audio.NOT_AUDIO),
    ],
)
def test_it_fails_a_bad_file_with_a_clear_message(db, acme, make_call, bad_files, name, message):
    call = make_call(acme, path=bad_files[name])
    assert transcribe_call(call.pk) == "failed"
    call.refresh_from_db()
    assert call.status == Call.Status.FAILED
    assert call.error == message
    assert "Traceback" not in call.error


def test_it_goes_on_to_the_next_call_after_a_bad_one(db, acme, make_call, bad_files, speech_script):
    bad = make_call(acme, path=bad_files["random.wav"])
    good = make_call(acme)
    transcribe_call(bad.pk)
    transcribe_call(good.pk)
    good.refresh_from_db()
    assert good.status == Call.Status.DONE
    assert word_error_rate(speech_script, good.transcript_text) < MAX_WER


def test_it_stops_when_the_call_is_taken_away_mid_run(db, acme, make_call, monkeypatch):
    call = make_call(acme)
    from transcripts import tasks

    def cancel_then_save(self, channel, segment):
        Call.objects.filter(pk=call.pk).update(status=Call.Status.FAILED, lease_owner="")
        return original(self, channel, segment)

    original = tasks.CallTranscription.save_segment
    monkeypatch.setattr(tasks.CallTranscription, "save_segment", cancel_then_save)
    assert transcribe_call(call.pk) == "stopped"
    assert call.segments.count() == 0


def test_it_waits_for_the_database_to_come_back(monkeypatch):
    from django.db import OperationalError

    from transcripts import tasks

    monkeypatch.setattr(tasks, "DATABASE_RETRY_DELAYS", (0.01, 0.01))
    attempts = []

    def flaky_write():
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("server closed the connection unexpectedly")
        return "written"

    assert tasks.with_database_retry(flaky_write) == "written"
    assert len(attempts) == 3


def test_it_gives_up_when_the_database_stays_away(monkeypatch):
    from django.db import OperationalError

    from transcripts import tasks

    monkeypatch.setattr(tasks, "DATABASE_RETRY_DELAYS", (0.01,))

    def down():
        raise OperationalError("could not connect to server")

    with pytest.raises(OperationalError):
        tasks.with_database_retry(down)


@pytest.mark.django_db(transaction=True)
def test_a_model_loading_longer_than_the_lease_keeps_the_call(acme, make_call, settings):
    # Loading the second pass's model or the speaker encoder reports no progress; on a busy
    # machine it outlasted a short lease and the reaper handed the call to another worker.
    import time

    from transcripts.tasks import CallTranscription

    settings.CALL_LEASE_SECONDS = 1
    call = make_call(acme)
    assert call.claim("w1")
    run = CallTranscription(call, "w1")
    with run.keeping_lease():
        time.sleep(3)
        call.refresh_from_db()
        assert call.lease_expires_at > timezone.now()
        assert not call.requeue_if_lease_expired()
    time.sleep(1.5)
    assert call.requeue_if_lease_expired(), "the lease is no longer kept once loading is over"
