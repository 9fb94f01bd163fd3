"""Run the speech benchmark: speed, accuracy and memory of each engine configuration.

    python -m bench.run [--quick] [--only PATTERN] [--repeat N] [--out docs/benchmarks.md]
                        [--corpus-dir data/bench] [--model-dir data/models]

Every configuration (bench/configs.py) runs in a fresh process (bench/child.py), so its peak
resident memory is its own. Inside, it runs the worker's pipeline on each call: decode and split
the channels with transcripts.speech.pipeline.load_recording, get the engine from load_engine
(timed: the first call loads the model, a second call in the same process must find it loaded)
and run transcribe_recording, with the engine spec and decoding options of
transcripts/transcription.py changed as the configuration says. Speed is audio seconds per wall
second of decode plus transcription; model load is reported on its own. Word error rate is
scored here, in the parent, against the script the clip was spoken from (the scorer imports
torch, which would distort a child's memory). The rows are held to the targets of
bench/targets.py and written up by bench/report.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import corpus
from bench.configs import (
    LONG,
    SHORT,
    Config,
    QueueConfig,
    api_configs,
    full_configs,
    queue_configs,
    quick_configs,
    select,
)
from bench.report import (
    busy_notes,
    console_table,
    kept_sections,
    passing_note,
    render_report,
    standing_notes,
    summary,
)
from bench.rows import QueueRow, Row
from bench.targets import evaluate_targets

REPO_ROOT = Path(__file__).resolve().parent.parent


Log = Callable[[str], None]


CHILD_TIMEOUT_SECONDS = 45 * 60


def transcription_setup(config: dict[str, Any], model_dir: Path) -> dict[str, Any]:
    """What a child transcribes with, as JSON: the deployment's engine spec and decoding
    options (transcripts/transcription.py, read from the settings), with the configuration's
    changes. Built in the parent: a child imports no Django, which would weigh on its memory.
    The spec may hold the API key; the file lies in a private temporary folder."""
    from transcripts import transcription

    spec = transcription.engine_spec(
        engine=config["engine"],
        model=config["model"],
        device=config.get("device", "auto"),
        threads=config.get("threads", 0),
        # Each child is the only worker on the machine: threads=0 gives it every core.
        workers=1,
        model_dir=model_dir,
    )
    options = transcription.decode_options(**config.get("options", {}))
    return {
        "spec": {**asdict(spec), "model_dir": str(spec.model_dir)},
        "options": asdict(options),
        "window_seconds": transcription.window_seconds(),
        "max_seconds": transcription.max_audio_seconds(),
        "second_pass": (
            transcription.second_pass_settings()
            if config.get("second_pass") is None
            else config["second_pass"]
        )
        or None,
    }


class OtherLoad:
    """Measures how much CPU other processes took while a child ran.

    All CPU time the machine spent (/proc/stat) less the children's own (getrusage), as a
    share of the CPUs over the wall time. The parent itself sleeps meanwhile.
    """

    def __enter__(self) -> OtherLoad:
        self.started = time.monotonic()
        self.busy = machine_busy_seconds()
        self.children = children_cpu_seconds()
        self.share = 0.0
        return self

    def __exit__(self, *_: object) -> None:
        wall = time.monotonic() - self.started
        busy = machine_busy_seconds() - self.busy
        own = children_cpu_seconds() - self.children
        self.share = max(0.0, busy - own) / max(wall * (os.cpu_count() or 1), 1e-9)


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (idle and iowait aside)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def clip_payload(clip: corpus.Clip) -> dict[str, Any]:
    return {"name": clip.name, "audio": str(clip.audio.resolve()), "seconds": clip.seconds}


def spawn_child(job: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(job))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        done = subprocess.run(
            [sys.executable, "-m", "bench.child", str(spec_path), str(result_path)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
        )
        if done.returncode != 0 or not result_path.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(" / ".join(tail) or f"exit status {done.returncode}")
        return json.loads(result_path.read_text())


def run_alone(config: Config, clip: corpus.Clip, model_dir: Path) -> tuple[dict[str, Any], float]:
    """One clip through one configuration, in a child process of its own: the call's figures,
    and the share of the CPUs other processes took meanwhile."""
    settings = {**asdict(config), "clips": [clip.name]}
    job = {
        "kind": "single",
        "config": settings,
        "setup": transcription_setup(settings, model_dir),
        "clips": [clip_payload(clip)],
    }
    with OtherLoad() as meter:
        call = spawn_child(job)["calls"][0]
    return call, meter.share


def score(clip: corpus.Clip, hypothesis: str) -> float:
    from transcripts.speech.wer import word_error_rate

    return word_error_rate(clip.reference(), hypothesis)


def save_hypothesis(out_dir: Path, config: str, clip: str, text: str) -> None:
    target = out_dir / "hypotheses" / f"{config}__{clip}.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text + "\n")


def run_config(
    config: Config,
    clips: dict[str, corpus.Clip],
    model_dir: Path,
    repeat: int,
    out_dir: Path,
    log: Log,
) -> list[Row]:
    job = {
        "kind": "single",
        "config": asdict(config),
        "setup": transcription_setup(asdict(config), model_dir),
        "clips": [clip_payload(clips[name]) for name in config.clips],
    }
    runs = repeat if config.repeatable else 1
    results = []
    others = 0.0
    for attempt in range(runs):
        try:
            with OtherLoad() as meter:
                results.append(spawn_child(job))
            others = max(others, meter.share)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            log(f"  {config.label} failed: {error}")
            return [error_row(config, name, str(error)) for name in config.clips]
        if runs > 1:
            first = results[-1]["calls"][0]
            log(f"  run {attempt + 1}/{runs}: {first['speed']:.1f}x")
    rows = []
    for index, name in enumerate(config.clips):
        calls = [result["calls"][index] for result in results]
        save_hypothesis(out_dir, config.name, name, calls[0]["text"])

        def median(key: str, calls: list[dict] = calls) -> float:
            return statistics.median(call[key] for call in calls)

        rows.append(
            Row(
                config=config.name,
                engine=config.engine,
                model=config.model,
                settings=config.settings,
                clip=name,
                audio_minutes=calls[0]["audio_seconds"] / 60,
                speed=median("speed"),
                wer=statistics.median(score(clips[name], call["text"]) for call in calls),
                peak_rss_mb=median("peak_rss_mb"),
                load_seconds=median("load_seconds"),
                call_index=index,
                runs=len(calls),
                default=config.default,
                decode_seconds=median("decode_seconds"),
                transcribe_seconds=median("transcribe_seconds"),
                cpu_seconds=median("cpu_seconds"),
                device=calls[0]["engine"].get("device", ""),
                others_cpu_share=others,
            )
        )
    return rows


def error_row(config: Config, clip: str, error: str) -> Row:
    return Row(
        config=config.name,
        engine=config.engine,
        model=config.model,
        settings=config.settings,
        clip=clip,
        audio_minutes=0.0,
        speed=0.0,
        wer=0.0,
        peak_rss_mb=0.0,
        load_seconds=0.0,
        call_index=config.clips.index(clip),
        runs=0,
        default=config.default,
        error=error[:300],
    )


def run_queue_config(
    config: QueueConfig, clips: dict[str, corpus.Clip], model_dir: Path, log: Log
) -> QueueRow:
    job = {
        "kind": "queue",
        "config": asdict(config),
        "setup": transcription_setup(asdict(config), model_dir),
        "clips": [clip_payload(clips[config.clip])],
    }
    try:
        with OtherLoad() as meter:
            result = spawn_child(job)
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        log(f"  {config.label} failed: {error}")
        zeros = dict.fromkeys(("audio_minutes", "wall_seconds", "throughput", "mean_latency"), 0.0)
        return QueueRow(
            config=config.name,
            workers=config.workers,
            threads=config.threads,
            queued=config.queued,
            clip=config.clip,
            wer=0.0,
            peak_rss_mb=0.0,
            error=str(error)[:300],
            **zeros,
        )
    calls = result["calls"]
    audio_seconds = sum(call["audio_seconds"] for call in calls)
    clip = clips[config.clip]
    return QueueRow(
        config=config.name,
        workers=config.workers,
        threads=config.threads,
        queued=config.queued,
        clip=config.clip,
        audio_minutes=audio_seconds / 60,
        wall_seconds=result["wall_seconds"],
        throughput=audio_seconds / result["wall_seconds"],
        mean_latency=statistics.mean(call["latency"] for call in calls),
        wer=statistics.mean(score(clip, call["text"]) for call in calls),
        peak_rss_mb=result["peak_rss_mb"],
        others_cpu_share=meter.share,
    )


def prepare_weights(configs: list[Config], model_dir: Path, log: Log) -> None:
    """Convert or assemble weights once, before timing: a worker does it once per install."""
    from transcripts.speech import weights

    for model in sorted({c.model for c in configs if c.engine in ("faster", "openai")}):
        weights.packaged_ct2_dir(model, model_dir)
    for model in sorted({c.model for c in configs if c.engine == "openai"}):
        if not weights.openai_checkpoint_path(model, model_dir).exists():
            if weights.packaged_ct2_dir(model, model_dir) is not None:
                log(f"Converting {model} for openai-whisper (once) ...")
                weights.install_openai_checkpoint(model, model_dir)


@dataclass(frozen=True)
class RunOptions:
    quick: bool = False
    only: str | None = None
    repeat: int = 1
    out: Path | None = None
    corpus_dir: Path = Path("data/bench")
    model_dir: Path = Path("data/models")
    results_dir: Path = REPO_ROOT / "bench" / "out"
    command: str = "python -m bench.run"


def plan(options: RunOptions) -> tuple[list[Config], list[QueueConfig], list[str]]:
    notes = []
    configs = quick_configs() if options.quick else full_configs()
    configs += api_configs(options.quick)
    if not os.environ.get("OPENAI_API_KEY"):
        notes.append("The OpenAI API engine was skipped: OPENAI_API_KEY is not set.")
    queue_clip = SHORT if options.quick else LONG
    queues = queue_configs(queue_clip)
    return select(configs, options.only), select(queues, options.only), notes


def run_benchmark(options: RunOptions, log: Log = print) -> tuple[list[Row], list[QueueRow], Path]:
    configs, queues, notes = plan(options)
    names = tuple(dict.fromkeys(name for c in [*configs, *queues] for name in c.clips))
    clips = corpus.ensure_clips(options.corpus_dir, names, log)
    model_dir = Path(options.model_dir).resolve()
    prepare_weights(configs, model_dir, log)
    rows: list[Row] = []
    total = len(configs) + len(queues)
    started = time.monotonic()
    for number, config in enumerate(configs, 1):
        log(f"[{number}/{total}] {config.label} ({', '.join(config.clips)})")
        new = run_config(config, clips, model_dir, options.repeat, options.results_dir, log)
        for row in new:
            if not row.error:
                log(f"  {row.clip}: {summary(row)}")
        rows += new
    queue_rows = []
    for number, queue in enumerate(queues, len(configs) + 1):
        log(f"[{number}/{total}] {queue.label}")
        row = run_queue_config(queue, clips, model_dir, log)
        if not row.error:
            log(
                f"  {row.throughput:.1f} audio h per wall h, {row.wall_seconds:.1f} s, "
                f"other processes {row.others_cpu_share:.0%}"
            )
        queue_rows.append(row)
    notes.append(f"The run took {(time.monotonic() - started) / 60:.1f} minutes.")
    notes += passing_note(rows) + busy_notes(rows, queue_rows)
    notes += standing_notes()
    out = options.out or default_report_path(options)
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = kept_sections(out)
    out.write_text(
        render_report(rows, queue_rows, clips, options.command, notes, options.quick) + kept
    )
    save_results(options.results_dir, rows, queue_rows)
    log("")
    log(console_table(rows, queue_rows))
    log("")
    for target in evaluate_targets(rows):
        log(f"{target.status:>12}  {target.goal}: {target.measured}")
    log(f"\nWrote {out}")
    return rows, queue_rows, out


def default_report_path(options: RunOptions) -> Path:
    """docs/benchmarks.md for a full run; a partial run must not overwrite it."""
    if options.quick or options.only:
        return options.results_dir / "benchmarks-partial.md"
    return REPO_ROOT / "docs" / "benchmarks.md"


def save_results(results_dir: Path, rows: list[Row], queue_rows: list[QueueRow]) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    payload = {"rows": [asdict(r) for r in rows], "queues": [asdict(r) for r in queue_rows]}
    (results_dir / "results.json").write_text(json.dumps(payload, indent=1) + "\n")


def add_arguments(parser: argparse.ArgumentParser, corpus_dir: Path, model_dir: Path) -> None:
    parser.add_argument("--quick", action="store_true", help="One-minute clips only (~2 min).")
    parser.add_argument(
        "--only", metavar="PATTERN", help='Run configurations whose "name:clip" label matches.'
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="Runs of the cheap 20-minute rows (median shown)."
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="Report (default docs/benchmarks.md; bench/out/benchmarks-partial.md for --quick "
        "or --only, so a partial run never overwrites the full report).",
    )
    parser.add_argument("--corpus-dir", type=Path, default=corpus_dir)
    parser.add_argument("--model-dir", type=Path, default=model_dir)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The parent reads the deployment's transcription settings (transcripts/transcription.py).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callscribe.settings")
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser, Path("data/bench"), Path("data/models"))
    args = parser.parse_args(argv)
    options = RunOptions(
        quick=args.quick,
        only=args.only,
        repeat=args.repeat,
        out=args.out,
        corpus_dir=args.corpus_dir,
        model_dir=args.model_dir,
        command=" ".join(["python -m bench.run", *argv]),
    )
    run_benchmark(options, log=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
