"""Audio decoding with PyAV (FFmpeg's libraries, bundled in the wheel: no ffmpeg binary needed).

Every failure is a TranscriptionError whose message a person can act on.

Uploads are hostile until proven otherwise. FFmpeg can read hundreds of formats, some of which
open other files or URLs (HLS playlists, concat lists) or wait for data that never comes, and
its decoders allocate whatever a header asks for. So a recording is opened only by the
demuxers of the formats people upload, through the local `file` protocol alone; only its first
audio stream is ever decoded; and, with `Limits`, the work runs in a child process with a
memory ceiling that is killed at a deadline (FFmpeg's interrupt callback is not reachable from
PyAV, so a stalled demuxer can only be stopped from outside its process).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
from av.stream import Discard

from .base import SAMPLE_RATE, TranscriptionError

# Containers and codecs that carry audio but are not recordings people mean to upload: an image
# renamed .wav is "decoded" by FFmpeg's image demuxers as a video stream, never as audio.
NOT_AUDIO = "This file is not an audio or video recording we can read."
NO_AUDIO_TRACK = "This file has no audio track."
EMPTY_FILE = "This file is empty."
UNREADABLE = "This recording is damaged or truncated: no audio could be decoded from it."
PLAYLIST = (
    "This is a playlist or a list of other files, not a recording: upload the recording itself."
)
CANNOT_MIX = (
    "This recording has {count} channels, arranged in a way we cannot mix into one: "
    "export it again as mono or stereo and upload that."
)

# The demuxers uploads may use (FFmpeg's names; "mov" covers mp4, m4a, 3gp; "matroska" webm).
# Never hls, concat, or any other format that reads files or URLs named inside the upload.
ALLOWED_FORMATS = (
    *("wav", "mp3", "flac", "aac", "ogg"),
    *("mov", "mp4", "m4a", "3gp"),
    *("matroska", "webm"),
)
# A recording has an audio track, perhaps a video and a subtitle or two; dozens of streams
# only multiply the demuxer's work and memory.
MAX_STREAMS = 4
TOO_MANY_STREAMS = (
    "This file has {count} tracks; we accept recordings with at most "
    f"{MAX_STREAMS} (one audio track is enough)."
)
OPEN_OPTIONS = {
    "format_whitelist": ",".join(ALLOWED_FORMATS),
    "protocol_whitelist": "file",
    # Opening a file decodes a frame of every stream to learn its parameters; a video frame
    # may be 16000x16000 (1 GB). One pixel is as many as any video decoder gets here: video
    # is never decoded, so its frames fail to decode at once and cost nothing.
    "max_pixels": "1",
}
# The first bytes of files that name other files: used only to say why a file was refused.
PLAYLIST_MARKERS = (b"#extm3u", b"ffconcat", b"[playlist]", b"file '", b"<?xml", b"<smil", b"<mpd")

# Samples read back from a decoded recording at a time: a minute (a multiple of the 100 ms
# frames speakers.py measures, so levels computed chunk by chunk equal those of the whole).
CHUNK_FRAMES = SAMPLE_RATE * 60
# A silent frame this long is enough to learn whether FFmpeg can mix a stream's channels.
MIX_TEST_SAMPLES = 32
# Sample types PyAV turns into NumPy arrays: their full scale and their silence.
FULL_SCALE = {
    np.dtype(np.uint8): (128.0, 128.0),
    np.dtype(np.int16): (32768.0, 0.0),
    np.dtype(np.int32): (2.0**31, 0.0),
    np.dtype(np.float32): (1.0, 0.0),
    np.dtype(np.float64): (1.0, 0.0),
}
# What the child process needs beyond `memory_mb` is Python, NumPy and FFmpeg's libraries.
CHILD_THREADS_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# How running out of address space shows in a child's last words, wherever it happened.
OUT_OF_MEMORY = ("MemoryError", "Cannot allocate memory", "failed to map", "bad_alloc")


@dataclass(frozen=True)
class AudioInfo:
    """What the container says about a recording, read without decoding all of it."""

    format_name: str
    codec: str
    channels: int
    sample_rate: int
    # From the header: a hostile file can claim anything, so it is only used to refuse early.
    duration: float | None


@dataclass(frozen=True)
class Limits:
    """Run the work in a child process that is killed after `seconds` and may use at most
    `memory_mb` of address space (a decoder asking for more gets an allocation failure)."""

    seconds: float
    memory_mb: int

    def too_slow(self) -> str:
        return (
            f"Reading this recording took longer than {self.seconds:g} seconds, so it was "
            "stopped. The file may be damaged; try exporting it again as MP3 or WAV."
        )

    def too_large(self) -> str:
        return (
            f"Reading this recording needed more than {self.memory_mb} MB of memory, so it was "
            "stopped. The file may be damaged; try exporting it again as MP3 or WAV."
        )


Source = Path | str | BinaryIO


def _size(source: Source) -> int:
    if isinstance(source, (str, Path)):
        return Path(source).stat().st_size
    position = source.tell()
    size = source.seek(0, 2)
    source.seek(position)
    return size


def _head(source: Source) -> bytes:
    if isinstance(source, (str, Path)):
        with open(source, "rb") as handle:
            return handle.read(64)
    position = source.tell()
    source.seek(0)
    head = source.read(64)
    source.seek(position)
    return head


def _refused(source: Source) -> TranscriptionError:
    head = _head(source).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return TranscriptionError(PLAYLIST if head.startswith(PLAYLIST_MARKERS) else NOT_AUDIO)


def _open(source: Source) -> av.container.InputContainer:
    if _size(source) == 0:
        raise TranscriptionError(EMPTY_FILE)
    # "file:" so that a name with a colon in it is never read as another protocol.
    target = f"file:{Path(source).resolve()}" if isinstance(source, (str, Path)) else source
    try:
        container = av.open(target, mode="r", options=OPEN_OPTIONS, metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise _refused(source) from error
    # The whitelist already chose the demuxer; checking its name again costs nothing.
    if not set(container.format.name.split(",")) & set(ALLOWED_FORMATS):
        container.close()
        raise _refused(source)
    count = len(container.streams)
    if count > MAX_STREAMS:
        container.close()
        raise TranscriptionError(TOO_MANY_STREAMS.format(count=count))
    return container


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        # FFmpeg reads a picture (an image renamed .wav) as a one-frame video: not a recording.
        is_picture = container.format.name.endswith("_pipe") or "image" in container.format.name
        if container.streams.video and not is_picture:
            raise TranscriptionError(NO_AUDIO_TRACK)
        raise TranscriptionError(NOT_AUDIO)
    audio = container.streams.audio[0]
    # The demuxer skips every other stream's packets: no video or subtitle is ever decoded.
    for stream in container.streams:
        if stream is not audio:
            stream.discard = Discard.all
    return audio


def _ffmpeg_can_mix(codec_context: av.audio.codeccontext.AudioCodecContext, layout: str) -> bool:
    """Whether FFmpeg can mix this stream's channels into `layout`. It mixes channels by their
    names (front left, centre...); unnamed ones only in a count it has a standard arrangement
    for (3, 6, 8, 12, 16, 24), so a multitrack export of 9, 32 or 63 channels fails."""
    try:
        silence = av.AudioFrame(format="s16", layout=codec_context.layout, samples=MIX_TEST_SAMPLES)
        silence.sample_rate = codec_context.sample_rate or SAMPLE_RATE
        for plane in silence.planes:
            plane.update(bytes(plane.buffer_size))
        av.AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE).resample(silence)
    except (av.FFmpegError, ValueError):
        return False
    return True


def _averaged(frame: av.AudioFrame) -> av.AudioFrame:
    """The frame's channels averaged into one, as 32-bit floats."""
    samples = frame.to_ndarray()
    if not frame.format.is_planar:
        samples = samples.reshape(-1, frame.layout.nb_channels).T
    scale, silence = FULL_SCALE[samples.dtype]
    mixed = samples.mean(axis=0, dtype=np.float64, keepdims=True)
    mixed = ((mixed - silence) / scale).astype(np.float32)
    averaged = av.AudioFrame.from_ndarray(mixed, format="fltp", layout="mono")
    averaged.sample_rate = frame.sample_rate
    return averaged


