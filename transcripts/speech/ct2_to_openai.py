"""The CTranslate2-to-openai-whisper converter: reads a CTranslate2 Whisper model.bin and makes
the PyTorch checkpoint openai-whisper loads. Used once per model by weights.py, which finds the
packaged CTranslate2 directories and installs the result."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch and whisper take seconds to import: only conversion needs them.
    import torch
    from whisper.model import Whisper

CT2_BINARY_VERSION = 6

# Type ids of model.bin; bfloat16 has no numpy type, so its bits are read as uint16.
_CT2_DTYPES: dict[int, tuple[str, np.dtype]] = {
    0: ("float32", np.dtype("<f4")),
    1: ("int8", np.dtype("i1")),
    2: ("int16", np.dtype("<i2")),
    3: ("int32", np.dtype("<i4")),
    4: ("float16", np.dtype("<f2")),
    5: ("bfloat16", np.dtype("<u2")),
}


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
    build_model(dims, state)
    return {
        "dims": dims,
        "model_state_dict": state,
        "alignment_heads": [list(pair) for pair in read_alignment_heads(ct2_dir)],
    }


def build_model(dims: dict[str, int], state: dict[str, torch.Tensor]) -> Whisper:
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
