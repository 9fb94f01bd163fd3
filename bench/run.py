"""Run the speech benchmark: speed, accuracy and memory of each engine configuration.

    python -m bench.run [--quick] [--only PATTERN] [--repeat N] [--out docs/benchmarks.md]
                        [--corpus-dir data/bench] [--model-dir data/models]

Every configuration runs in a fresh process (`python -m bench.run --child SPEC RESULT`), so its
peak resident memory is its own. Inside, it does what a worker does for each call: decode the
file with transcripts.speech.audio.decode, get the engine from load_engine (timed: the first
call loads the model, a second call in the same process must find it loaded) and run
transcribe_long. Speed is audio seconds per wall second of decode plus transcription; model
load is reported on its own. Word error rate is scored here, in the parent, against the script
the clip was spoken from (the scorer imports torch, which would distort a child's memory).
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import corpus

REPO_ROOT = Path(__file__).resolve().parent.parent
Log = Callable[[str], None]

# A second call's model lookup above this would mean the model was loaded again.
WARM_LOAD_SECONDS = 0.05
CHILD_TIMEOUT_SECONDS = 45 * 60


# --- Configurations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One engine with one set of options, run in its own process over `clips` in order.

    The first clip pays the model load; later clips show what a warm worker pays.
    """

    name: str
    engine: str
    model: str
    settings: str
    clips: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    threads: int = 0
    device: str = "auto"
    # "engine" runs the product's engine as it is; the others call faster-whisper's batched
    # pipeline directly with other timestamp settings, to price the engine's word timestamps.
    variant: str = "engine"
    # Cheap enough to run --repeat times (the median is reported).
    repeatable: bool = False
    # The configuration a fresh install runs (EngineSpec() and DecodeOptions() defaults).
    default: bool = False

    @property
    def label(self) -> str:
        return f"{self.name}:{self.clips[0]}"


@dataclass(frozen=True)
class QueueConfig:
    """`workers` processes with `threads` each, draining a queue of `queued` calls at once."""

    name: str
    engine: str
    model: str
    workers: int
    threads: int
    queued: int
    clip: str

    @property
    def label(self) -> str:
        return f"{self.name}:{self.clip}"

    @property
    def clips(self) -> tuple[str, ...]:
        return (self.clip,)


TINY, BASE = "tiny.en", "base"
LONG, SHORT, PHONE, TWO_HOURS = "call_20min", "call_1min", "call_1min_phone", "call_2h"


def faster(
    name: str, settings: str, clips: tuple[str, ...], model: str = TINY, **kwargs: Any
) -> Config:
    return Config(f"faster-{model}-{name}", "faster", model, settings, clips, **kwargs)


def openai(
    name: str, settings: str, clips: tuple[str, ...], model: str = TINY, **kwargs: Any
) -> Config:
    return Config(f"openai-{model}-{name}", "openai", model, settings, clips, **kwargs)


# faster-whisper's batched pipeline decodes at the first temperature only: no fallback.
BATCHED = "int8, VAD, batched {batch}, beam {beam}, word times (the engine)"
NO_VAD = "int8, no VAD, sequential, beam 1 + temperature fallback"
GREEDY = "fp32, beam 1 + temperature fallback (transcribe() defaults)"
NO_FALLBACK = "fp32, beam 1, no temperature fallback"
BEAM5 = "fp32, beam 5 + temperature fallback"
BYPASS = "int8, VAD, batched 8, beam {beam}, {how} (bypasses the engine)"
BYPASS_HOW = {
    "tokens": "timestamp tokens, no word times",
    "chunks": "no timestamps: one segment a voice chunk",
}


def batched(
    batch: int, clips: tuple[str, ...], model: str = TINY, beam: int = 1, **kwargs: Any
) -> Config:
    return faster(
        f"b{batch}" + (f"-beam{beam}" if beam > 1 else ""),
        BATCHED.format(batch=batch, beam=beam),
        clips,
        model,
        options={"batch_size": batch, "beam_size": beam},
        # The engine's defaults on a CPU (transcripts/speech/faster_engine.py).
        default=batch == 4 and model == TINY and beam == 5,
        **kwargs,
    )


