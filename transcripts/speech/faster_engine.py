"""faster-whisper (CTranslate2): the fastest engine on a CPU, the default where it has weights."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np

from .base import (
    DecodeOptions,
    Engine,
    EngineSpec,
    ProgressCallback,
    Segment,
    TranscriptionError,
    Word,
    resolve_device,
)
from .weights import packaged_ct2_dir


class FasterWhisperEngine(Engine):
    name = "faster"
    window_seconds = 600.0
    # Beam 5 with batched VAD: 60x real time and the best word error rate measured on the
    # 20-minute call; greedy is 10% faster but misses more words (docs/benchmarks.md).
    default_beam_size = 5

    def __init__(self, spec: EngineSpec):
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        model_path = packaged_ct2_dir(spec.model, spec.model_dir)
        # Without packaged weights, faster-whisper resolves the name itself (a download where
        # the machine reaches the internet).
        source = str(model_path) if model_path else spec.model
        self.model_name = spec.model
        self.device = resolve_device(spec.device)
        # int8 on a CPU is about twice as fast as float32 for the same accuracy (see
        # docs/benchmarks.md); float16 is the GPU's native width.
        self.compute_type = "float16" if self.device == "cuda" else "int8"
        try:
            self.model = WhisperModel(
                source,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=spec.resolved_threads(),
                local_files_only=model_path is not None,
            )
        except (OSError, RuntimeError, ValueError) as error:
            raise TranscriptionError(
                f"The {spec.model} model for faster-whisper could not be loaded: {error}"
            ) from error
        self.pipeline = BatchedInferencePipeline(self.model)
        self.english_only = spec.model.endswith(".en")

    def transcribe(
        self,
        audio: np.ndarray,
        options: DecodeOptions,
        on_progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        language = "en" if self.english_only else options.language
        beam_size = options.beam_size or self.default_beam_size
        common = dict(
            language=language,
            beam_size=beam_size,
            best_of=beam_size,
            temperature=list(options.temperatures),
            initial_prompt=options.initial_prompt,
            word_timestamps=options.word_timestamps,
        )
        if options.vad:
            # The batched pipeline cuts the audio at silences found by voice-activity detection
            # and decodes several chunks at once: silence (hold music, pauses) costs nothing.
            # Each voice chunk (up to 30 s) comes back as one segment; it is split into sentences
            # by its word timings below. Asking for timestamp tokens instead loses the end of a
            # chunk whose speech runs to its edge: the batched pipeline never decodes it again.
            segments, _info = self.pipeline.transcribe(
                audio,
                batch_size=options.batch_size or (16 if self.device == "cuda" else 4),
                vad_filter=True,
                without_timestamps=True,
                **{**common, "word_timestamps": True},
            )
        else:
            segments, _info = self.model.transcribe(
                audio,
                vad_filter=False,
                condition_on_previous_text=options.condition_on_previous_text,
                **common,
            )
        for segment in segments:
            if on_progress:
                on_progress(segment.end)
            if not segment.text.strip():
                continue
            whole = Segment(
                start=float(segment.start),
                end=float(segment.end),
                text=segment.text.strip(),
                avg_logprob=float(segment.avg_logprob),
                no_speech_prob=float(segment.no_speech_prob),
                compression_ratio=float(segment.compression_ratio),
                # Words keep their leading space, so "$50" and ",000" join back as "$50,000".
                words=tuple(
                    Word(float(w.start), float(w.end), w.word, float(w.probability))
                    for w in (segment.words or ())
                ),
            )
            pieces = split_sentences(whole) if options.vad else (whole,)
            for piece in pieces:
                yield replace(
                    piece, words=tuple(replace(w, word=w.word.strip()) for w in piece.words)
                )
        if on_progress:
            on_progress(len(audio) / 16_000)


# A new segment starts after a sentence's last word, or after a pause this long.
PAUSE_SECONDS = 1.0
SENTENCE_END = (".", "?", "!")


def split_sentences(segment: Segment) -> list[Segment]:
    """Split a long segment into sentences by its word timings, so each line can be read,
    searched and played on its own."""
    if not segment.words:
        return [segment]
    pieces: list[list[Word]] = [[]]
    for word in segment.words:
        current = pieces[-1]
        if current and word.start - current[-1].end >= PAUSE_SECONDS:
            pieces.append([word])
            continue
        current.append(word)
        if word.word.rstrip().endswith(SENTENCE_END):
            pieces.append([])
    return [
        replace(
            segment,
            start=words[0].start,
            end=words[-1].end,
            text="".join(w.word for w in words).strip(),
            words=tuple(words),
        )
        for words in pieces
        if words
    ]
