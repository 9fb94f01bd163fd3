"""From a recording to its segments: the one path the worker, `manage.py transcribe` and the
benchmark take. A recording is decoded (in a child process bounded in time and memory, into a
temporary file of 16-bit samples: see audio.decode_recording), its channel layout detected from
that file a minute at a time, and each track loaded as float32 only when its turn comes, with
the crosstalk of a dual-channel call muted (or the channels mixed down), then transcribed window
by window: bounded memory, and a place to resume after a crash."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import audio, diarization
from .base import (
    SAMPLE_RATE,
    DecodeOptions,
    Engine,
    ProgressCallback,
    Segment,
    Transcription,
    TranscriptionError,
)
from .channels import (
    ChannelReport,
    Layout,
    frame_levels_of_chunks,
    layout_from_levels,
    mute_crosstalk_in_channel,
)
from .diarization import Diarization

# Given a window's samples and its lines (in the window's seconds) before any is saved, returns
# the lines to save instead: the second pass (speech.second_pass.SecondPass).
WindowPass = Callable[[np.ndarray, list[Segment], DecodeOptions, ProgressCallback], list[Segment]]

# Called after each window with what the engine heard in it (Transcription.speech and .unheard),
# as (start, end) pairs in the track's seconds, cut to the part of the window that was kept.
HeardCallback = Callable[[list[tuple[float, float]], list[tuple[float, float]]], None]

# A segment that ends this close to a window's edge may be cut by it: it is dropped, and the
# next window starts where the last whole segment ended, so it is decoded again in one piece.
SEAM_SECONDS = 3.0
# A last window shorter than this is merged into the one before it.
MIN_WINDOW_SECONDS = 30.0


def transcribe_long(
    engine: Engine,
    audio: np.ndarray,
    options: DecodeOptions,
    *,
    start: float = 0.0,
    on_progress: ProgressCallback | None = None,
    on_window_done: Callable[[float], None] | None = None,
    window_seconds: float | None = None,
    on_heard: HeardCallback | None = None,
    second_pass: WindowPass | None = None,
) -> Iterator[Segment]:
    """Transcribe `audio` from `start` seconds on, yielding segments with absolute times.

    With `second_pass`, a window's segments are handed to it whole before any is yielded, and
    what it returns is yielded instead; where the window ends and the next one starts is
    decided by the first pass's segments alone, so windows are the same with it or without.

    After each window's segments, `on_heard(speech, unheard)` says what the engine heard in it
    (engines with voice-activity detection only), then `on_window_done(next_start)` where the
    next window starts. Windows depend only on the audio and the engine, so a run resumed at a
    reported `next_start` makes exactly the segments an uninterrupted run would have made.
    """
    total = len(audio) / SAMPLE_RATE
    position = max(0.0, start)
    window = window_seconds or engine.window_seconds
    while position < total - 0.05:
        window_end = min(position + window, total)
        if total - window_end < min(MIN_WINDOW_SECONDS, window / 2):
            window_end = total
        last_window = window_end >= total
        keep_until = total if last_window else window_end - SEAM_SECONDS
        samples = audio[int(position * SAMPLE_RATE) : int(window_end * SAMPLE_RATE)]
        offset = position

        def progress(seconds: float, offset: float = offset, cap: float = keep_until) -> None:
            if on_progress:
                on_progress(min(offset + seconds, cap))

        last_end = None
        result = engine.transcribe(samples, options, progress)
        if second_pass is None:
            for segment in result:
                segment = segment.shifted(offset)
                if segment.end > keep_until and not last_window:
                    break
                last_end = segment.end
                yield segment
        else:
            kept = []
            for segment in result:
                if segment.end + offset > keep_until and not last_window:
                    break
                last_end = segment.end + offset
                kept.append(segment)
            for segment in second_pass(samples, kept, options, progress):
                yield segment.shifted(offset)
        if last_window:
            next_position = total
        elif last_end is not None:
            next_position = max(last_end, position + 1.0)
        else:
            next_position = keep_until
        if on_heard and isinstance(result, Transcription):
            speech = _kept(result.speech, offset, position, next_position)
            on_heard(speech, _kept(result.unheard, offset, position, next_position))
        if last_window:
            break
        position = next_position
        if on_window_done:
            on_window_done(position)
    if on_window_done:
        on_window_done(total)
    if on_progress:
        on_progress(total)


def _kept(
    spans: list[tuple[float, float]], offset: float, start: float, end: float
) -> list[tuple[float, float]]:
    """Spans moved by `offset` and cut to [start, end): what this window stands for."""
    moved = ((max(a + offset, start), min(b + offset, end)) for a, b in spans)
    return [(round(a, 3), round(b, 3)) for a, b in moved if b > a]


@dataclass(frozen=True)
class Position:
    """Where a run over a recording stands: a track, and the seconds into it where its next
    window starts, exactly as on_window_done reported them.

    Kept as two numbers, never as one sum of seconds: (48.18 + 9.13) - 48.18 is 9.130000000000003
    in floating point, and a run resumed a hair away from where the first one stopped hears a
    window that starts a sample later, and keeps or drops a segment at the seam differently.
    """

    track: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Track:
    """What is transcribed in one go: a channel of a dual-channel call (with its number), or the
    whole recording as one voice (channel None). `load()` makes its float32 samples; the
    pipeline calls it when the track's turn comes and drops them before the next track."""

    channel: int | None
    load: Callable[[], np.ndarray]


