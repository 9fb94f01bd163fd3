"""The OpenAI audio transcription API as an engine, for servers without the CPU or GPU for Whisper.

With this engine the audio leaves the server, so it is only used when WHISPER_ENGINE=api names
it. The HTTP requests are made by openai_api_client.py.

The endpoint takes at most 25 MB per request, so the audio is encoded here (Opus in Ogg by
default, about 4 kB per second) and long audio is sent in pieces cut in quiet spots; each piece's
segments are moved by the piece's offset.
"""

from __future__ import annotations

import bisect
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np

from .base import (
    SAMPLE_RATE,
    DecodeOptions,
    Engine,
    EngineSpec,
    ProgressCallback,
    Segment,
    TranscriptionError,
    Word,
)
from .openai_api_client import TranscriptionAPIClient

# The endpoint's limit. OpenAI says "25 MB" without saying which megabyte: take the smaller.
MAX_UPLOAD_BYTES = 25_000_000
# Pieces are planned to fill only this share of the limit: variable bit rate codecs spend more
# on some stretches than their nominal rate, and a piece over the limit must be encoded again.
UPLOAD_MARGIN = 0.9
# Room for the container's headers, which do not grow with the piece.
HEADER_BYTES = 4096
# Shorter pieces than the limit allows: progress is reported after each piece, and a failed
# request sends at most this much again. Also under the 1500 s limit of OpenAI's newer models.
MAX_PIECE_SECONDS = 1200.0
# Where to cut between pieces: the quietest 100 ms frame within this many seconds before the
# planned boundary, so that a cut rarely falls inside a word.
CUT_SEARCH_SECONDS = 5.0
CUT_FRAME_SECONDS = 0.1
# The API refuses audio shorter than 0.1 s, and nothing can be said in it anyway.
MIN_AUDIO_SECONDS = 0.1
# What Whisper reads of a prompt is its last 224 tokens, roughly this many characters.
MAX_PROMPT_CHARS = 800


@dataclass(frozen=True)
class AudioFormat:
    """How pieces are encoded before they are sent; all are formats the endpoint accepts."""

    name: str
    container: str
    codec: str
    # The sample format the encoder takes: PyAV does not convert for us.
    sample_format: str
    extension: str
    mime_type: str
    bit_rate: int | None
    # The rate to plan pieces with: the nominal bit rate plus container framing, or for a
    # lossless codec the raw 16-bit rate it stays under.
    planning_bytes_per_second: float


AUDIO_FORMATS: dict[str, AudioFormat] = {
    # Opus at 32 kbit/s is transparent for speech at 16 kHz: about 4 kB/s, so 25 MB hold 1.7 hours.
    "opus": AudioFormat("opus", "ogg", "libopus", "flt", "ogg", "audio/ogg", 32_000, 4_200.0),
    # MP3 for an API compatible server that cannot read Opus: 6 kB/s, 1.1 hours per 25 MB.
    "mp3": AudioFormat("mp3", "mp3", "libmp3lame", "fltp", "mp3", "audio/mpeg", 48_000, 6_300.0),
    # Lossless, but 15 to 22 kB/s: about 20 minutes per 25 MB.
    "flac": AudioFormat("flac", "flac", "flac", "s16", "flac", "audio/flac", None, 33_000.0),
}


