"""The "Finding speakers" stage, run as a worker runs it, with real Whisper and speaker-encoder
weights: a mono recording of two espeak-ng voices (the stereo call mixed into one channel) is
transcribed, its voices told apart, its lines split where the voice changes, and the rep named
by their voice print."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.files import File
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from tests.conftest import make_user
from tests.test_dual_channel import RememberingEngine
from tests.voices import PROSPECT, REP, STRANGER, MonoCall, mono_call, reading, speaker_accuracy
from transcripts import tasks, transcription
from transcripts.models import Call, ClusterHeartbeat, Team, VoicePrint
from transcripts.speech import audio
from transcripts.speech.engines import load_engine
from transcripts.tasks import transcribe_call

pytestmark = pytest.mark.django_db

REP_NAME = ("Dana", "Reyes")


@pytest.fixture(scope="session")
def calls(tmp_path_factory, two_voice_call):
    """Two mono calls of a rep and a prospect: the diarization tests' minute (conftest), and
    about 20 s for the runs that test the stage rather than the voices."""
    from dataclasses import asdict

    path, turns = two_voice_call
    return SimpleNamespace(
        long=MonoCall(path, [asdict(turn) for turn in turns]),
        short=mono_call(tmp_path_factory.mktemp("mono"), 20, 3),
    )


@pytest.fixture(scope="session")
def voice_vectors(tmp_path_factory):
    """Voice prints of the call's rep and of a stranger, learned from recordings of their own."""
    from transcripts.speech import diarization

    folder = tmp_path_factory.mktemp("voices")
    return {
        name: diarization.voice_print(audio.decode(reading(folder / f"{name}.wav", voice)))
        for name, voice in (("rep", REP), ("stranger", STRANGER))
    }


@pytest.fixture(scope="module")
def remembering_engine():
    """The real engine, run once per distinct window: the tests here run the same call often."""
    return RememberingEngine(load_engine(transcription.engine_spec()))


@pytest.fixture
def engine_loads(monkeypatch, remembering_engine):
    """The engine for every run, and a list with an entry for each time a run loads it."""
    loads = []

    def load(spec):
        loads.append(spec)
        return remembering_engine

    monkeypatch.setattr(tasks, "load_engine", load)
    return loads


def new_call(team, path, **fields) -> Call:
    """A call of `team` holding `path`. The runs here test the stage, not the counting of
    voices (the module's first call does): they say there are two people, as an upload may."""
    fields.setdefault("speakers_expected", 2)
    call = Call(team=team, original_filename=path.name, **fields)
    with path.open("rb") as handle:
        call.audio.save(path.name, File(handle), save=False)
    call.save()
    return call


def give_voice_print(user, learned) -> VoicePrint:
    vector, seconds = learned
    return VoicePrint.learn(user, vector, seconds, from_call=False)


def lines(call: Call) -> list[tuple]:
    return list(
        call.segments.values_list(
            "index", "start", "end", "text", "speaker", "voice", "machine_voice", "channel"
        )
    )


# --- One call, diarized once, with everything the worker wrote on the way -------------------


