"""Inside a benchmark child process: one configuration's calls, run through the worker's
pipeline, measured from within (peak memory, CPU time). Started by bench.run as
`python -m bench.child SPEC RESULT`; imports no Django, which would weigh on its memory."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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


def loaded_setup(setup: dict[str, Any]):
    """The EngineSpec and DecodeOptions a child was handed (see transcription_setup)."""
    from transcripts.speech.base import DecodeOptions, EngineSpec

    spec = EngineSpec(**{**setup["spec"], "model_dir": Path(setup["spec"]["model_dir"])})
    return spec, DecodeOptions(**setup["options"])


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


def transcribe_call(setup: dict[str, Any], variant: str, clip: dict[str, Any]) -> dict[str, Any]:
    """One call as the worker handles it: transcripts.speech.pipeline's load_recording and
    transcribe_recording, the functions transcripts.tasks.CallTranscription runs."""
    from transcripts.speech.engines import load_engine
    from transcripts.speech.pipeline import in_time_order, load_recording, transcribe_recording

    spec, options = loaded_setup(setup)
    started, cpu_started = time.monotonic(), cpu_seconds()
    # Decoded in this process (no child process limits): the same temporary 16-bit file and
    # lazily loaded tracks as the worker, with no process start in the figures.
    with load_recording(Path(clip["audio"]), max_seconds=setup["max_seconds"]) as recording:
        decoded, cpu_decoded = time.monotonic(), cpu_seconds()
        engine = load_engine(spec)
        second_pass = None
        if setup.get("second_pass"):
            from transcripts.speech.second_pass import load_second_pass

            second_pass = load_second_pass(spec, **setup["second_pass"])
        loaded, cpu_loaded = time.monotonic(), cpu_seconds()
        if variant != "engine":
            engine = bypass_engine(engine, variant)
        unheard: list[tuple[float, float]] = []
        heard = in_time_order(
            transcribe_recording(
                recording,
                engine,
                options,
                window_seconds=setup["window_seconds"],
                on_heard=lambda _channel, _speech, spans: unheard.extend(spans),
                second_pass=second_pass,
            )
        )
    segments = [segment for _, segment in heard]
    finished = time.monotonic()
    cpu = (cpu_decoded - cpu_started) + (cpu_seconds() - cpu_loaded)
    seconds, layout = recording.duration, recording.report.layout
    del recording
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
        # Lines the second pass decoded again with the accurate model.
        "redecoded": sum(1 for segment in segments if segment.decoded_by),
        "engine": engine.describe(),
        "layout": layout,
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
        variant = job["config"].get("variant", "engine")
        calls = [transcribe_call(job["setup"], variant, clip) for clip in job["clips"]]
        result = {"calls": calls}
    result_path.write_text(json.dumps(result))


def queue_worker(job: dict, jobs, results, ready) -> None:
    """A worker process: load the engine, wait for the start, take calls until none are left."""
    from transcripts.speech.engines import load_engine

    spec, _ = loaded_setup(job["setup"])
    load_engine(spec)
    ready.wait()
    calls = []
    while (clip := jobs.get()) is not None:
        call = transcribe_call(job["setup"], "engine", clip)
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


if __name__ == "__main__":
    run_child(Path(sys.argv[1]), Path(sys.argv[2]))
