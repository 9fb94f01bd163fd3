"""Choosing and loading engines. A worker process loads each engine once and keeps it."""

from __future__ import annotations

import importlib.util
from functools import lru_cache

from .base import Engine, EngineSpec, TranscriptionError

ENGINE_NAMES = ("faster", "openai", "api")


def installed(engine: str) -> bool:
    module = {"faster": "faster_whisper", "openai": "whisper", "api": "av"}[engine]
    return importlib.util.find_spec(module) is not None


def has_local_weights(engine: str, spec: EngineSpec) -> bool:
    from . import weights

    if engine == "faster":
        return weights.packaged_ct2_dir(spec.model, spec.model_dir) is not None
    if engine == "openai":
        return (
            weights.openai_checkpoint_path(spec.model, spec.model_dir).exists()
            or weights.packaged_ct2_dir(spec.model, spec.model_dir) is not None
        )
    return False


def resolve_engine_name(spec: EngineSpec) -> str:
    """`auto` means the fastest engine that is installed and has weights for the model.

    The API engine is never chosen automatically: with it, audio leaves the server.
    """
    if spec.engine != "auto":
        if spec.engine not in ENGINE_NAMES:
            raise TranscriptionError(
                f"Unknown WHISPER_ENGINE {spec.engine!r}: use auto, {', '.join(ENGINE_NAMES)}."
            )
        return spec.engine
    for engine in ("faster", "openai"):
        if installed(engine) and has_local_weights(engine, spec):
            return engine
    # No local weights: openai-whisper downloads them by name where the internet is reachable.
    return "faster" if installed("faster") else "openai"


@lru_cache(maxsize=4)
def load_engine(spec: EngineSpec) -> Engine:
    """The engine for `spec`, loaded on the first call in this process and reused after."""
    name = resolve_engine_name(spec)
    if name == "faster":
        from .faster_engine import FasterWhisperEngine

        return FasterWhisperEngine(spec)
    if name == "openai":
        from .whisper_engine import OpenAIWhisperEngine

        return OpenAIWhisperEngine(spec)
    from .openai_api_engine import OpenAIAPIEngine

    return OpenAIAPIEngine(spec)