def bypass(variant: str, clips: tuple[str, ...], beam: int = 1, **kwargs: Any) -> Config:
    """faster-whisper's batched pipeline called another way than the engine does (VARIANTS)."""
    return faster(
        "b8" + (f"-beam{beam}" if beam > 1 else "") + f"-{variant}",
        BYPASS.format(beam=beam, how=BYPASS_HOW[variant]),
        clips,
        options={"batch_size": 8, "beam_size": beam},
        variant=variant,
        **kwargs,
    )


def full_configs() -> list[Config]:
    main = (LONG, PHONE)
    configs = [
        batched(4, main, beam=5, repeatable=True),
        batched(4, main, repeatable=True),
        batched(8, main, beam=5, repeatable=True),
        batched(16, main, beam=5, repeatable=True),
        bypass("tokens", (LONG,), repeatable=True),
        bypass("chunks", (LONG,)),
        faster("novad", NO_VAD, main, options={"vad": False, "beam_size": 1}),
        openai("greedy", GREEDY, main),
        openai("nofallback", NO_FALLBACK, main, options={"temperature_fallback": False}),
        openai("beam5", BEAM5, main, options={"beam_size": 5}),
        batched(4, (TWO_HOURS,), beam=5),
    ]
    return configs + short_configs()


def short_configs() -> list[Config]:
    """tiny.en against base on the one-minute call, clean then over the phone."""
    clips = (SHORT, PHONE)
    return [
        batched(4, clips, beam=5),
        batched(4, clips, model=BASE, beam=5),
        openai("greedy", GREEDY, clips),
        openai("greedy", GREEDY, clips, model=BASE),
    ]


def quick_configs() -> list[Config]:
    return short_configs() + [
        faster("novad", NO_VAD, (SHORT,), options={"vad": False, "beam_size": 1}),
        batched(4, (SHORT,)),
        bypass("tokens", (SHORT,)),
        openai("nofallback", NO_FALLBACK, (SHORT,), options={"temperature_fallback": False}),
        openai("beam5", BEAM5, (SHORT,), options={"beam_size": 5}),
    ]


def api_configs(quick: bool) -> list[Config]:
    """The OpenAI API, only where a key is set: with it, audio leaves this machine."""
    if not os.environ.get("OPENAI_API_KEY"):
        return []
    clips = (SHORT, PHONE) if quick else (LONG, SHORT)
    model = os.environ.get("OPENAI_API_MODEL", "whisper-1")
    return [Config(f"api-{model}", "api", model, "OpenAI API, Opus upload", clips)]


def queue_configs(clip: str) -> list[QueueConfig]:
    """One worker with every core against one worker per core, with 1 and 4 calls waiting.

    2 x 2 is what Q_WORKERS=2 with WHISPER_THREADS=2 gives: each worker takes all cores.
    """
    cores = os.cpu_count() or 1
    shapes = [(1, cores, 1), (1, cores, 4)]
    if cores > 1:
        shapes += [(cores, 1, 1), (cores, 1, 4)]
    if cores > 1 and clip == LONG:
        # With one call queued, a second worker idles: 2 x 2 then behaves like 1 x 2.
        shapes.append((cores, cores, 4))
    return [
        QueueConfig(
            f"queue-{workers}x{threads}-q{queued}", "faster", TINY, workers, threads, queued, clip
        )
        for workers, threads, queued in shapes
    ]


def select(configs: list, pattern: str | None) -> list:
    """Configurations whose label ("name:first clip") matches a glob or contains `pattern`."""
    if not pattern:
        return configs
    return [c for c in configs if fnmatch.fnmatch(c.label, pattern) or pattern in c.label]


# --- Inside a child process -------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started (VmHWM), in MiB.

    Not getrusage's ru_maxrss: Linux carries that over exec from the forked parent, so every
    child would report at least the parent's size at the time it was started.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of every thread of this process: unlike wall time, barely moved by other load."""
    times = os.times()
    return times.user + times.system


def engine_spec(config: dict[str, Any], model_dir: str):
    from transcripts.speech.base import EngineSpec

    return EngineSpec(
        engine=config["engine"],
        model=config["model"],
        device=config.get("device", "auto"),
        threads=config.get("threads", 0),
        model_dir=Path(model_dir),
        api_key=os.environ.get("OPENAI_API_KEY", ""),
        api_base=os.environ.get("OPENAI_API_BASE", "https://api.openai.com/v1"),
        api_model=os.environ.get("OPENAI_API_MODEL", "whisper-1"),
    )


