"""Choosing engines, and keeping the GPU out of the cluster's parent process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from transcripts.speech import base
from transcripts.speech.base import EngineSpec, TranscriptionError
from transcripts.speech.engines import load_engine, resolve_engine_name

ROOT = Path(__file__).resolve().parent.parent


def test_auto_picks_faster_whisper_where_its_weights_are_packaged(tmp_path):
    assert resolve_engine_name(EngineSpec(engine="auto", model="tiny.en", model_dir=tmp_path)) == (
        "faster"
    )


def test_an_unknown_engine_is_a_clear_error(tmp_path):
    with pytest.raises(TranscriptionError, match="Unknown WHISPER_ENGINE 'whisperx'"):
        resolve_engine_name(EngineSpec(engine="whisperx", model_dir=tmp_path))


def test_a_worker_loads_an_engine_once_and_reuses_it(tmp_path):
    spec = EngineSpec(engine="faster", model="tiny.en", model_dir=tmp_path)
    assert load_engine(spec) is load_engine(spec)


def test_the_cluster_parent_never_loads_a_speech_library():
    """Django-Q2 forks its workers from the cluster's parent: CUDA initialised there could not
    be used in them ("Cannot re-initialize CUDA in forked subprocess"). Loading the project, its
    URLs, admin and tasks must not import torch or CTranslate2; only a task loads an engine."""
    code = (
        "import django, sys; django.setup();"
        "import callscribe.urls, transcripts.admin, transcripts.tasks;"
        "print(sorted(m for m in ('torch', 'ctranslate2', 'whisper', 'faster_whisper')"
        " if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "callscribe.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_device_is_the_cpu_without_a_gpu(tmp_path, monkeypatch):
    # Whatever this machine has: the probe answers "no GPU".
    monkeypatch.setattr(base, "cuda_available", lambda: False)
    engine = load_engine(EngineSpec(engine="faster", model="tiny.en", model_dir=tmp_path))
    assert engine.device == "cpu"
    assert engine.compute_type == "int8"
