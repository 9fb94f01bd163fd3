"""Dual-channel calls, run as a worker runs them, with real Whisper weights: the rep on the
left channel and the customer on the right are transcribed apart and labelled.

The stereo call (tests/fixtures/stereo_call.mp3, made by make_stereo_call.py) has a known script
with known timing in stereo_call.json; the worker transcribes it once for this module.
"""

import difflib
import hashlib
import json
import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from django.core.files import File
from django.test import override_settings
from django.utils import timezone

from transcripts import tasks, transcription
from transcripts.analytics import normalise_words
from transcripts.models import DEFAULT_TRACKERS, Call, ClusterHeartbeat, Team
from transcripts.speech import audio
from transcripts.speech.base import Engine
from transcripts.speech.engines import load_engine
from transcripts.tasks import transcribe_call

# Every test here uses the database; saying so also makes pytest-django create it when only the
# tests of the module-wide transcription are selected.
pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
STEREO = FIXTURES / "stereo_call.mp3"
SCRIPT = json.loads((FIXTURES / "stereo_call.json").read_text())
# Whisper's word timings are good to a few tenths of a second; a moment is found "at the right
# time" within this.
TIME_TOLERANCE = 1.0


def new_call(team, path: Path, **fields) -> Call:
    call = Call(team=team, original_filename=path.name, **fields)
    with path.open("rb") as handle:
        call.audio.save(path.name, File(handle), save=False)
    call.save()
    return call


def snapshot(call: Call) -> SimpleNamespace:
    """What the worker made of a call, as plain data that outlives the database rows."""
    call.refresh_from_db()
    return SimpleNamespace(
        status=call.status,
        layout=call.channel_layout,
        rep_channel=call.rep_channel,
        duration=call.duration,
        analytics=call.analytics,
        rep_talk_share=call.rep_talk_share,
        segments=list(
            call.segments.values("index", "start", "end", "text", "speaker", "channel", "words")
        ),
        hits=list(call.tracker_hits.values("tracker__name", "phrase", "speaker", "start")),
    )


