"""The benchmark report (docs/benchmarks.md) and the console table, from the rows."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bench import corpus
from bench.child import VARIANTS
from bench.configs import BYPASS_HOW, LONG, SHORT
from bench.rows import QueueRow, Row
from bench.targets import evaluate_targets, find


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


RESULT_HEADER = [
    "config", "engine", "model", "settings", "clip", "audio min",
    "speed x real time", "WER %", "peak RSS MB", "load s", "CPU s",
]  # fmt: skip


def result_cells(row: Row) -> list[str]:
    name = f"**{row.config}**" if row.default else row.config
    if row.error:
        return [name, row.engine, row.model, row.settings, row.clip, "", f"failed: {row.error}",
                "", "", "", ""]  # fmt: skip
    runs = f" (median of {row.runs})" if row.runs > 1 else ""
    call = "first call" if row.call_index == 0 else "second call"
    return [
        name,
        row.engine,
        row.model,
        row.settings,
        row.clip,
        f"{row.audio_minutes:.1f}",
        f"{row.speed:.1f}{runs}",
        f"{row.wer * 100:.1f}",
        f"{row.peak_rss_mb:,.0f}",
        f"{row.load_seconds:.2f} ({call})",
        f"{row.cpu_seconds:.1f}",
    ]


QUEUE_HEADER = [
    "workers x threads", "calls queued", "clip", "audio min", "wall s",
    "throughput (audio h per wall h)", "mean latency s", "WER %", "peak RSS MB (all workers)",
]  # fmt: skip


def queue_cells(row: QueueRow) -> list[str]:
    shape = f"{row.workers} x {row.threads}"
    if row.error:
        return [shape, str(row.queued), row.clip, "", "", f"failed: {row.error}", "", "", ""]
    return [
        shape,
        str(row.queued),
        row.clip,
        f"{row.audio_minutes:.1f}",
        f"{row.wall_seconds:.1f}",
        f"{row.throughput:.1f}",
        f"{row.mean_latency:.1f}",
        f"{row.wer * 100:.1f}",
        f"{row.peak_rss_mb:,.0f}",
    ]


def machine(rows: list[Row]) -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    memory = next(
        (
            int(line.split()[1]) / 1024**2
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0.0,
    )
    return {
        "CPUs (nproc)": str(os.cpu_count()),
        "CPU model": cpu,
        "memory": f"{memory:.1f} GiB",
        "OS": platform.platform(),
        "devices the engines ran on": ", ".join(sorted({r.device for r in rows if r.device}))
        or "none recorded",
    }


LIBRARIES = (
    "faster-whisper", "ctranslate2", "openai-whisper", "torch", "av", "numpy",
    "onnxruntime", "jiwer",
)  # fmt: skip


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True)
    found["espeak-ng (corpus only)"] = espeak.stdout.split("Data at")[0].strip()
    return found


def passing_note(rows: list[Row]) -> list[str]:
    """Which configurations would meet the first target, should the default not."""
    beam5 = find(rows, "openai-tiny.en-beam5", LONG)
    if beam5 is None:
        return []
    passing = [
        f"{r.config} ({r.speed:.1f}x, WER {r.wer:.1%})"
        for r in rows
        if r.engine == "faster" and r.clip == LONG and not r.error
        and r.speed >= 30 and r.wer <= beam5.wer + 0.01
    ]  # fmt: skip
    found = ", ".join(passing) if passing else "none"
    return [f"Faster configurations meeting the speed and WER target on {LONG}: {found}."]


def timestamp_note(rows: list[Row]) -> str:
    """What the engine's word timestamps cost, and its sentence joining, from bypass rows."""
    lines = []
    for clip in (LONG, SHORT):
        for beam in ("", "-beam5"):
            engine = find(rows, f"faster-tiny.en-b8{beam}", clip)
            for variant in VARIANTS:
                other = find(rows, f"faster-tiny.en-b8{beam}-{variant}", clip)
                if engine is None or other is None:
                    continue
                lines.append(
                    f"- {clip}, beam {beam[-1:] or 1}: the engine runs at {engine.speed:.1f}x "
                    f"(CPU {engine.cpu_seconds:.1f} s), WER {engine.wer:.1%}; "
                    f"{BYPASS_HOW[variant]}: {other.speed:.1f}x (CPU {other.cpu_seconds:.1f} s), "
                    f"WER {other.wer:.1%}."
                )
    return "\n".join(lines) or "- Not measured in this run."


