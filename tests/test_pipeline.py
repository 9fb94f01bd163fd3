"""Long calls are transcribed window by window; the seams must not lose or repeat words."""

from pathlib import Path

import numpy as np
import pytest

from transcripts.speech import audio
from transcripts.speech.base import SAMPLE_RATE, DecodeOptions, Engine, EngineSpec, Segment
from transcripts.speech.channels import ChannelReport
from transcripts.speech.engines import load_engine
from transcripts.speech.pipeline import (
    Position,
    Recording,
    Track,
    transcribe_long,
    transcribe_recording,
)
from transcripts.speech.wer import word_error_rate


@pytest.fixture(scope="module")
def engine():
    return load_engine(EngineSpec(engine="faster", model="tiny.en", model_dir=Path("data/models")))


@pytest.fixture(scope="module")
def two_takes(speech_sample):
    """The sample twice with two seconds of silence between: about a minute of speech."""
    samples = audio.decode(speech_sample)
    return np.concatenate([samples, np.zeros(32_000, dtype=np.float32), samples])


def test_it_transcribes_across_window_seams_without_losing_words(
    engine, two_takes, speech_script, monkeypatch
):
    monkeypatch.setattr(engine, "window_seconds", 20.0)
    segments = list(transcribe_long(engine, two_takes, DecodeOptions()))
    text = " ".join(s.text for s in segments)
    assert word_error_rate(f"{speech_script} {speech_script}", text) < 0.15
    assert all(a.end <= b.start + 0.5 for a, b in zip(segments, segments[1:], strict=False))
    assert segments[-1].end > 55


def test_it_reports_progress_up_to_the_whole_length(engine, two_takes, monkeypatch):
    monkeypatch.setattr(engine, "window_seconds", 20.0)
    seen: list[float] = []
    list(transcribe_long(engine, two_takes, DecodeOptions(), on_progress=seen.append))
    assert seen[-1] == pytest.approx(len(two_takes) / 16_000)
    assert len(seen) > 3


def test_it_starts_where_it_is_told_to_resume(engine, two_takes, speech_script):
    resumed = list(transcribe_long(engine, two_takes, DecodeOptions(), start=31.7))
    assert resumed[0].start >= 31.7
    assert word_error_rate(speech_script, " ".join(s.text for s in resumed)) < 0.15


STEREO = Path(__file__).parent / "fixtures" / "stereo_call.mp3"


