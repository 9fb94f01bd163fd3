"""The openai-whisper engine, on the packaged tiny.en weights converted to a checkpoint."""

from __future__ import annotations

import importlib
import itertools
from pathlib import Path

import numpy as np
import pytest

from transcripts.speech import whisper_engine
from transcripts.speech.audio import decode
from transcripts.speech.base import SAMPLE_RATE, DecodeOptions, EngineSpec, Segment
from transcripts.speech.wer import word_error_rate
from transcripts.speech.whisper_engine import OpenAIWhisperEngine

# Measured on the espeak sample: 0.069 (6 of 87 words) with the default options, with or
# without word timestamps; 0.046 with beam_size=5. Room is left for a few words to change.
WER_BOUND = 0.12


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> OpenAIWhisperEngine:
    spec = EngineSpec(
        engine="openai", model="tiny.en", device="cpu", model_dir=tmp_path_factory.mktemp("m")
    )
    return OpenAIWhisperEngine(spec)


@pytest.fixture(scope="module")
def samples(speech_sample: Path) -> np.ndarray:
    return decode(speech_sample)


@pytest.fixture(scope="module")
def segments_with_words(engine: OpenAIWhisperEngine, samples: np.ndarray) -> list[Segment]:
    return list(engine.transcribe(samples, DecodeOptions(word_timestamps=True)))


def test_it_describes_itself(engine: OpenAIWhisperEngine) -> None:
    assert engine.describe() == {
        "engine": "openai",
        "model": "tiny.en",
        "device": "cpu",
        "compute_type": "float32",
    }
    assert engine.window_seconds == 300


@pytest.mark.slow
def test_it_transcribes_the_sample(segments_with_words: list[Segment], speech_script: str) -> None:
    text = " ".join(segment.text for segment in segments_with_words)

    assert word_error_rate(speech_script, text) < WER_BOUND
    assert all(s.text == s.text.strip() and s.text for s in segments_with_words)
    assert all(
        s.avg_logprob is not None and s.no_speech_prob is not None for s in segments_with_words
    )


@pytest.mark.slow
def test_it_yields_segments_in_time_order(segments_with_words: list[Segment]) -> None:
    assert len(segments_with_words) > 1
    for segment in segments_with_words:
        assert segment.start <= segment.end
    for earlier, later in itertools.pairwise(segments_with_words):
        assert earlier.start <= later.start
        assert earlier.end <= later.start + 1e-6


@pytest.mark.slow
def test_it_gives_word_timestamps_within_their_segment(segments_with_words: list[Segment]) -> None:
    for segment in segments_with_words:
        assert segment.words, segment
        for word in segment.words:
            assert segment.start - 1e-6 <= word.start <= word.end <= segment.end + 1e-6
            assert word.word == word.word.strip() and word.word
            assert 0.0 <= word.probability <= 1.0
    words = [w.word for s in segments_with_words for w in s.words]
    assert words[:2] == ["Hi", "Sarah,"]


@pytest.mark.slow
def test_it_reports_progress_to_the_end_without_printing_a_bar(
    engine: OpenAIWhisperEngine, samples: np.ndarray, capfd: pytest.CaptureFixture[str]
) -> None:
    # Trailing silence: whisper skips that window without advancing its progress bar, so the
    # bar alone would stop short of the end.
    padded = np.concatenate([samples, np.zeros(45 * SAMPLE_RATE, dtype=np.float32)])
    reported: list[float] = []

    segments = list(engine.transcribe(padded, DecodeOptions(), reported.append))

    assert len(reported) > 2
    assert reported == sorted(reported)
    assert reported[-1] == len(padded) / SAMPLE_RATE
    assert all(segment.words == () for segment in segments)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_it_leaves_whispers_progress_bar_alone_for_other_callers(
    engine: OpenAIWhisperEngine,
) -> None:
    import tqdm

    module = importlib.import_module("whisper.transcribe")
    whisper_engine._install_stand_in()

    bar = module.tqdm.tqdm(total=10, disable=True)

    assert isinstance(module.tqdm, whisper_engine._TqdmStandIn)
    assert isinstance(bar, tqdm.tqdm)
    bar.close()


@pytest.mark.slow
def test_a_window_is_decoded_the_same_whatever_the_process_drew_before(
    engine: OpenAIWhisperEngine, samples: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    # Every decoding sampled (the temperature fallback's last resort, made common).
    monkeypatch.setattr(DecodeOptions, "temperatures", property(lambda options: (1.0,)))
    clip = samples[: 15 * SAMPLE_RATE]

    def read() -> str:
        return " ".join(s.text for s in engine.transcribe(clip, DecodeOptions(beam_size=5)))

    first = read()
    torch.rand(1000)  # draws elsewhere in the process
    state = torch.get_rng_state()
    again = read()

    assert again == first
    # The process's generator is left as it was.
    assert torch.equal(torch.get_rng_state(), state)


def test_it_maps_beam_search_and_forces_english(engine: OpenAIWhisperEngine) -> None:
    options = DecodeOptions(
        beam_size=5, temperature_fallback=False, language="de", initial_prompt="Acme Corp."
    )

    arguments = engine._arguments(options)

    assert arguments["beam_size"] == arguments["best_of"] == 5
    assert arguments["temperature"] == (0.0,)
    assert arguments["language"] == "en"  # tiny.en knows only English
    assert arguments["initial_prompt"] == "Acme Corp."
    assert arguments["fp16"] is False and arguments["verbose"] is None
    assert "beam_size" not in engine._arguments(DecodeOptions())