def render_report(
    rows: list[Row],
    queue_rows: list[QueueRow],
    clips: dict[str, corpus.Clip],
    command: str,
    notes: list[str],
    quick: bool,
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    scope = "a quick run (one-minute clips only)" if quick else "a full run"
    parts = [
        "# Transcription benchmarks",
        "",
        f"Generated by `{command}` on {now}: {scope}. Do not edit by hand; run the command "
        "again on a quiet machine to regenerate it.",
        "",
        "## Machine",
        "",
        "\n".join(f"- {key}: {value}" for key, value in machine(rows).items()),
        "",
        "## Libraries",
        "",
        "\n".join(f"- {key}: {value}" for key, value in versions().items()),
        "",
        "## Targets",
        "",
        markdown_table(
            ["target", "measured", "result"],
            [[t.goal, t.measured, t.status] for t in evaluate_targets(rows)],
        ),
        "",
        "## Results",
        "",
        "Each configuration runs in its own process, over its clips in order: the first call "
        "loads the model, the second finds it loaded. Speed is audio duration / (decode + "
        "transcription) wall time; load is not included. CPU s is the process's CPU time "
        "(all threads) for decode and transcription: it moves little when other work shares "
        "the machine, so compare it where speeds look noisy. Peak RSS is the process's peak so far "
        "(imports, model, audio). WER uses Whisper's English normalizer. The default "
        "configuration is in bold.",
        "",
        markdown_table(RESULT_HEADER, [result_cells(r) for r in rows]),
        "",
    ]
    if queue_rows:
        parts += [
            "## Workers and threads",
            "",
            "Each worker is its own process with its own engine, loaded before the clock "
            "starts; the calls are all queued at once and the wall time runs to the last one.",
            "",
            markdown_table(QUEUE_HEADER, [queue_cells(r) for r in queue_rows]),
            "",
        ]
    parts += [
        "## Word timestamps in the batched engine",
        "",
        timestamp_note(rows),
        "",
        "## Corpus",
        "",
        "Synthetic sales calls spoken by espeak-ng from seeded templates (discovery questions, "
        "pricing with numbers, competitors, next steps); each script is kept beside its audio. "
        "Built by bench/corpus.py and cached in the corpus directory.",
        "",
        "\n".join(
            f"- {clip.name} ({clip.seconds / 60:.1f} min): {clip.description}"
            for clip in clips.values()
        ),
        "",
        "## Notes",
        "",
        "\n".join(f"- {note}" for note in notes),
        "",
    ]
    return "\n".join(parts)


def console_table(rows: list[Row], queue_rows: list[QueueRow]) -> str:
    text = markdown_table(RESULT_HEADER, [result_cells(r) for r in rows])
    if queue_rows:
        text += "\n\n" + markdown_table(QUEUE_HEADER, [queue_cells(r) for r in queue_rows])
    return text


BUSY_SHARE = 0.1


def busy_notes(rows: list[Row], queue_rows: list[QueueRow]) -> list[str]:
    """A warning where other work shared the CPUs: those speeds are understated."""
    busy = [r for r in rows if r.call_index == 0] + list(queue_rows)
    busy = [r for r in busy if r.others_cpu_share > BUSY_SHARE]
    if not busy:
        return ["Other processes used under 10% of the CPUs during every configuration."]
    listed = ", ".join(f"{r.config}:{r.clip} ({r.others_cpu_share:.0%})" for r in busy)
    return [
        f"Other processes used more than {BUSY_SHARE:.0%} of the CPUs during: {listed}. "
        "Those speeds are understated; run again on a quiet machine."
    ]


def summary(row: Row) -> str:
    return (
        f"{row.speed:.1f}x, WER {row.wer:.1%}, {row.peak_rss_mb:,.0f} MB, "
        f"load {row.load_seconds:.2f} s, CPU {row.cpu_seconds:.1f} s, "
        f"other processes {row.others_cpu_share:.0%}"
    )


def standing_notes() -> list[str]:
    return [
        "Peak RSS is the peak resident memory (VmHWM) of the configuration's own process, so "
        "it includes the Python interpreter and every import (the faster engine asks "
        "CTranslate2, not torch, whether CUDA is there).",
        "openai-whisper's temperature fallback samples at random, so its rows can move a little "
        "from run to run; faster-whisper's batched pipeline has no fallback at all (it decodes "
        "at the first temperature only).",
        "The telephone clip is hard for these models: espeak-ng's formant voices lose most of "
        "their cues below 3.4 kHz, more than human speech does. Compare engines on it, not "
        "with real phone calls.",
        "Hypotheses are kept in bench/out/hypotheses/ and the raw figures in "
        "bench/out/results.json.",
    ]


def write_section(report: Path, heading: str, section: str) -> None:
    """Replace the report's section under `heading` (up to the next top-level section) by
    `section`, or add it at the end: each benchmark tool keeps its own section of the report."""
    text = report.read_text() if report.exists() else ""
    if heading in text:
        before, after = text.split(heading, 1)
        rest = after.split("\n## ", 1)
        text = before + ("\n## " + rest[1] if len(rest) > 1 else "")
    report.write_text(text.rstrip("\n") + "\n\n" + section)


# Sections of the report written by other tools (bench/load.py's web latency), kept as they are.
KEPT_SECTION = "\n## Web latency while workers transcribe"


def kept_sections(report: Path) -> str:
    text = report.read_text() if report.exists() else ""
    return text[text.index(KEPT_SECTION) :] if KEPT_SECTION in text else ""