class _Downmix:
    """Decoded frames in, 16-bit frames at `sample_rate` out, in `channels` (1 or 2) channels:
    mono mixes every channel into one, otherwise two are kept (more mixed down to stereo).

    Channels FFmpeg cannot mix (see _ffmpeg_can_mix) are averaged here into one channel, even
    when two are asked for: unnamed, no channel is known to be the rep's or the customer's,
    and averaging them all drops nobody's voice.
    """

    def __init__(self, stream: av.audio.stream.AudioStream, *, sample_rate: int, mono: bool):
        self.source_channels = stream.codec_context.channels or 1
        self.channels = 1 if mono else min(2, self.source_channels)
        layout = "mono" if self.channels == 1 else "stereo"
        # One or two channels FFmpeg always mixes: ordinary recordings skip the check.
        self.averages = self.source_channels > 2 and not _ffmpeg_can_mix(
            stream.codec_context, layout
        )
        if self.averages:
            self.channels, layout = 1, "mono"
        self.resampler = av.AudioResampler(format="s16", layout=layout, rate=sample_rate)

    def __call__(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
        """The frame resampled (what is left in the resampler for None)."""
        if frame is not None:
            frame.pts = None  # let the resampler time frames itself: broken pts break it
            if self.averages:
                frame = _averaged(frame)
        try:
            return self.resampler.resample(frame)
        except (av.FFmpegError, ValueError) as error:
            if self.source_channels <= 2:
                raise
            # The samples decoded: the file is intact, and "damaged" would send its owner
            # looking for the wrong problem.
            raise TranscriptionError(CANNOT_MIX.format(count=self.source_channels)) from error


def probe(path: Source, check_frames: int = 8, *, limits: Limits | None = None) -> AudioInfo:
    """Read the header and decode the first few frames: cheap enough to run during an upload.

    A recording of more than two channels has those frames mixed down too, as the worker
    will: one whose channels cannot be mixed is refused now, not after its upload.

    With `limits`, in a child process bounded in time and memory (what uploads use).
    """
    if limits is not None:
        with _on_disk(path) as local:
            result = _run_isolated(
                {"task": "probe", "path": str(local.resolve()), "check_frames": check_frames},
                limits,
            )
        return AudioInfo(**result)
    with _open(path) as container:
        stream = _audio_stream(container)
        downmix = None
        if (stream.codec_context.channels or 0) > 2:
            downmix = _Downmix(stream, sample_rate=SAMPLE_RATE, mono=False)
        decoded = 0
        try:
            for frame in container.decode(stream):
                if frame.samples:
                    decoded += 1
                    if downmix is not None:
                        downmix(frame)
                if decoded >= check_frames:
                    break
        except (av.FFmpegError, ValueError) as error:
            if not decoded:
                raise TranscriptionError(UNREADABLE) from error
        if not decoded:
            raise TranscriptionError(UNREADABLE)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        return AudioInfo(
            format_name=container.format.name,
            codec=stream.codec_context.name,
            channels=stream.codec_context.channels or 0,
            sample_rate=stream.codec_context.sample_rate or 0,
            duration=duration,
        )


class Recording:
    """A decoded recording in a temporary file: 16-bit samples at `sample_rate`, channels
    interleaved. It is read back a minute at a time, so that only what is transcribed is ever
    held in memory as float32 (a 4-hour stereo call is 0.9 GB on disk, and one channel of it
    0.9 GB in memory, instead of 1.8 GB for both). The file has no name: it is freed when the
    recording is closed, or when its process dies, however it dies. Use it as a context
    manager."""

    def __init__(self, file: BinaryIO, *, channels: int, frames: int, sample_rate: int):
        self.file = file
        self.channels = channels
        self.frames = frames
        self.sample_rate = sample_rate

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def chunks(self, frames: int = CHUNK_FRAMES) -> Iterator[np.ndarray]:
        """The recording in order, as float32 arrays of shape (channels, up to `frames`)."""
        self.file.seek(0)
        while True:
            block = np.fromfile(self.file, dtype="<i2", count=frames * self.channels)
            if not block.size:
                return
            chunk = block.reshape(-1, self.channels).T.astype(np.float32)
            chunk *= 1.0 / 32768.0
            yield chunk

    def _fill(self, shape: tuple[int, ...], take: Callable[[np.ndarray], np.ndarray]):
        result = np.empty(shape, dtype=np.float32)
        position = 0
        for chunk in self.chunks():
            part = take(chunk)
            result[..., position : position + part.shape[-1]] = part
            position += part.shape[-1]
        return result

    def channel(self, index: int) -> np.ndarray:
        """One channel, shape (frames,)."""
        return self._fill((self.frames,), lambda chunk: chunk[index])

    def mixdown(self) -> np.ndarray:
        """All channels as one, shape (frames,)."""
        return self._fill((self.frames,), lambda chunk: chunk.mean(axis=0, dtype=np.float32))

    def read(self) -> np.ndarray:
        """Every channel, shape (channels, frames)."""
        return self._fill((self.channels, self.frames), lambda chunk: chunk)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def decode_recording(
    path: Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    mono: bool = False,
    max_seconds: float | None = None,
    limits: Limits | None = None,
    while_waiting: Callable[[], None] | None = None,
    check_every: float = 2.0,
) -> Recording:
    """Decode a recording into a temporary file of 16-bit samples (see Recording).

    Mono mixes every channel into one; otherwise two channels are kept (more are mixed down
    to stereo, or into one where FFmpeg cannot mix them: see _Downmix). `max_seconds` bounds
    the work a file with a lying header can cause. With `limits`, decoding runs in a child
    process bounded in time and memory, and `while_waiting()` is called every `check_every`
    seconds meanwhile: what it raises stops the decoding (the worker raises when the call was
    cancelled).
    """
    output = tempfile.TemporaryFile(prefix="callscribe-", suffix=".s16")
    try:
        if limits is None:
            channels, frames = _decode_into(
                path, output, sample_rate=sample_rate, mono=mono, max_seconds=max_seconds
            )
            output.flush()
        else:
            job = {
                "task": "decode",
                "path": str(Path(path).resolve()),
                # The child writes to the same nameless file, inherited.
                "output_fd": output.fileno(),
                "sample_rate": sample_rate,
                "mono": mono,
                "max_seconds": max_seconds,
            }
            result = _run_isolated(job, limits, while_waiting, check_every, (output.fileno(),))
            channels, frames = result["channels"], result["frames"]
    except BaseException:
        output.close()
        raise
    return Recording(output, channels=channels, frames=frames, sample_rate=sample_rate)


def decode(
    path: Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    mono: bool = True,
    max_seconds: float | None = None,
    limits: Limits | None = None,
) -> np.ndarray:
    """Decode a whole recording to float32 samples in [-1, 1], resampled to `sample_rate`.

    Mono gives shape (n,); with mono=False, shape (channels, n). The samples go through a
    temporary file, so the peak is the result plus a minute of audio.
    `max_seconds` bounds the work a file with a lying header can cause.
    """
    with decode_recording(
        path, sample_rate=sample_rate, mono=mono, max_seconds=max_seconds, limits=limits
    ) as recording:
        return recording.channel(0) if mono else recording.read()


def _too_long(max_seconds: float) -> TranscriptionError:
    return TranscriptionError(
        f"This recording is longer than the {max_seconds / 3600:g} hour limit."
    )


def _decode_into(
    path: Source,
    out: BinaryIO,
    *,
    sample_rate: int,
    mono: bool,
    max_seconds: float | None,
    deadline: float | None = None,
    too_slow: str = "",
) -> tuple[int, int]:
    """Decode the first audio stream into `out` as interleaved 16-bit samples, frame by frame
    (memory stays at one frame whatever the length). Returns (channels, frames written)."""
    with _open(path) as container:
        stream = _audio_stream(container)
        downmix = _Downmix(stream, sample_rate=sample_rate, mono=mono)
        channels = downmix.channels
        limit = int(max_seconds * sample_rate) if max_seconds else None
        total = 0

        def write(frames) -> None:
            nonlocal total
            for resampled in frames:
                # A plane is padded past its samples: write only the samples.
                out.write(memoryview(resampled.planes[0])[: resampled.samples * channels * 2])
                total += resampled.samples

        try:
            for frame in container.decode(stream):
                write(downmix(frame))
                if limit is not None and total > limit:
                    raise _too_long(max_seconds)
                if deadline is not None and time.monotonic() > deadline:
                    raise TranscriptionError(too_slow)
            write(downmix(None))
        except (av.FFmpegError, ValueError) as error:
            if isinstance(error, MemoryError):
                raise
            # A truncated file decodes up to the damage; keep what was readable.
            if not total:
                raise TranscriptionError(UNREADABLE) from error
    if not total:
        raise TranscriptionError(UNREADABLE)
    return channels, total


class _on_disk:
    """A path for the child process: the upload's own, or a temporary copy of an in-memory one."""

    def __init__(self, source: Source):
        self.source = source
        self.copy: Path | None = None

    def __enter__(self) -> Path:
        if isinstance(self.source, (str, Path)):
            return Path(self.source)
        handle, name = tempfile.mkstemp(prefix="callscribe-probe-")
        self.copy = Path(name)
        position = self.source.tell()
        self.source.seek(0)
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(self.source, out)
        self.source.seek(position)
        return self.copy

    def __exit__(self, *exc_info) -> None:
        if self.copy is not None:
            self.copy.unlink(missing_ok=True)


def _run_isolated(
    job: dict,
    limits: Limits,
    while_waiting: Callable[[], None] | None = None,
    check_every: float = 2.0,
    pass_fds: tuple[int, ...] = (),
) -> dict:
    """Run `job` in `python -m transcripts.speech.audio`; its result, or its error raised."""
    job = {**job, "seconds": limits.seconds, "memory_mb": limits.memory_mb}
    with tempfile.TemporaryFile() as reply, tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "transcripts.speech.audio", json.dumps(job)],
            cwd=PACKAGE_ROOT,
            env={**os.environ, **CHILD_THREADS_ENV},
            stdin=subprocess.DEVNULL,
            stdout=reply,
            stderr=log,
            pass_fds=pass_fds,
        )
        # The child stops itself at the deadline between frames; this is for a child stuck
        # inside FFmpeg, which only a kill can stop.
        deadline = time.monotonic() + limits.seconds + 5
        next_check = time.monotonic() + check_every
        try:
            while True:
                try:
                    process.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    pass
                now = time.monotonic()
                if now > deadline:
                    raise TranscriptionError(limits.too_slow())
                if while_waiting is not None and now >= next_check:
                    while_waiting()
                    next_check = time.monotonic() + check_every
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        reply.seek(0)
        try:
            # The answer is the last line: a library may have printed something before it.
            answer = json.loads((reply.read().strip().splitlines() or [b"null"])[-1])
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            log.seek(0)
            errors = log.read()[-2000:].decode(errors="replace")
            # Killed by a signal (the kernel, an abort inside FFmpeg): most often for lack of
            # memory, which is also what an allocation failure outside FFmpeg raises.
            if process.returncode < 0 or any(sign in errors for sign in OUT_OF_MEMORY):
                raise TranscriptionError(limits.too_large())
            raise RuntimeError(f"The decoding process failed: {errors}")
    if "error" in answer:
        raise TranscriptionError(answer["error"])
    return answer["result"]


def _child(job: dict) -> dict:
    """What the child process does: set its own limits, then probe or decode."""
    limits = Limits(seconds=job["seconds"], memory_mb=job["memory_mb"])
    if sys.platform == "linux":
        # Die with the worker (killed by its task timeout, say) instead of decoding on alone.
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # A backstop for a parent that died: CPU seconds are never more than wall seconds.
    cpu = int(limits.seconds) + 10
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    try:
        if job["task"] == "probe":
            info = probe(Path(job["path"]), job["check_frames"])
            return {"result": asdict(info)}
        with os.fdopen(job["output_fd"], "wb") as out:
            channels, frames = _decode_into(
                Path(job["path"]),
                out,
                sample_rate=job["sample_rate"],
                mono=job["mono"],
                max_seconds=job["max_seconds"],
                deadline=time.monotonic() + limits.seconds,
                too_slow=limits.too_slow(),
            )
        return {"result": {"channels": channels, "frames": frames}}
    except TranscriptionError as error:
        return {"error": str(error)}
    except MemoryError:
        return {"error": limits.too_large()}


if __name__ == "__main__":
    sys.stdout.write("\n" + json.dumps(_child(json.loads(sys.argv[1]))) + "\n")