# Bench-only ways of calling faster-whisper's batched pipeline, against the engine's own
# (timestamp tokens off, word timestamps on, split into sentences by the word times):
#   tokens: timestamp tokens, no word timestamps (segments as Whisper cuts them)
#   chunks: neither: one segment per voice chunk (the least work)
VARIANTS = {
    "tokens": {"without_timestamps": False, "word_timestamps": False},
    "chunks": {"without_timestamps": True, "word_timestamps": False},
}


def bypass_engine(engine, variant: str):
    """The faster engine's batched pipeline called another way (measurement only)."""
    from transcripts.speech.base import Engine, Segment

    class BatchedVariant(Engine):
        name = engine.name
        model_name = engine.model_name
        device = engine.device
        compute_type = engine.compute_type
        window_seconds = engine.window_seconds

        def transcribe(self, audio, options, on_progress=None) -> Iterator[Segment]:
            segments, _info = engine.pipeline.transcribe(
                audio,
                language="en" if engine.english_only else options.language,
                beam_size=options.beam_size,
                best_of=max(options.beam_size, 1),
                temperature=list(options.temperatures),
                initial_prompt=options.initial_prompt,
                batch_size=options.batch_size,
                vad_filter=True,
                **VARIANTS[variant],
            )
            for segment in segments:
                if on_progress:
                    on_progress(segment.end)
                if segment.text.strip():
                    yield Segment(float(segment.start), float(segment.end), segment.text.strip())

    return BatchedVariant()


def transcribe_call(spec, config: dict[str, Any], clip: dict[str, Any]) -> dict[str, Any]:
    """One call as the worker handles it (transcripts.tasks.CallTranscription.run)."""
    from transcripts.speech import audio
    from transcripts.speech.base import SAMPLE_RATE, DecodeOptions
    from transcripts.speech.engines import load_engine
    from transcripts.speech.pipeline import transcribe_long

    started, cpu_started = time.monotonic(), cpu_seconds()
    samples = audio.decode(Path(clip["audio"]), max_seconds=4 * 3600)
    decoded, cpu_decoded = time.monotonic(), cpu_seconds()
    engine = load_engine(spec)
    loaded, cpu_loaded = time.monotonic(), cpu_seconds()
    if config.get("variant", "engine") != "engine":
        engine = bypass_engine(engine, config["variant"])
    options = replace(DecodeOptions(), **config.get("options", {}))
    progress: list[float] = []
    unheard: list[tuple[float, float]] = []
    segments = list(
        transcribe_long(
            engine,
            samples,
            options,
            on_progress=progress.append,
            on_heard=lambda _speech, spans: unheard.extend(spans),
        )
    )
    finished = time.monotonic()
    cpu = (cpu_decoded - cpu_started) + (cpu_seconds() - cpu_loaded)
    seconds = len(samples) / SAMPLE_RATE
    del samples
    busy = (decoded - started) + (finished - loaded)
    return {
        "clip": clip["name"],
        "audio_seconds": seconds,
        "decode_seconds": decoded - started,
        "load_seconds": loaded - decoded,
        "transcribe_seconds": finished - loaded,
        "busy_seconds": busy,
        "speed": seconds / busy,
        "cpu_seconds": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "segments": len(segments),
        "text": "\n".join(segment.text for segment in segments),
        # For bench.completeness: where words landed, and what the engine could not hear.
        "word_times": [times for segment in segments for times in word_times(segment)],
        "unheard": unheard,
        "engine": engine.describe(),
    }


def word_times(segment) -> list[tuple[float, float]]:
    """The segment's word times; spread evenly over the segment where the engine gave none
    (sequential decoding without word timestamps), so holes are measured alike."""
    if segment.words:
        return [(w.start, w.end) for w in segment.words]
    count = max(1, len(segment.text.split()))
    step = (segment.end - segment.start) / count
    return [(segment.start + i * step, segment.start + (i + 1) * step) for i in range(count)]


