"""Is every word there? The hard corpus, default engine against sequential beam 5, side by side.

    python -m bench.completeness [--clips dense_5min,fast_3min] [--out docs/benchmarks.md]

For each clip of corpus.HARD_CLIPS it runs, each in its own process (bench.run's children), the
default configuration and faster-whisper run sequentially (no VAD, beam 5, conditioned on the
previous text), and reports per clip: WER, deleted words (%), the longest stretch of the script's
speech with no word in the output (a "hole"), speed and CPU seconds. The table replaces the
"Completeness" section of the report; the rest of the report is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import corpus, run
from bench.configs import TINY, Config
from bench.report import markdown_table, write_section

SECTION = "\n## Completeness on the hard corpus"
# Every clip, the default against sequential beam 5 (issue 11's targets).
WER_MARGIN = 0.01
MAX_DELETED = 0.02
MAX_HOLE_SECONDS = 5.0
MIN_SPEEDUP = 1.5
# Speed is judged as the issue states it, by real time, where the machine was this quiet during
# both runs; where other work shared it, by CPU seconds, which move less with it. Batched
# decoding keeps both cores busier than sequential decoding (dense_4min: 1.46 cores against 1.31
# on a quiet machine), so its CPU seconds understate its speed.
QUIET_SHARE = 0.10


def deleted_share(reference: str, hypothesis: str) -> float:
    """Reference words the hypothesis leaves out, per reference word (Whisper's normalizer)."""
    import jiwer

    from transcripts.speech.wer import normalize

    reference, hypothesis = normalize(reference), normalize(hypothesis)
    if not reference.split():
        return 0.0
    measured = jiwer.process_words(reference, hypothesis or "")
    return measured.deletions / len(reference.split())


def longest_hole(
    speech: Sequence[tuple[float, float]], words: Iterable[tuple[float, float]]
) -> float:
    """The most seconds of reference speech between two consecutive output words (or the call's
    edges): speech the transcript skipped. Pauses between turns do not count."""
    times = sorted((start + end) / 2 for start, end in words)
    edges = [float("-inf"), *times, float("inf")]
    longest = 0.0
    for before, after in zip(edges, edges[1:], strict=False):
        heard = sum(max(0.0, min(end, after) - max(start, before)) for start, end in speech)
        longest = max(longest, heard)
    return longest


def reference_speech(clip: corpus.Clip) -> list[tuple[float, float]]:
    manifest = json.loads(clip.script.with_suffix(".json").read_text())
    return [(turn["start"], turn["end"]) for turn in manifest["turns"]]


# The configurations compared: the product's defaults, and the sequential decoder it must match.
DEFAULT = Config(
    "faster-tiny.en-default",
    "faster",
    TINY,
    "int8, VAD, batched, beam 5, holes decoded again (the engine's defaults)",
    (),
    default=True,
)
SEQUENTIAL = Config(
    "faster-tiny.en-sequential-beam5",
    "faster",
    TINY,
    "int8, no VAD, sequential, beam 5 + fallback, conditioned on previous text",
    (),
    options={"vad": False, "beam_size": 5, "condition_on_previous_text": True},
    # The reference decoder: the product's second pass has no place in it.
    second_pass={},
)


@dataclass
class ClipResult:
    config: str
    clip: str
    audio_minutes: float
    wer: float
    deleted: float
    hole: float
    speed: float
    cpu_seconds: float
    others_cpu_share: float
    unheard: int = 0


def run_clip(config: Config, clip: corpus.Clip, model_dir: Path) -> ClipResult:
    from transcripts.speech.wer import word_error_rate

    call, others = run.run_alone(config, clip, model_dir)
    return ClipResult(
        config=config.name,
        clip=clip.name,
        audio_minutes=call["audio_seconds"] / 60,
        wer=word_error_rate(clip.reference(), call["text"]),
        deleted=deleted_share(clip.reference(), call["text"]),
        hole=longest_hole(reference_speech(clip), call["word_times"]),
        speed=call["speed"],
        cpu_seconds=call["cpu_seconds"],
        others_cpu_share=others,
        unheard=len(call.get("unheard", [])),
    )


def verdict(default: ClipResult, sequential: ClipResult) -> str:
    failed = []
    if default.wer > sequential.wer + WER_MARGIN:
        failed.append("WER")
    if default.deleted > MAX_DELETED:
        failed.append("deleted")
    if default.hole > MAX_HOLE_SECONDS:
        failed.append("hole")
    if quiet(default, sequential):
        slower = default.speed < MIN_SPEEDUP * sequential.speed
    else:
        slower = sequential.cpu_seconds < MIN_SPEEDUP * default.cpu_seconds
    if slower:
        failed.append("speed")
    return "missed: " + ", ".join(failed) if failed else "met"


def quiet(*results: ClipResult) -> bool:
    """Whether other processes left the machine to these runs: then real time measures speed."""
    return all(result.others_cpu_share < QUIET_SHARE for result in results)


HEADER = [
    "clip", "audio min", "config", "WER %", "deleted %", "longest hole s", "unheard spans",
    "speed x real time", "CPU s", "other processes", "targets",
]  # fmt: skip


def render(results: list[tuple[ClipResult, ClipResult]], clips: dict[str, corpus.Clip]) -> str:
    rows = []
    for default, sequential in results:
        for result in (default, sequential):
            mark = verdict(default, sequential) if result is default else ""
            rows.append(
                [
                    result.clip,
                    f"{result.audio_minutes:.1f}",
                    f"**{result.config}**" if result is default else result.config,
                    f"{result.wer * 100:.1f}",
                    f"{result.deleted * 100:.1f}",
                    f"{result.hole:.1f}",
                    str(result.unheard) if result is default else "",
                    f"{result.speed:.1f}",
                    f"{result.cpu_seconds:.1f}",
                    f"{result.others_cpu_share:.0%}",
                    mark,
                ]
            )
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    listed = [f"- {c.name} ({c.seconds / 60:.1f} min): {c.description}" for c in clips.values()]
    lines = [
        SECTION.strip(),
        "",
        f"Generated by `python -m bench.completeness` on {now}. "
        "Each clip is transcribed by the default configuration and by faster-whisper run "
        "sequentially (no VAD, beam 5, temperature fallback, conditioned on the previous text), "
        "each in its own process, one after the other. Targets, on every clip: WER within "
        f"{WER_MARGIN * 100:.0f} point of the sequential run, at most {MAX_DELETED:.0%} of the "
        f"script's words deleted, no hole over {MAX_HOLE_SECONDS:.0f} s, and at least "
        f"{MIN_SPEEDUP}x the sequential run's speed: in real time where other processes took "
        f"under {QUIET_SHARE:.0%} of the machine during both runs ('other processes'), else by "
        "CPU seconds, which move less with other work. A hole is the most seconds of the "
        "script's speech between two consecutive output words; unheard spans are the engine's "
        "own count of speech it could not decode even the second time.",
        "",
        markdown_table(HEADER, rows),
        "",
        "\n".join(listed),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.completeness", description=__doc__)
    parser.add_argument("--clips", default=",".join(corpus.HARD_CLIPS))
    parser.add_argument("--out", type=Path, default=run.REPO_ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--corpus-dir", type=Path, default=Path("data/bench"))
    parser.add_argument("--model-dir", type=Path, default=Path("data/models"))
    args = parser.parse_args(argv)
    # The configurations start from the deployment's settings (transcripts/transcription.py).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callscribe.settings")
    names = tuple(args.clips.split(","))
    clips = corpus.ensure_clips(args.corpus_dir, names)
    model_dir = args.model_dir.resolve()
    results = []
    for name in names:
        pair = tuple(run_clip(config, clips[name], model_dir) for config in (DEFAULT, SEQUENTIAL))
        for result in pair:
            print(
                f"{name} {result.config}: WER {result.wer:.1%}, deleted {result.deleted:.1%}, "
                f"hole {result.hole:.1f} s, {result.speed:.1f}x, CPU {result.cpu_seconds:.0f} s, "
                f"others {result.others_cpu_share:.0%}",
                flush=True,
            )
        results.append(pair)
    section = render(results, clips)
    write_section(args.out, SECTION, section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