@pytest.fixture(scope="module")
def diarized(django_db_setup, django_db_blocker, tmp_path_factory, calls, voice_vectors):
    """The mono call of Dana (enrolled) with a customer, transcribed once by the real worker."""
    reports, before = [], []
    report_progress, start_diarizing = Call.report_progress, Call.start_diarizing

    def record_progress(call, worker, fraction):
        reports.append((call.stage, fraction))
        return report_progress(call, worker, fraction)

    def record_transcript(call, worker):
        before.extend(call.segments.values_list("text", flat=True))
        return start_diarizing(call, worker)

    media = tmp_path_factory.mktemp("media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=media):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(tasks, "PROGRESS_INTERVAL_SECONDS", 0.0)
            patch.setattr(Call, "report_progress", record_progress)
            patch.setattr(Call, "start_diarizing", record_transcript)
            team = Team.objects.create(name="Mono Sales", slug="mono-sales")
            dana = make_user("dana", team, first_name=REP_NAME[0], last_name=REP_NAME[1])
            give_voice_print(dana, voice_vectors["rep"])
            # Nobody said how many people speak: the voices are counted.
            call = new_call(team, calls.long.path, rep=dana, speakers_expected=None)
            outcome = transcribe_call(call.pk)
            call.refresh_from_db()
            result = SimpleNamespace(
                outcome=outcome,
                call=call,
                reports=reports,
                before=before,
                names={voice: call.speaker_for_voice(voice) for voice in range(3)},
                segments=list(
                    call.segments.values(
                        "index", "start", "end", "text", "speaker", "voice", "machine_voice"
                    )
                ),
            )
        team.delete()
        dana.delete()
        ClusterHeartbeat.objects.all().delete()
    return result


def test_it_finds_the_two_voices_and_names_the_rep(diarized):
    call = diarized.call
    assert diarized.outcome == "done"
    assert call.channel_layout == "mono"
    assert call.voice_count == 2
    assert call.rep_voice is not None
    assert {s["speaker"] for s in diarized.segments} == {"Dana Reyes", "Customer"}
    assert call.speakers_note == ""


def test_at_least_95_percent_of_words_go_to_the_right_speaker(diarized, calls):
    accuracy, coverage, mapping = speaker_accuracy(diarized.segments, calls.long.turns)
    print(f"diarized speaker accuracy {accuracy:.1%} over {coverage:.0%} of the script's words")
    assert mapping == {"Dana Reyes": REP.name, "Customer": PROSPECT.name}
    assert coverage > 0.8
    assert accuracy >= 0.95


def test_each_line_has_one_voice_kept_as_the_machine_said(diarized):
    segments = diarized.segments
    assert [s["index"] for s in segments] == list(range(len(segments)))
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)
    assert all(s["voice"] == s["machine_voice"] is not None for s in segments)
    assert all(s["speaker"] == diarized.names[s["voice"]] for s in diarized.segments)
    # Lines two people shared were split; nothing was lost or repeated (a word split off its
    # piece, "$60" and ",000", loses only the space between).
    assert len(segments) >= len(diarized.before)

    def letters(texts) -> str:
        return "".join("".join(texts).split())

    assert letters(s["text"] for s in segments) == letters(diarized.before)


def test_it_records_what_the_machine_found(diarized):
    call = diarized.call
    assert {voice for _, _, voice in call.voice_turns} == {0, 1}
    assert all(start < end for start, end, _ in call.voice_turns)
    assert set(call.rep_similarity) == {"0", "1"}
    rep, other = str(call.rep_voice), str(1 - call.rep_voice)
    assert call.rep_similarity[rep] > call.rep_similarity[other]
    print(f"similarity to Dana's print: {call.rep_similarity} (rep: voice {rep})")


def test_finding_speakers_is_a_stage_with_its_own_progress(diarized):
    stages = [stage for stage, _ in diarized.reports]
    assert "transcribing" in stages and "diarizing" in stages
    # Transcription first, to its end; then the stage counts from 0 again, never going back.
    first = stages.index("diarizing")
    assert set(stages[first:]) == {"diarizing"}
    transcribing = [f for stage, f in diarized.reports if stage == "transcribing"]
    diarizing = [f for stage, f in diarized.reports if stage == "diarizing"]
    assert transcribing[-1] == pytest.approx(1.0)
    assert diarizing == sorted(diarizing)
    assert len({round(f, 2) for f in diarizing if 0 < f < 1}) >= 3, diarizing