def encode_audio(audio: np.ndarray, audio_format: AudioFormat = AUDIO_FORMATS["opus"]) -> bytes:
    """Encode 16 kHz mono float32 samples into a complete file in memory."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=audio_format.container) as container:
        stream = container.add_stream(audio_format.codec, rate=SAMPLE_RATE, layout="mono")
        if audio_format.bit_rate:
            stream.bit_rate = audio_format.bit_rate
        # Ten seconds a frame: PyAV splits frames to the encoder's frame size itself, and this
        # bounds the extra memory a 16-bit copy of a long piece would take.
        step = SAMPLE_RATE * 10
        for first in range(0, len(audio), step):
            chunk = np.clip(audio[first : first + step], -1.0, 1.0)
            if audio_format.sample_format == "s16":
                chunk = (chunk * 32767.0).astype(np.int16)
            else:
                chunk = chunk.astype(np.float32, copy=False)
            frame = av.AudioFrame.from_ndarray(
                chunk.reshape(1, -1), format=audio_format.sample_format, layout="mono"
            )
            frame.sample_rate = SAMPLE_RATE
            frame.pts = first
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def quiet_cut(audio: np.ndarray, start: int, end: int) -> int:
    """The sample index at the middle of the quietest 100 ms frame in audio[start:end].

    Of equally quiet frames the last is taken, which keeps pieces as long as planned.
    """
    frame = int(CUT_FRAME_SECONDS * SAMPLE_RATE)
    count = (end - start) // frame
    if count < 1:
        return end
    frames = audio[end - count * frame : end].reshape(count, frame).astype(np.float64)
    energy = np.einsum("ij,ij->i", frames, frames)
    quietest = count - 1 - int(np.argmin(energy[::-1]))
    return end - count * frame + quietest * frame + frame // 2


@dataclass(frozen=True)
class Piece:
    """A stretch of the audio, as samples [start, end), encoded for one request."""

    start: int
    end: int
    data: bytes

    @property
    def offset(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def duration(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


class OpenAIAPIEngine(Engine):
    name = "api"
    # It cuts the audio into pieces itself; the pipeline's windows would only add seams.
    window_seconds = 4 * 3600.0

    def __init__(
        self,
        spec: EngineSpec,
        *,
        audio_format: str = "opus",
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        max_piece_seconds: float = MAX_PIECE_SECONDS,
        retries: int = 3,
        backoff_seconds: float = 2.0,
        max_backoff_seconds: float = 60.0,
        timeout_seconds: float = 600.0,
    ):
        if audio_format not in AUDIO_FORMATS:
            raise TranscriptionError(
                f"Unknown audio format {audio_format!r}: use {', '.join(AUDIO_FORMATS)}."
            )
        self.model_name = spec.api_model or "whisper-1"
        self.client = TranscriptionAPIClient(
            api_key=spec.api_key,
            api_base=spec.api_base,
            model=self.model_name,
            retries=retries,
            backoff_seconds=backoff_seconds,
            max_backoff_seconds=max_backoff_seconds,
            timeout_seconds=timeout_seconds,
        )
        self.device = "remote"
        self.compute_type = "api"
        self.audio_format = AUDIO_FORMATS[audio_format]
        self.max_upload_bytes = max_upload_bytes
        self.max_piece_seconds = max_piece_seconds

    def __repr__(self) -> str:
        # Never the key: reprs end up in logs and tracebacks.
        return f"OpenAIAPIEngine(model={self.model_name!r}, api_base={self.client.api_base!r})"

    def transcribe(
        self,
        audio: np.ndarray,
        options: DecodeOptions,
        on_progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        previous_text = ""
        if len(audio) >= MIN_AUDIO_SECONDS * SAMPLE_RATE:
            for piece in self.pieces(audio):
                prompt = options.prompt or ""
                if options.condition_on_previous_text and previous_text:
                    # What the previous piece ended with carries names and spelling across the cut.
                    prompt = f"{prompt} {previous_text}".strip()[-MAX_PROMPT_CHARS:]
                response = self.client.transcribe(
                    self._fields(options, prompt),
                    f"audio-{piece.start // SAMPLE_RATE:06d}.{self.audio_format.extension}",
                    self.audio_format.mime_type,
                    piece.data,
                )
                segments = parse_response(response, piece.duration)
                if segments:
                    previous_text = segments[-1].text
                if on_progress:
                    on_progress(piece.end / SAMPLE_RATE)
                for segment in segments:
                    yield segment.shifted(piece.offset)
        if on_progress:
            on_progress(len(audio) / SAMPLE_RATE)

    def pieces(self, audio: np.ndarray) -> Iterator[Piece]:
        """The audio as encoded pieces in order, each under max_upload_bytes.

        Pieces are planned with the format's nominal rate: what is left is split into as few
        equal pieces as fit, and each is cut at the quietest 100 ms within a few seconds around
        its planned end. The pieces are planned short by that window, so a cut late in it still
        fits the limit.
        """
        total = len(audio)
        budget = self.max_upload_bytes * UPLOAD_MARGIN - HEADER_BYTES
        bytes_per_second = self.audio_format.planning_bytes_per_second
        start = 0
        while start < total:
            longest = int(min(self.max_piece_seconds, budget / bytes_per_second) * SAMPLE_RATE)
            if longest < SAMPLE_RATE:
                raise TranscriptionError(
                    f"An upload limit of {self.max_upload_bytes} bytes holds less than a second of "
                    "audio: raise it."
                )
            remaining = total - start
            if remaining <= longest:
                end = total
            else:
                search = int(min(CUT_SEARCH_SECONDS * SAMPLE_RATE, longest // 4))
                count = math.ceil(remaining / (longest - search))
                planned = start + remaining // count
                end = quiet_cut(audio, planned - search // 2, planned + search // 2)
            data = encode_audio(audio[start:end], self.audio_format)
            if len(data) > self.max_upload_bytes:
                # The codec spent more than planned on this stretch: plan again with what it
                # really took, and a little more.
                seconds = (end - start) / SAMPLE_RATE
                bytes_per_second = max(bytes_per_second, len(data) / seconds) * 1.1
                continue
            yield Piece(start, end, data)
            start = end

    def _fields(self, options: DecodeOptions, prompt: str) -> list[tuple[str, str]]:
        fields = [
            ("model", self.model_name),
            ("response_format", "verbose_json"),
            # 0 lets the API raise the temperature itself where decoding fails, the same
            # fallback the local engines do.
            ("temperature", "0"),
            ("timestamp_granularities[]", "segment"),
        ]
        if options.word_timestamps:
            fields.append(("timestamp_granularities[]", "word"))
        if options.language:
            fields.append(("language", options.language))
        if prompt:
            fields.append(("prompt", prompt))
        return fields


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def parse_response(response: dict, duration: float) -> list[Segment]:
    """Segments from a verbose_json answer for `duration` seconds of audio, times within it.

    Times are clamped to the piece: the API's last segment can end past the audio, which would
    overlap the next piece. Words come as one list beside the segments and are given to the
    segment their middle falls in.
    """
    if not isinstance(response, dict):
        raise TranscriptionError("The transcription API answered with something unexpected.")
    raw_segments = response.get("segments")
    if raw_segments is None:
        # A server that ignores verbose_json: one segment with the whole text, untimed.
        text = str(response.get("text") or "").strip()
        return [Segment(0.0, duration, text)] if text else []

    def clamp(value: object) -> float:
        return min(max(_float(value) or 0.0, 0.0), duration)

    words = [
        Word(clamp(w.get("start")), clamp(w.get("end")), str(w.get("word", "")).strip())
        for w in response.get("words") or ()
        if isinstance(w, dict) and str(w.get("word", "")).strip()
    ]
    timed = []
    for raw in raw_segments:
        if not isinstance(raw, dict):
            continue
        start = clamp(raw.get("start"))
        timed.append((start, max(start, clamp(raw.get("end"))), raw))
    timed.sort(key=lambda item: item[0])
    starts = [start for start, _end, _raw in timed]
    owned: list[list[Word]] = [[] for _ in timed]
    for word in words if timed else ():
        # The last segment starting at or before the word's middle; the first for earlier words.
        index = bisect.bisect_right(starts, (word.start + word.end) / 2) - 1
        owned[max(index, 0)].append(word)
    segments = []
    for (start, end, raw), segment_words in zip(timed, owned, strict=True):
        text = str(raw.get("text") or "").strip()
        if not text:
            continue
        segments.append(
            Segment(
                start=start,
                end=end,
                text=text,
                avg_logprob=_float(raw.get("avg_logprob")),
                no_speech_prob=_float(raw.get("no_speech_prob")),
                compression_ratio=_float(raw.get("compression_ratio")),
                words=tuple(segment_words),
            )
        )
    return segments
