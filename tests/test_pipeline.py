"""Long calls are transcribed window by window; the seams must not lose or repeat words."""

from pathlib import Path

import numpy as np
import pytest

from transcripts.speech import audio
from transcripts.speech.base import DecodeOptions, EngineSpec
from transcripts.speech.engines import load_engine
from transcripts.speech.pipeline import transcribe_long
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