def test_the_status_reads_finding_speakers_with_its_percent(client_for, alice, acme, make_call):
    call = make_call(acme, alice)
    call.claim("worker-1")
    call.start_diarizing("worker-1")
    # 80% done in 40 s: about 10 s left.
    Call.objects.filter(pk=call.pk).update(
        progress=0.8, diarizing_started_at=timezone.now() - timedelta(seconds=40)
    )
    client = client_for(alice)
    status = client.get(reverse("transcripts:call_progress", args=[call.uuid])).content.decode()
    assert 'Finding speakers… <strong class="percent">80%</strong>' in status
    assert "About 10 s left" in status
    row = client.get(reverse("transcripts:call_row", args=[call.uuid])).content.decode()
    assert "Finding speakers 80%" in row


# --- Runs of their own: resumed, cancelled, failed, without a voice print ------------------


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in the worker catches it."""


def run_again(call: Call) -> str:
    """What the reaper, or a re-delivered task, does once a dead worker's lease ran out."""
    Call.objects.filter(pk=call.pk).update(lease_expires_at=timezone.now())
    return transcribe_call(call.pk)


def kill_at(monkeypatch, owner, name: str, *, after: bool = False, when=lambda call: True):
    """Kill the worker at `owner.name` (before it writes, or just `after`), once."""
    original = getattr(owner, name)
    fired = []

    def killing(call, *args, **kwargs):
        if fired or not when(call):
            return original(call, *args, **kwargs)
        fired.append(name)
        if after:
            original(call, *args, **kwargs)
        raise Killed

    monkeypatch.setattr(owner, name, killing)
    return fired


def diarizing(call: Call) -> bool:
    return call.stage == Call.Stage.DIARIZING


REFERENCE: dict = {}


def uninterrupted(team, path) -> list[tuple]:
    """The lines of a run nobody killed (made once: the same for every kill below)."""
    if path not in REFERENCE:
        call = new_call(team, path)
        assert transcribe_call(call.pk) == "done"
        REFERENCE[path] = lines(call)
        call.delete()
    return REFERENCE[path]


@pytest.mark.parametrize(
    "write, after, when",
    [
        ("start_diarizing", False, lambda call: True),
        ("report_progress", False, diarizing),
        ("attribute_voices", False, lambda call: True),
        ("attribute_voices", True, lambda call: True),
        ("finish", False, lambda call: True),
    ],
    ids=["starting", "mid-way", "before-saving-voices", "after-saving-voices", "finishing"],
)
def test_a_worker_killed_while_finding_speakers_resumes_without_transcribing_again(
    acme, calls, engine_loads, monkeypatch, write, after, when
):
    expected = uninterrupted(acme, calls.short.path)

    call = new_call(acme, calls.short.path)
    monkeypatch.setattr(tasks, "PROGRESS_INTERVAL_SECONDS", 0.0)
    fired = kill_at(monkeypatch, Call, write, after=after, when=when)
    with pytest.raises(Killed):
        transcribe_call(call.pk)
    assert fired
    loads = len(engine_loads)

    assert run_again(call) == "done"
    call.refresh_from_db()
    assert len(engine_loads) == loads, "the resumed run loaded the engine to transcribe again"
    assert call.attempts == 2
    assert call.voice_count == 2
    assert lines(call) == expected


def test_the_rep_is_told_from_their_teammates_not_other_teams(
    acme, alice, bob, charlie, calls, engine_loads, monkeypatch, voice_vectors
):
    from transcripts.speech import diarization

    recognise, asked = diarization.recognise, []

    def recording(found, vector, **options):
        asked.append(options["teammates"])
        return recognise(found, vector, **options)

    monkeypatch.setattr(diarization, "recognise", recording)
    give_voice_print(bob, voice_vectors["rep"])
    give_voice_print(alice, voice_vectors["stranger"])
    # Another team's print, even of the very voice on the call, is never looked at.
    give_voice_print(charlie, voice_vectors["rep"])
    call = new_call(acme, calls.short.path, rep=bob)
    assert transcribe_call(call.pk) == "done"
    assert len(asked) == 1
    stranger = voice_vectors["stranger"][0]
    assert [list(v) for v in asked[0]] == [pytest.approx(list(stranger), abs=1e-5)]
    # Alice's voice is not on the call: Bob is named as he would be alone.
    call.refresh_from_db()
    assert call.rep_voice is not None


