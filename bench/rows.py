"""A row of the benchmark's results: one configuration on one clip, or one queue run."""

from __future__ import annotations

from dataclasses import dataclass


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
