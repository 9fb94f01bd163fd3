"""Synthetic voices for the speaker tests: mono calls spoken by espeak-ng with the benchmark's
voices (bench/corpus.py), who said each word known, and people reading a text on their own."""

from __future__ import annotations

import difflib
import itertools
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import corpus
from transcripts.analytics import normalise_words

# Two people unlike each other to the speaker encoder: the voices of the diarization tests'
# call (conftest.two_voice_call).
REP = corpus.Voice("en-us+m3", 170, 45)
PROSPECT = corpus.Voice("en-gb+f3", 160, 60)
# Someone who is not on the call, and sounds like neither (espeak-ng's variants of one accent
# sound alike to the encoder: en-gb+f4 is 0.96 similar to en-gb+f2).
STRANGER = corpus.Voice("en-us+f4", 150, 70)

ENROLMENT_TEXT = (
    "Hello, this is my voice for the call portal. I usually open a call by asking how the week "
    "is going, then I walk through what the customer told us last time and what we agreed to "
    "look at today. After that I show the product, answer questions about pricing and the "
    "contract, and we close by booking the next step together with a date in the calendar."
)


@dataclass(frozen=True)
class MonoCall:
    """A mono recording of two people and who said what when (bench.corpus.Turn as dicts)."""

    path: Path
    turns: list[dict]


def mono_call(folder: Path, seconds: float, seed: int) -> MonoCall:
    """A sales call of the rep and a prospect taking turns, as a 48 kbit/s mono MP3."""
    plan = corpus.CallPlan(seconds=seconds, seed=seed, cast={"rep": REP, "prospect": PROSPECT})
    clip = corpus.build_call(folder, f"call_{seconds:g}s_{seed}", plan, "", audio_format="mp3")
    turns = json.loads(clip.script.with_suffix(".json").read_text())["turns"]
    return MonoCall(clip.audio, turns)


def reading(path: Path, voice: corpus.Voice, text: str = ENROLMENT_TEXT) -> Path:
    """`voice` reading `text` alone, as a 16 kHz WAV file."""
    with tempfile.TemporaryDirectory() as tmp:
        samples = corpus.speak(text, voice, Path(tmp))
    corpus.write_wav(path, np.concatenate([corpus.silence(0.5), samples, corpus.silence(0.5)]))
    return path


def speaker_accuracy(segments, turns: list[dict]) -> tuple[float, float, dict[str, str]]:
    """(share of matched words given to the right speaker, share of the script's words matched,
    the mapping of the transcript's speaker names to the script's voices that gives that share).

    Words are matched by aligning the transcript with the script, so a misheard word counts for
    neither and the check does not depend on the engine's timing."""
    # Who by their voice: the rep's manager may speak in the rep's.
    said = [(w, t["voice"]) for t in turns for w in normalise_words(t["text"])]
    ordered = sorted(segments, key=lambda s: s["start"])
    heard = [(w, s["speaker"]) for s in ordered for w in normalise_words(s["text"])]
    matcher = difflib.SequenceMatcher(
        None, [w for w, _ in heard], [w for w, _ in said], autojunk=False
    )
    pairs = [
        (heard[block.a + k][1], said[block.b + k][1])
        for block in matcher.get_matching_blocks()
        for k in range(block.size)
    ]
    names = sorted({name for name, _ in pairs})
    speakers = sorted({speaker for _, speaker in said})
    best, mapping = 0, {}
    for chosen in itertools.permutations(speakers + [""] * len(names), len(names)):
        candidate = dict(zip(names, chosen, strict=True))
        correct = sum(candidate[name] == speaker for name, speaker in pairs)
        if correct > best:
            best, mapping = correct, candidate
    return best / max(1, len(pairs)), len(pairs) / len(said), mapping