@pytest.fixture(scope="module")
def transcribed(django_db_setup, django_db_blocker, tmp_path_factory):
    """The stereo call, transcribed once by the real worker, with every progress report."""
    progress = []
    original = Call.report_progress

    def record(call, worker, fraction):
        progress.append(fraction)
        return original(call, worker, fraction)

    media = tmp_path_factory.mktemp("media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=media):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(tasks, "PROGRESS_INTERVAL_SECONDS", 0.0)
            patch.setattr(Call, "report_progress", record)
            team = Team.objects.create(name="Stereo Sales", slug="stereo-sales")
            call = new_call(team, STEREO, title="Stereo call")
            outcome = transcribe_call(call.pk)
            result = snapshot(call)
        team.delete()
        # The worker ran the overdue reaper, which records a cluster heartbeat: not a cluster.
        ClusterHeartbeat.objects.all().delete()
    result.outcome = outcome
    result.progress = progress
    return result


def script_words() -> list[tuple[str, str]]:
    lines = sorted(SCRIPT["lines"], key=lambda line: line["start"])
    return [(word, line["speaker"]) for line in lines for word in normalise_words(line["text"])]


def heard_words(segments) -> list[tuple[str, str]]:
    ordered = sorted(segments, key=lambda s: s["start"])
    return [(word, s["speaker"]) for s in ordered for word in normalise_words(s["text"])]


def speaker_accuracy(segments) -> tuple[float, float]:
    """(share of matched words labelled with the right speaker, share of the script matched).

    Words are matched by aligning the transcript with the script, so a misheard word counts
    for neither and the check does not depend on Whisper's timing."""
    said, heard = script_words(), heard_words(segments)
    matcher = difflib.SequenceMatcher(
        None, [w for w, _ in heard], [w for w, _ in said], autojunk=False
    )
    matched = correct = 0
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            matched += 1
            correct += heard[block.a + k][1] == said[block.b + k][1]
    return correct / matched, matched / len(said)


def script_talk_share(speaker: str) -> float:
    seconds = {}
    for line in SCRIPT["lines"]:
        seconds[line["speaker"]] = seconds.get(line["speaker"], 0.0) + line["end"] - line["start"]
    return seconds[speaker] / sum(seconds.values())


def expected_tracker_hits() -> list[tuple[str, str, str, float]]:
    """(tracker, phrase, speaker, about when) for each default tracker phrase in the script.

    The time is interpolated by the phrase's place in its sentence: espeak-ng speaks evenly."""
    expected = []
    for line in SCRIPT["lines"]:
        text = line["text"].lower()
        for tracker, phrases in DEFAULT_TRACKERS.items():
            for phrase in phrases:
                words = normalise_words(text)
                wanted = phrase.split()
                if not any(words[i : i + len(wanted)] == wanted for i in range(len(words))):
                    continue
                share = text.index(phrase) / len(text)
                when = line["start"] + share * (line["end"] - line["start"])
                expected.append((tracker, phrase, line["speaker"], when))
    return expected


def test_it_finds_one_speaker_on_each_channel(transcribed):
    assert transcribed.outcome == "done"
    assert transcribed.layout == "dual"
    # The team's default: the rep on the left channel.
    assert transcribed.rep_channel == 0
    assert {s["channel"] for s in transcribed.segments} == {0, 1}
    assert all(
        s["speaker"] == ("Rep" if s["channel"] == 0 else "Customer") for s in transcribed.segments
    )


def test_it_labels_at_least_95_percent_of_words_with_the_right_speaker(transcribed):
    accuracy, coverage = speaker_accuracy(transcribed.segments)
    print(f"speaker accuracy {accuracy:.1%} over {coverage:.0%} of the script's words")
    assert coverage > 0.8
    assert accuracy >= 0.95


def test_the_talk_share_is_within_3_points_of_the_script(transcribed):
    shares = {s["name"]: s["talk_share"] for s in transcribed.analytics["speakers"]}
    error = abs(shares["Rep"] - script_talk_share("Rep"))
    print(f"rep talk share {shares['Rep']:.1%}, script {script_talk_share('Rep'):.1%}")
    assert error <= 0.03
    assert transcribed.rep_talk_share == shares["Rep"]


def test_it_finds_the_questions_at_the_right_times(transcribed):
    asked = [line for line in SCRIPT["lines"] if line["text"].endswith("?")]
    found = transcribed.analytics["questions"]
    assert len(found) == len(asked)
    errors = []
    for line in asked:
        same = [abs(q["start"] - line["start"]) for q in found if q["speaker"] == line["speaker"]]
        assert same and min(same) <= TIME_TOLERANCE, f"{line['text']!r} not in {found}"
        errors.append(min(same))
    print(f"questions found within {max(errors):.2f} s")


def test_it_finds_tracker_hits_at_the_right_times(transcribed):
    expected = expected_tracker_hits()
    assert len(expected) >= 8
    hits = transcribed.analytics["tracker_hits"]
    errors = []
    for tracker, phrase, speaker, when in expected:
        same = [
            abs(h["start"] - when)
            for h in hits
            if (h["tracker"], h["phrase"], h["speaker"]) == (tracker, phrase, speaker)
        ]
        assert same and min(same) <= TIME_TOLERANCE, f"{tracker}: {phrase!r} at {when:.1f}"
        errors.append(min(same))
    print(f"{len(expected)} tracker hits found within {max(errors):.2f} s")
    # The same hits are rows the database can count and search.
    assert len(transcribed.hits) == len(hits)


def test_the_transcript_reads_in_time_order(transcribed):
    segments = sorted(transcribed.segments, key=lambda s: s["index"])
    assert [s["index"] for s in segments] == list(range(len(segments)))
    starts = [s["start"] for s in segments]
    assert starts == sorted(starts)
    # Both voices take turns: the transcript is not one channel after the other.
    turns = sum(
        1 for a, b in zip(segments, segments[1:], strict=False) if a["speaker"] != b["speaker"]
    )
    assert turns >= 8


def test_progress_counts_both_channels(transcribed):
    fractions = transcribed.progress
    assert fractions == sorted(fractions)
    # Half way when the left channel is done, then on through the right one.
    assert any(0.45 <= f <= 0.55 for f in fractions)
    assert fractions[-1] == pytest.approx(1.0)


@pytest.fixture
def windows_of(settings):
    """Windows shorter than the call, so each channel is transcribed in several."""
    settings.WHISPER_WINDOW_SECONDS = 20


class Killed(BaseException):
    """Stands in for SIGKILL: nothing in the worker catches it."""


class RememberingEngine(Engine):
    """The real engine, run once per distinct window and replayed after: the kill tests below
    resume a call dozens of times. A window is known by its exact samples, so a resumed run
    that asked for a window even one sample off would be transcribed afresh, as in production."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.name, self.model_name = engine.name, engine.model_name
        self.device, self.compute_type = engine.device, engine.compute_type
        self.heard: dict = {}

    def transcribe(self, audio, options, on_progress=None):
        key = (hashlib.sha256(audio.tobytes()).hexdigest(), options)
        if key not in self.heard:
            events = []
            for segment in self.engine.transcribe(audio, options, events.append):
                events.append(segment)
            self.heard[key] = events
        for event in self.heard[key]:
            if not isinstance(event, float):
                yield event
            elif on_progress:
                on_progress(event)


@pytest.fixture(scope="module")
def remembering_engine():
    return RememberingEngine(load_engine(transcription.engine_spec()))


class KillSwitch:
    """Kills the worker at its k-th write: each segment saved, each checkpoint, the finish."""

    def __init__(self, monkeypatch):
        self.writes: list[str] = []
        self.kill_at: int | None = None
        switch = self

        def killable(write):
            def wrapper(*args, **kwargs):
                switch.writes.append(write.__name__)
                if len(switch.writes) == switch.kill_at:
                    raise Killed
                return write(*args, **kwargs)

            return wrapper

        for owner, name in [
            (tasks.CallTranscription, "save_segment"),
            (tasks.CallTranscription, "window_done"),
            (Call, "finish"),
        ]:
            monkeypatch.setattr(owner, name, killable(getattr(owner, name)))

    def run(self, call: Call, kill_at: int | None) -> str:
        """Run a worker over the call, killed at its `kill_at`-th write (None: never)."""
        self.writes, self.kill_at = [], kill_at
        # The dead worker's lease has run out: the reaper, or a re-delivered task, goes on.
        Call.objects.filter(pk=call.pk).update(lease_expires_at=timezone.now())
        try:
            return transcribe_call(call.pk)
        except Killed:
            return "killed"


@pytest.fixture
def kill_switch(monkeypatch, windows_of, remembering_engine):
    monkeypatch.setattr(tasks, "load_engine", lambda spec: remembering_engine)
    return KillSwitch(monkeypatch)


def transcript(call: Call) -> list[tuple]:
    return list(call.segments.values_list("index", "channel", "speaker", "start", "end", "text"))


def test_a_dual_channel_call_killed_at_any_write_resumes_to_the_uninterrupted_transcript(
    acme, kill_switch
):
    reference = new_call(acme, STEREO)
    assert kill_switch.run(reference, None) == "done"
    expected, writes = transcript(reference), len(kill_switch.writes)
    # Several windows in each channel, so there are seams in both to die at.
    assert kill_switch.writes.count("window_done") >= 4
    assert {channel for _, channel, *_ in expected} == {0, 1}

    for kill_at in range(1, writes + 1):
        call = new_call(acme, STEREO)
        assert kill_switch.run(call, kill_at) == "killed"
        assert kill_switch.run(call, None) == "done", f"killed at write {kill_at}"
        call.refresh_from_db()
        assert call.attempts == 2
        # No line lost or repeated, every line on its channel, in the same order.
        assert transcript(call) == expected, f"killed at write {kill_at} of {writes}"
        call.delete()


def test_a_dual_channel_call_killed_again_and_again_ends_with_the_uninterrupted_transcript(
    acme, kill_switch
):
    reference = new_call(acme, STEREO)
    assert kill_switch.run(reference, None) == "done"
    expected = transcript(reference)
    # The most writes between two checkpoints: a run allowed more than that saves a window.
    checkpoints = [i for i, name in enumerate(kill_switch.writes) if name == "window_done"]
    window = max(b - a for a, b in zip([-1, *checkpoints], checkpoints, strict=False))

    for extra in (1, 2, 3):
        call = new_call(acme, STEREO)
        runs = 1
        while kill_switch.run(call, window + extra) == "killed":
            runs += 1
            assert runs < 50, "the call made no progress between kills"
        assert runs > 2, "the call was killed at most once"
        assert transcript(call) == expected, f"killed after {window + extra} writes, {runs} runs"


def test_a_mono_call_of_one_voice_has_one_speaker_and_no_rep(db, acme, make_call, speech_sample):
    # Its speakers are told apart by voice (the "Finding speakers" stage): one voice, and with
    # no rep's voice print to recognise, nobody's share as the rep.
    call = make_call(acme, path=speech_sample)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert call.channel_layout == "mono"
    assert not call.has_channels and call.voice_count == 1 and call.rep_voice is None
    assert set(call.segments.values_list("channel", "voice", "speaker")) == {(None, 0, "Speaker 1")}
    assert [s["name"] for s in call.analytics["speakers"]] == ["Speaker 1"]
    assert call.rep_talk_share is None


def write_wav(path: Path, channels: np.ndarray) -> Path:
    pcm = (np.clip(channels, -1, 1) * 32767).astype("<i2").T.copy()
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels.shape[0])
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes(pcm.tobytes())
    return path


def test_a_stereo_file_with_one_voice_in_both_channels_is_told_apart_by_voice(
    db, acme, make_call, speech_sample, tmp_path
):
    # Its channels say nothing of who speaks: they are mixed, and the voices found as on a
    # mono call.
    voice = audio.decode(speech_sample)
    path = write_wav(tmp_path / "same.wav", np.stack([voice, voice * 0.9]))
    call = make_call(acme, path=path)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert call.channel_layout == "same"
    # Not by channel: mixed into one, its voices are told apart like a mono call's.
    assert not call.has_channels and call.voice_count == 1
    assert set(call.segments.values_list("channel", "speaker")) == {(None, "Speaker 1")}


def test_the_team_can_have_the_rep_on_the_right_channel(db, acme, make_call):
    acme.rep_channel = 1
    acme.save()
    call = make_call(acme, path=STEREO)
    assert transcribe_call(call.pk) == "done"
    call.refresh_from_db()
    assert call.rep_channel == 1
    accuracy, _ = speaker_accuracy(call.segments.values("start", "text", "speaker"))
    # Every word the script gives the rep, the transcript now gives the customer.
    assert accuracy <= 0.05