def test_a_window_is_decoded_the_same_whatever_the_process_decoded_before(
    engine, two_takes, monkeypatch
):
    """The temperature fallback samples. Every window's draws start from one seed, so a window
    decoded again (after a crash, or in a benchmark) reads as it did. CTranslate2 seeds a
    worker thread's generator once: without a fresh one per window, this read differently."""
    # Every decoding sampled, none at temperature 0 (the fallback's last resort, made common).
    monkeypatch.setattr(DecodeOptions, "temperatures", property(lambda options: (1.0,)))
    options = DecodeOptions(vad=False)
    first_take = two_takes[: len(two_takes) // 2]

    def read(samples) -> str:
        return " ".join(s.text for s in engine.transcribe(samples, options))

    first = read(first_take)
    read(two_takes[len(two_takes) // 2 :])  # another call's window, its own draws
    assert read(first_take) == first


def test_the_worker_the_command_and_the_benchmark_share_one_pipeline(db, acme, make_call):
    """A benchmark figure describes production: all three run transcribe_recording, and hear
    the stereo call the same way (each channel apart, the same lines in the same order)."""
    import json
    from io import StringIO

    from django.core.management import call_command

    from bench import child, run
    from transcripts import tasks, transcription
    from transcripts.management.commands import transcribe
    from transcripts.speech import pipeline
    from transcripts.tasks import transcribe_call

    assert tasks.transcribe_recording is pipeline.transcribe_recording
    assert transcribe.transcribe_recording is pipeline.transcribe_recording

    call = make_call(acme, path=STEREO)
    assert transcribe_call(call.pk) == "done"
    worker = list(call.segments.values_list("channel", "text"))
    assert {channel for channel, _ in worker} == {0, 1}

    out = StringIO()
    call_command("transcribe", str(STEREO), format="json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["layout"] == "dual"
    assert [(s["channel"], s["text"]) for s in result["segments"]] == worker

    spec = transcription.engine_spec()
    config = {"engine": spec.engine, "model": spec.model, "threads": spec.resolved_threads()}
    setup = run.transcription_setup(config, spec.model_dir)
    benchmarked = child.transcribe_call(setup, "engine", {"name": "stereo", "audio": str(STEREO)})
    assert benchmarked["layout"] == "dual"
    assert benchmarked["text"].splitlines() == [text for _, text in worker]


class Metronome(Engine):
    """An engine that hears a segment every 2.13 s of any audio it is given, at times that
    carry floating-point noise as Whisper's do (offsets summed with timestamps): a stand-in
    for Whisper where only the arithmetic of windows and resumes is under test."""

    name = model_name = device = compute_type = "metronome"
    window_seconds = 20.0

    def transcribe(self, audio, options, on_progress=None):
        seconds = len(audio) / SAMPLE_RATE
        start = 0.07
        while start + 1.9 <= seconds:
            yield Segment(start, start + 1.9, f"at {start:.6f} of {seconds:.6f}")
            start += 2.13
            if on_progress:
                on_progress(start)


def test_a_recording_resumed_at_any_reported_position_yields_exactly_the_rest():
    duration = 48.1775625  # the stereo call's length, which made (48.18 + 9.13) - 48.18 inexact
    samples = np.zeros(int(duration * SAMPLE_RATE), dtype=np.float32)
    recording = Recording(
        report=ChannelReport("dual", 1, (0.5, 0.5)),
        duration=len(samples) / SAMPLE_RATE,
        tracks=(Track(0, lambda: samples), Track(1, samples.copy)),
    )
    positions: list[tuple[int, Position]] = []
    heard: list = []

    def window_done(position: Position) -> None:
        positions.append((len(heard), position))

    for item in transcribe_recording(
        recording, Metronome(), DecodeOptions(), on_window_done=window_done
    ):
        heard.append(item)
    assert {channel for channel, _ in heard} == {0, 1}
    assert [p for _, p in positions if p.seconds == 0] == [Position(1, 0.0), Position(2, 0.0)]
    assert len(positions) >= 6

    for kept, position in positions:
        rest = list(
            transcribe_recording(recording, Metronome(), DecodeOptions(), resume_at=position)
        )
        assert heard[:kept] + rest == heard, position
        assert 0 <= recording.fraction(position) <= 1


def test_a_second_pass_sees_each_window_whole_and_resumes_exactly():
    """The second pass gets a window's segments before any is yielded; windows end where the
    first pass's segments say, so a resumed run yields exactly the rest, second pass included."""
    samples = np.zeros(int(75.3 * SAMPLE_RATE), dtype=np.float32)
    windows: list[int] = []

    def second_pass(window, segments, options, on_progress):
        windows.append(len(segments))
        # Every third line "decoded again": merged with the next one, as base may do.
        out, i = [], 0
        while i < len(segments):
            if i % 3 == 0 and i + 1 < len(segments):
                a, b = segments[i], segments[i + 1]
                out.append(Segment(a.start, b.end, f"{a.text} + {b.text}", decoded_by="base"))
                i += 2
            else:
                out.append(segments[i])
                i += 1
        return out

    def run(start: float = 0.0):
        return list(
            transcribe_long(
                Metronome(), samples, DecodeOptions(), start=start, second_pass=second_pass
            )
        )

    positions: list[tuple[int, float]] = []
    heard: list[Segment] = []
    for segment in transcribe_long(
        Metronome(),
        samples,
        DecodeOptions(),
        on_window_done=lambda at: positions.append((len(heard), at)),
        second_pass=second_pass,
    ):
        heard.append(segment)
    plain: list[float] = []
    list(transcribe_long(Metronome(), samples, DecodeOptions(), on_window_done=plain.append))
    assert [at for _, at in positions] == plain
    assert len(windows) >= 3 and all(windows)
    assert any(s.decoded_by for s in heard)
    for kept, at in positions[:-1]:
        assert heard[:kept] + run(at) == heard, at