def test_cancelling_while_finding_speakers_stops_the_worker(acme, calls, engine_loads, monkeypatch):
    call = new_call(acme, calls.short.path)
    monkeypatch.setattr(tasks, "PROGRESS_INTERVAL_SECONDS", 0.0)
    report_progress = Call.report_progress

    def cancel_then_report(self, worker, fraction):
        if diarizing(self):
            Call.objects.get(pk=self.pk).cancel()
        return report_progress(self, worker, fraction)

    monkeypatch.setattr(Call, "report_progress", cancel_then_report)
    assert transcribe_call(call.pk) == "stopped"
    call.refresh_from_db()
    assert call.status == Call.Status.CANCELLED
    assert call.voice_count is None
    assert not call.segments.filter(voice__isnull=False).exists()


# Transactional: the thread that keeps the lease writes on a connection of its own, which
# SQLite would keep waiting behind a test's open transaction.
@pytest.mark.django_db(transaction=True)
def test_the_lease_is_kept_while_finding_speakers_reports_nothing(
    acme, make_call, settings, monkeypatch, django_capture_on_commit_callbacks
):
    import time

    from transcripts.speech import diarization, pipeline

    settings.CALL_LEASE_SECONDS = 1
    call = make_call(acme, duration=30.0)
    for index in range(3):
        call.segments.create(index=index, start=index * 5.0, end=index * 5.0 + 4, text="Hello.")
    assert call.claim("worker-1")

    def silent_for_a_while(recording, segments, *, on_progress=None, **kwargs):
        on_progress(0.9)  # the last window embedded
        # Clustering and each window's pitch report nothing (minutes on a long call), while
        # the scheduled reaper runs.
        time.sleep(1.5)
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.reap_stale_calls() == 0
        return SimpleNamespace(voices=1, turns=[]), [(0, s) for s in segments]

    monkeypatch.setattr(pipeline, "diarize_track", silent_for_a_while)
    monkeypatch.setattr(diarization, "load_encoder", lambda: None)
    monkeypatch.setattr(tasks.CallTranscription, "recognise_rep", lambda self, found: (None, {}))
    tasks.CallTranscription(call, "worker-1").find_speakers(SimpleNamespace(is_dual=False))
    call.refresh_from_db()
    assert call.status == Call.Status.PROCESSING and call.lease_owner == "worker-1"
    assert call.voice_count == 1


def test_a_failure_while_finding_speakers_keeps_the_transcript(
    acme, alice, calls, engine_loads, monkeypatch, client_for, caplog
):
    from transcripts.speech import pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("the speaker encoder fell over")

    monkeypatch.setattr(pipeline, "diarize_track", broken)
    call = new_call(acme, calls.short.path, uploaded_by=alice)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert call.status == Call.Status.DONE and call.error == ""
    assert call.segments.count() >= 3
    assert set(call.segments.values_list("voice", "speaker")) == {(None, "")}
    assert call.voice_count is None
    assert call.speakers_note.startswith("Speakers not separated: finding who speaks when failed")
    assert "the speaker encoder fell over" in caplog.text
    page = client_for(alice).get(call.get_absolute_url()).content.decode()
    assert "finding who speaks when failed" in page


def test_without_a_voice_print_the_speakers_are_numbered(acme, bob, calls, engine_loads):
    call = new_call(acme, calls.short.path, rep=bob)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert call.voice_count == 2 and call.rep_voice is None
    assert call.rep_similarity == {}
    assert set(call.segments.values_list("speaker", flat=True)) == {"Speaker 1", "Speaker 2"}
    assert call.segments.first().speaker == "Speaker 1"