@dataclass(frozen=True)
class Recording:
    """A decoded recording, split into the tracks to transcribe one after the other. Its
    samples stay in the decoded temporary file until a track is loaded: use it as a context
    manager, which closes (and so frees) that file."""

    report: ChannelReport
    duration: float
    tracks: tuple[Track, ...]
    # The decoded file the tracks read; None for tracks held in memory (tests).
    decoded: audio.Recording | None = None

    @property
    def channels(self) -> int:
        """Channels decoded (at most 2; more are mixed down to stereo)."""
        return self.decoded.channels if self.decoded else len(self.tracks)

    def close(self) -> None:
        if self.decoded is not None:
            self.decoded.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def is_dual(self) -> bool:
        return self.report.is_dual

    @property
    def work_seconds(self) -> float:
        """Seconds of audio to transcribe: the recording's length once per track."""
        return self.duration * len(self.tracks)

    def fraction(self, position: Position) -> float:
        """How much of the work is done at `position`, 0..1."""
        if not self.work_seconds:
            return 1.0
        done = min(position.track, len(self.tracks)) * self.duration
        if position.track < len(self.tracks):
            done += position.seconds
        return max(0.0, min(1.0, done / self.work_seconds))


def load_recording(
    path: Path | str,
    *,
    max_seconds: float | None = None,
    limits: audio.Limits | None = None,
    while_decoding: Callable[[], None] | None = None,
) -> Recording:
    """Decode a recording and decide its tracks: each channel alone when the rep and the
    customer are on their own channels (crosstalk muted), else the channels mixed as one.

    With `limits`, decoding runs in a child process bounded in time and memory, and
    `while_decoding()` is called every 2 seconds meanwhile: what it raises stops the decoding
    (the worker renews its lease there, and raises when the call was cancelled). Only one
    track's float32 samples are ever in memory, when it is loaded.
    """
    decoded = audio.decode_recording(
        Path(path),
        mono=False,
        max_seconds=max_seconds,
        limits=limits,
        while_waiting=while_decoding,
    )
    try:
        if decoded.seconds < 0.1:
            raise TranscriptionError(audio.UNREADABLE)
        levels = None
        report = ChannelReport(Layout.MONO, 0, ())
        if decoded.channels > 1:
            levels = frame_levels_of_chunks(decoded.chunks(), SAMPLE_RATE)
            report = layout_from_levels(levels)
        if report.is_dual:

            def muted(number: int) -> np.ndarray:
                samples = decoded.channel(number)
                return mute_crosstalk_in_channel(samples, number, levels, SAMPLE_RATE)

            tracks = (Track(0, lambda: muted(0)), Track(1, lambda: muted(1)))
        else:
            tracks = (Track(None, decoded.mixdown),)
    except BaseException:
        decoded.close()
        raise
    return Recording(report=report, duration=decoded.seconds, tracks=tracks, decoded=decoded)