def run_child(spec_path: Path, result_path: Path) -> None:
    job = json.loads(spec_path.read_text())
    if job["kind"] == "queue":
        result = run_queue(job)
    else:
        spec = engine_spec(job["config"], job["model_dir"])
        calls = [transcribe_call(spec, job["config"], clip) for clip in job["clips"]]
        result = {"calls": calls}
    result_path.write_text(json.dumps(result))


def queue_worker(job: dict, jobs, results, ready) -> None:
    """A worker process: load the engine, wait for the start, take calls until none are left."""
    from transcripts.speech.engines import load_engine

    spec = engine_spec(job["config"], job["model_dir"])
    load_engine(spec)
    ready.wait()
    calls = []
    while (clip := jobs.get()) is not None:
        call = transcribe_call(spec, {"engine": spec.engine}, clip)
        call["finished"] = time.monotonic()
        calls.append(call)
    results.put({"calls": calls, "peak_rss_mb": peak_rss_mb()})


def run_queue(job: dict) -> dict[str, Any]:
    """`workers` processes drain `queued` calls put on the queue at once; wall time to the last."""
    import multiprocessing

    # Spawned, not forked: each worker starts clean and loads its own engine, so its peak
    # memory is its own (a forked child would count this coordinator's pages as well).
    context = multiprocessing.get_context("spawn")
    config = job["config"]
    jobs, results = context.Queue(), context.Queue()
    ready = context.Barrier(config["workers"] + 1)
    for index in range(config["queued"]):
        jobs.put(job["clips"][index % len(job["clips"])])
    for _ in range(config["workers"]):
        jobs.put(None)
    workers = [
        context.Process(target=queue_worker, args=(job, jobs, results, ready))
        for _ in range(config["workers"])
    ]
    for worker in workers:
        worker.start()
    ready.wait()
    started = time.monotonic()
    reports = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    calls = [call for report in reports for call in report["calls"]]
    for call in calls:
        call["latency"] = call.pop("finished") - started
    return {
        "calls": calls,
        "wall_seconds": max(call["latency"] for call in calls),
        "peak_rss_mb": sum(report["peak_rss_mb"] for report in reports),
    }


# --- In the parent ----------------------------------------------------------------------------


@dataclass
class Row:
    config: str
    engine: str
    model: str
    settings: str
    clip: str
    audio_minutes: float
    speed: float
    wer: float
    peak_rss_mb: float
    load_seconds: float
    call_index: int
    runs: int
    default: bool = False
    decode_seconds: float = 0.0
    transcribe_seconds: float = 0.0
    cpu_seconds: float = 0.0
    device: str = ""
    # The share of the machine's CPUs that other processes used meanwhile: it skews timings.
    others_cpu_share: float = 0.0
    error: str = ""


@dataclass
class QueueRow:
    config: str
    workers: int
    threads: int
    queued: int
    clip: str
    audio_minutes: float
    wall_seconds: float
    throughput: float
    mean_latency: float
    wer: float
    peak_rss_mb: float
    others_cpu_share: float = 0.0
    error: str = ""


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
            [sys.executable, "-m", "bench.run", "--child", str(spec_path), str(result_path)],
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
        "clips": [clip_payload(clips[name]) for name in config.clips],
        "model_dir": str(model_dir),
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
        "clips": [clip_payload(clips[config.clip])],
        "model_dir": str(model_dir),
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


# --- Report -----------------------------------------------------------------------------------


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


# --- Orchestration ----------------------------------------------------------------------------


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


BUSY_SHARE = 0.1


# Sections of the report written by other tools (bench/load.py's web latency), kept as they are.
KEPT_SECTION = "\n## Web latency while workers transcribe"


def kept_sections(report: Path) -> str:
    text = report.read_text() if report.exists() else ""
    return text[text.index(KEPT_SECTION) :] if KEPT_SECTION in text else ""


def default_report_path(options: RunOptions) -> Path:
    """docs/benchmarks.md for a full run; a partial run must not overwrite it."""
    if options.quick or options.only:
        return options.results_dir / "benchmarks-partial.md"
    return REPO_ROOT / "docs" / "benchmarks.md"


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
    if argv[:1] == ["--child"]:
        run_child(Path(argv[1]), Path(argv[2]))
        return 0
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