def test_a_rep_whose_print_matches_no_voice_is_not_named(
    acme, bob, calls, engine_loads, voice_vectors
):
    from transcripts.speech import diarization

    # Bob's print is a voice that is not on the call.
    give_voice_print(bob, voice_vectors["stranger"])
    call = new_call(acme, calls.short.path, rep=bob)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    print(f"stranger's similarity to the call's voices: {call.rep_similarity}")
    assert call.rep_voice is None
    assert max(call.rep_similarity.values()) < diarization.REP_SIMILARITY
    assert set(call.segments.values_list("speaker", flat=True)) == {"Speaker 1", "Speaker 2"}


def test_the_number_of_people_given_on_upload_is_used(acme, calls, engine_loads, monkeypatch):
    from transcripts.speech import pipeline

    asked = []
    diarize_track = pipeline.diarize_track

    def counting(*args, speakers=None, **kwargs):
        asked.append(speakers)
        return diarize_track(*args, speakers=speakers, **kwargs)

    monkeypatch.setattr(pipeline, "diarize_track", counting)
    call = new_call(acme, calls.short.path, speakers_expected=3)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert asked == [3]
    assert 2 <= call.voice_count <= 3


def test_without_word_timings_whole_lines_go_to_a_voice(
    acme, calls, monkeypatch, remembering_engine
):
    """An engine that gives no word times (some APIs): each line goes to the voice speaking
    most of it, unsplit."""

    class WithoutWords(RememberingEngine):
        def transcribe(self, audio, options, on_progress=None):
            for segment in remembering_engine.transcribe(audio, options, on_progress):
                yield replace(segment, words=())

    engine = WithoutWords(remembering_engine.engine)
    monkeypatch.setattr(tasks, "load_engine", lambda spec: engine)
    call = new_call(acme, calls.short.path)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    segments = list(call.segments.values("start", "end", "text", "speaker", "voice", "words"))
    assert all(s["words"] == [] for s in segments)
    assert call.voice_count == 2
    assert all(s["voice"] is not None for s in segments)
    accuracy, _, _ = speaker_accuracy(segments, calls.short.turns)
    print(f"speaker accuracy by whole lines {accuracy:.1%}")
    assert accuracy >= 0.8


def test_transcribing_again_finds_the_speakers_again_and_keeps_corrections(
    acme, alice, calls, engine_loads
):
    from transcripts import services

    call = new_call(acme, calls.short.path, uploaded_by=alice)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    line = call.segments.get(index=2)
    services.segment_edit(segment=line, text="A line corrected by hand.")
    Call.objects.filter(pk=call.pk).update(diarization_error="an earlier failure")
    call.refresh_from_db()

    services.call_retranscribe(call)
    call.refresh_from_db()
    assert (call.voice_count, call.rep_voice, call.voice_turns, call.rep_similarity) == (
        None,
        None,
        [],
        {},
    )
    assert call.diarization_error == ""

    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert call.voice_count == 2
    again = call.segments.get(index=2)
    assert (again.text, again.voice) == ("A line corrected by hand.", line.voice)
    assert call.edits_not_carried == []


def test_the_transcription_track_is_freed_before_the_stage_loads_its_own(
    acme, calls, engine_loads, monkeypatch
):
    """One track of float32 samples in memory at a time: 460 MB for a two-hour call."""
    import weakref

    loaded, held = [], []
    load_recording = tasks.load_recording

    def watched(track):
        def load():
            held.append(any(sample() is not None for sample in loaded))
            samples = track.load()
            loaded.append(weakref.ref(samples))
            return samples

        return replace(track, load=load)

    def loading(*args, **kwargs):
        recording = load_recording(*args, **kwargs)
        return replace(recording, tracks=tuple(watched(t) for t in recording.tracks))

    monkeypatch.setattr(tasks, "load_recording", loading)
    call = new_call(acme, calls.short.path)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert call.voice_count == 2
    # Loaded once to transcribe, once to find the speakers; neither load found the other.
    assert held == [False, False]