def transcribe_recording(
    recording: Recording,
    engine: Engine,
    options: DecodeOptions,
    *,
    resume_at: Position = Position(),
    window_seconds: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    on_window_done: Callable[[Position], None] | None = None,
    on_heard: Callable[[int | None, list, list], None] | None = None,
    second_pass: WindowPass | None = None,
) -> Iterator[tuple[int | None, Segment]]:
    """Transcribe a recording's tracks one after the other, yielding (channel, segment).

    `on_progress(fraction)` gets the share of the whole work done (all tracks), never going
    back. After the segments of each window, `on_window_done(position)` says where the next
    window starts; a run resumed at that position yields exactly the segments an uninterrupted
    run yields after it. Before that, `on_heard(channel, speech, unheard)` says where in the
    window the engine heard speech and which of it yielded no word (see Transcription), in the
    track's seconds; a window's spans start where the window does, so those of windows past a
    resume position are told apart from the ones before by their start. `second_pass` goes
    over each window's segments before they are yielded (see transcribe_long).
    """
    best = recording.fraction(resume_at)

    for number, track in enumerate(recording.tracks):
        if number < resume_at.track:
            continue
        offset = number * recording.duration
        samples = track.load()
        length = len(samples) / SAMPLE_RATE

        def progress(seconds: float, offset: float = offset) -> None:
            # Engines may step back a little at a window seam; the reported share never does.
            nonlocal best
            best = max(best, min(1.0, (offset + seconds) / recording.work_seconds))
            if on_progress:
                on_progress(best)

        def heard(speech: list, unheard: list, channel: int | None = track.channel) -> None:
            if on_heard:
                on_heard(channel, speech, unheard)

        def window_done(next_start: float, number: int = number, length: float = length) -> None:
            if on_window_done:
                finished = next_start >= length
                on_window_done(
                    Position(number + 1, 0.0) if finished else Position(number, next_start)
                )

        for segment in transcribe_long(
            engine,
            samples,
            options,
            start=resume_at.seconds if number == resume_at.track else 0.0,
            window_seconds=window_seconds,
            on_progress=progress,
            on_window_done=window_done,
            on_heard=heard,
            second_pass=second_pass,
        ):
            yield track.channel, segment
        # One track's float32 samples in memory at a time.
        del samples


def in_time_order(
    heard: Iterable[tuple[int | None, Segment]],
) -> list[tuple[int | None, Segment]]:
    """The segments of all tracks as the transcript reads: by start time, the lower channel
    first at a tie, each track's own order kept (the sort is stable). The worker does the same
    in the database (Call.put_segments_in_time_order)."""
    return sorted(heard, key=lambda item: (item[1].start, -1 if item[0] is None else item[0]))


def diarize_track(
    recording: Recording,
    segments: list[Segment],
    *,
    speakers: int | None = None,
    on_progress: Callable[[float], None] | None = None,
    speech: list[tuple[float, float]] | None = None,
    threads: int = 0,
) -> tuple[Diarization, list[tuple[int, Segment]]]:
    """Who speaks when on a mono recording, and its segments given to their voices (split where
    the voice changes): see diarization.diarize and diarization.attribute. `speech`: where the
    engine heard speech, if it said (Transcription.speech); `threads`: the encoder's CPU
    threads (0: every core; a worker passes its share). A dual-channel call is not
    diarized: its channels already say who speaks."""
    if recording.is_dual:
        raise ValueError("A dual-channel recording's speakers are its channels: not diarized.")
    samples = recording.tracks[0].load()
    try:
        found = diarization.diarize(
            samples,
            speakers=speakers,
            speech=speech,
            # Where words were said, each word's time (or its line's, without word timings).
            words=[(w.start, w.end) for s in segments for w in (s.words or (s,))],
            on_progress=on_progress,
            threads=threads,
        )
    finally:
        # The float32 track (460 MB for two hours) is freed before the segments are split.
        del samples
    return found, diarization.attribute(segments, found)
