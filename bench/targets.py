"""The targets a benchmark run is held to, measured against its rows."""

from __future__ import annotations

from dataclasses import dataclass

from bench.configs import LONG, TINY, TWO_HOURS
from bench.rows import Row

# A second call's model lookup above this would mean the model was loaded again.
WARM_LOAD_SECONDS = 0.05


@dataclass
class Target:
    goal: str
    measured: str
    status: str  # "pass", "FAIL" or "not measured"


def find(rows: list[Row], config: str, clip: str) -> Row | None:
    return next((r for r in rows if r.config == config and r.clip == clip and not r.error), None)


def evaluate_targets(rows: list[Row]) -> list[Target]:
    return [
        default_speed_target(rows),
        openai_speed_target(rows),
        memory_target(rows),
        warm_load_target(rows),
    ]


def default_speed_target(rows: list[Row]) -> Target:
    goal = (
        "Default engine (faster, tiny.en, batched VAD) >= 30x real time on the 20-minute call, "
        "WER no worse than openai beam 5 + 1 point"
    )
    default = next((r for r in rows if r.default and r.clip == LONG and not r.error), None)
    beam5 = find(rows, "openai-tiny.en-beam5", LONG)
    if default is None or beam5 is None:
        return Target(goal, "needs the full run", "not measured")
    ok = default.speed >= 30 and default.wer <= beam5.wer + 0.01
    measured = (
        f"{default.speed:.1f}x, WER {default.wer:.1%} (openai beam 5: {beam5.wer:.1%}, "
        f"limit {beam5.wer + 0.01:.1%})"
    )
    return Target(goal, measured, "pass" if ok else "FAIL")


def openai_speed_target(rows: list[Row]) -> Target:
    goal = "openai engine >= 10x real time on the 20-minute call with its best settings"
    candidates = [r for r in rows if r.engine == "openai" and r.model == TINY and r.clip == LONG]
    candidates = [r for r in candidates if not r.error]
    if not candidates:
        return Target(goal, "needs the full run", "not measured")
    best = max(candidates, key=lambda r: r.speed)
    measured = f"{best.speed:.1f}x with {best.config} ({best.settings}), WER {best.wer:.1%}"
    return Target(goal, measured, "pass" if best.speed >= 10 else "FAIL")


def memory_target(rows: list[Row]) -> Target:
    goal = "2-hour call: peak resident memory < 1.5 GB, i.e. 1,536 MiB (default configuration)"
    row = next((r for r in rows if r.default and r.clip == TWO_HOURS and not r.error), None)
    if row is None:
        return Target(goal, "needs the full run", "not measured")
    measured = f"{row.peak_rss_mb:,.0f} MB ({row.speed:.1f}x, WER {row.wer:.1%})"
    return Target(goal, measured, "pass" if row.peak_rss_mb < 1536 else "FAIL")


def warm_load_target(rows: list[Row]) -> Target:
    goal = f"A second call in the same process pays no model load (< {WARM_LOAD_SECONDS} s)"
    warm = [r for r in rows if r.call_index > 0 and not r.error]
    if not warm:
        return Target(goal, "no configuration ran two calls", "not measured")
    worst = max(warm, key=lambda r: r.load_seconds)
    first = [r.load_seconds for r in rows if r.call_index == 0 and not r.error]
    measured = (
        f"second call: at most {worst.load_seconds * 1000:.1f} ms in {len(warm)} "
        f"configuration(s); first call: {min(first):.2f}-{max(first):.2f} s"
    )
    return Target(goal, measured, "pass" if worst.load_seconds < WARM_LOAD_SECONDS else "FAIL")
