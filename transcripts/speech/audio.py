"""Audio decoding with PyAV (FFmpeg's libraries, bundled in the wheel: no ffmpeg binary needed).

Every failure is a TranscriptionError whose message a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from .base import SAMPLE_RATE, TranscriptionError

# Containers and codecs that carry audio but are not recordings people mean to upload: an image
# renamed .wav is "decoded" by FFmpeg's image demuxers as a video stream, never as audio.
NOT_AUDIO = "This file is not an audio or video recording we can read."
NO_AUDIO_TRACK = "This file has no audio track."
EMPTY_FILE = "This file is empty."
UNREADABLE = "This recording is damaged or truncated: no audio could be decoded from it."


@dataclass(frozen=True)
class AudioInfo:
    """What the container says about a recording, read without decoding all of it."""

    format_name: str
    codec: str
    channels: int
    sample_rate: int
    # From the header: a hostile file can claim anything, so it is only used to refuse early.
    duration: float | None


Source = Path | str | BinaryIO


def _size(source: Source) -> int:
    if isinstance(source, (str, Path)):
        return Path(source).stat().st_size
    position = source.tell()
    size = source.seek(0, 2)
    source.seek(position)
    return size


def _open(source: Source) -> av.container.InputContainer:
    if _size(source) == 0:
        raise TranscriptionError(EMPTY_FILE)
    try:
        return av.open(
            str(source) if isinstance(source, Path) else source, mode="r", metadata_errors="ignore"
        )
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise TranscriptionError(NOT_AUDIO) from error


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        # FFmpeg reads a picture (an image renamed .wav) as a one-frame video: not a recording.
        is_picture = container.format.name.endswith("_pipe") or "image" in container.format.name
        if container.streams.video and not is_picture:
            raise TranscriptionError(NO_AUDIO_TRACK)
        raise TranscriptionError(NOT_AUDIO)
    return container.streams.audio[0]


def probe(path: Source, check_frames: int = 8) -> AudioInfo:
    """Read the header and decode the first few frames: cheap enough to run during an upload."""
    with _open(path) as container:
        stream = _audio_stream(container)
        decoded = 0
        try:
            for frame in container.decode(stream):
                if frame.samples:
                    decoded += 1
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


def decode(
    path: Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    mono: bool = True,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Decode a whole recording to float32 samples in [-1, 1], resampled to `sample_rate`.

    Mono gives shape (n,); with mono=False, shape (channels, n). Samples are gathered as int16
    and converted at the end, so the peak is the result plus half its size.
    `max_seconds` bounds the work a file with a lying header can cause.
    """
    with _open(path) as container:
        stream = _audio_stream(container)
        stream.thread_type = "AUTO"
        layout = "mono" if mono else None
        channels = 1 if mono else (stream.codec_context.channels or 1)
        if not mono and channels > 2:
            layout, channels = "stereo", 2
        resampler = av.AudioResampler(
            format="s16p",
            layout=layout or ("stereo" if channels == 2 else "mono"),
            rate=sample_rate,
        )
        limit = int(max_seconds * sample_rate) if max_seconds else None
        chunks: list[np.ndarray] = []
        total = 0
        try:
            for frame in container.decode(stream):
                frame.pts = None  # let the resampler time frames itself: broken pts break it
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    total += out.samples
                if limit is not None and total > limit:
                    raise TranscriptionError(
                        f"This recording is longer than the {max_seconds / 3600:g} hour limit."
                    )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
                total += out.samples
        except (av.FFmpegError, ValueError) as error:
            # A truncated file decodes up to the damage; keep what was readable.
            if not total:
                raise TranscriptionError(UNREADABLE) from error
    if not total:
        raise TranscriptionError(UNREADABLE)
    # Fill one float32 array chunk by chunk, freeing each int16 chunk as it is copied: the peak
    # is the result plus the int16 samples, not several full copies of a long call.
    result = np.empty((chunks[0].shape[0], total), dtype=np.float32)
    position = 0
    chunks.reverse()
    while chunks:
        chunk = chunks.pop()
        result[:, position : position + chunk.shape[1]] = chunk
        position += chunk.shape[1]
    result *= 1.0 / 32768.0
    return result[0] if mono else result
