"""faster-whisper (CTranslate2): the fastest engine on a CPU, the default where it has weights."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from .base import (
    RANDOM_SEED,
    SAMPLE_RATE,
    DecodeOptions,
    Engine,
    EngineSpec,
    ProgressCallback,
    Segment,
    Transcription,
    TranscriptionError,
    Word,
    resolve_device,
)
from .coverage import (
    MIN_HOLE_SECONDS,
    WORD_REACH_SECONDS,
    Piece,
    Span,
    Timeline,
    covered_seconds,
    find_holes,
    merge,
    pack,
    packed_audio,
    padded,
    plan_chunks,
    total_seconds,
    within,
)
from .weights import has_packaged_ct2, packaged_ct2_dir

# The VAD path decodes stretches of at most this many seconds (Whisper's window is 30 s).
CHUNK_SECONDS = 30.0
# Chunks decoded together by the batched pipeline before holes are looked for and progress is
# reported: per batch, so a hole is repaired while its audio is still at hand.
GROUP_BATCHES = 4
# Speech regions for the batched pass and for finding holes: split at pauses of 160 ms (what
# faster-whisper's batched pipeline uses), each padded 0.4 s a side (unpadded, they are where
# the voice is, for the short holes of VOICED_HOLE_SECONDS).
VAD_MIN_SILENCE_MS = 160
VAD_PAD_SECONDS = 0.4
# Silero's speech threshold, from its own default down, where at its default it hears less than
# VAD_DEAF_SHARE of the speech webrtcvad hears: then lowered until its regions hold VAD_COVERAGE
# of it. Through a phone line Silero's speech probabilities run low: at 0.5 it heard 0-42% of
# webrtcvad's speech on 10 of 28 synthetic phone calls (none at all on one), and the batched
# pass decodes only Silero's regions, so the rest was lost without a hole to show for it (WER
# 67-100% where the same calls decoded whole scored 41-69%; 50-74% with the lower threshold).
# Where it hears more than half, its default stays: on phone_20min (81% at 0.5) the lower
# threshold's regions ran through the pauses, and more words were lost (21.1% against 17.3%).
# webrtcvad alone would do worse the other way: it hears hold music and line noise as speech,
# Silero does not. A threshold is lowered only while that hears VAD_MIN_GAIN more of webrtcvad's
# speech: on hold music lowering it gains nothing and lets music in.
VAD_THRESHOLDS = (0.5, 0.35, 0.25, 0.15)
VAD_DEAF_SHARE = 0.5
VAD_COVERAGE = 0.9
VAD_MIN_GAIN = 0.05
# A hole is decoded again with beam search and these temperatures: higher ones mostly invent
# (loops, word fragments) where tiny.en has already failed, and the larger model comes next.
# The larger model decodes at the first only: on the hard corpus its retries at 0.2 and 0.4
# doubled its time (dense_4min: 4.8 -> 10.8 CPU s) and never added a word.
HOLE_BEAM_SIZE = 5
HOLE_TEMPERATURES = (0.0, 0.2, 0.4)
FALLBACK_TEMPERATURES = (0.0,)
# Tokens a decoding may make per second of audio: speech at 210 words a minute needs about 5.
# A decoding caught in a loop ("no, no, no, ...") stops there instead of at Whisper's 448.
TOKENS_PER_SECOND = 6
# A hole is decoded again with this much audio either side of it, kept only for context. More
# than the words' reach (coverage.WORD_REACH_SECONDS): a clip that begins or ends inside a word
# sends tiny.en and base alike into loops ("no, no, no, ..."). At 0.5 s both looped on a hole
# of dense_4min that 1 s decodes; 2 s lost more words than it found on phone_20min.
HOLE_CONTEXT_SECONDS = 1.0
# The last words before a hole are given as a prompt when it is decoded again, as a sequential
# decoder conditions on what came before.
PROMPT_WORDS = 40
# Holes from this long are decoded again, shorter than the ones reported unheard (from
# coverage.MIN_HOLE_SECONDS): a batched chunk that stops early often leaves a turn's last words,
# 1-2 s, behind (on dense_4min, half the deleted words: 3.9% -> 2.0% deleted, WER 23.1 -> 21.4%).
# What stays empty that briefly is more often a laugh or a breath the VAD took for speech.
REDECODE_HOLE_SECONDS = 1.0
# Voiced speech (the VAD's regions unpadded) this long with no word near it is decoded again
# too. A short turn the batched pass left out ("Morning Emily." 0.2 s after the turn before)
# lies under the padding of the turns around it, where the padded regions show no hole. On the
# three wide-band clips of the hard corpus it found 4 such holes, 3 of them on deleted words.
VOICED_HOLE_SECONDS = 0.4
# The larger model a hole that tiny.en could not hear is tried with, where weights are installed.
FALLBACK_MODEL = "base"
# Each model decodes again at most this share of a group's speech: real holes are a few seconds
# in minutes (4 holes, 18 s in 20 minutes on call_20min); more means audio no model reads.
HOLE_BUDGET_SHARE = 0.25
# Where holes repair leaves more than this share of a batched group's speech without a word (and
# more than one unheard span's worth), the group is read through from start to end as well
# (FasterWhisperEngine._batched_or_read). On the benchmark's wide-band calls repair left either
# nothing or 2.6% and more (tune_two_1: 4.2 s of 162 s).
REREAD_SHARE = 0.01
# Whisper's own threshold: a decoding more likely silence than speech (its no_speech_prob).
NO_SPEECH_THRESHOLD = 0.6
# Whisper's tokens around a prompt, besides the prompt and the hotwords: start of previous
# text, start of transcript, language, task, no timestamps, and one for how the prompt's first
# word splits with or without a space before it (see fitted_prompt).
PROMPT_OVERHEAD = 6


# Beam 5 with batched VAD: the best word error rate measured on the 20-minute call; greedy is
# 10% faster but misses more words (docs/benchmarks.md). Batch 4 on a CPU is as fast as 8 with
# less memory.
DEFAULT_BEAM_SIZE = 5
DEFAULT_BATCH_SIZE = {"cpu": 4, "cuda": 16}


def effective_options(options: DecodeOptions, device: str) -> DecodeOptions:
    """The options with the engine's own defaults in place of 0, as they are used on `device`
    ("auto" keeps a batch size of 0: it depends on whether the worker finds a GPU)."""
    return replace(
        options,
        beam_size=options.beam_size or DEFAULT_BEAM_SIZE,
        batch_size=options.batch_size or DEFAULT_BATCH_SIZE.get(device, 0),
        # The VAD path always asks for word times: sentences and holes are found by them.
        word_timestamps=options.word_timestamps or options.vad,
    )


class FasterWhisperEngine(Engine):
    name = "faster"
    window_seconds = 600.0

    def __init__(
        self,
        spec: EngineSpec,
        *,
        fallback_model: str | None = FALLBACK_MODEL,
        repair_holes: bool = True,
        read_through: bool = True,
    ):
        from faster_whisper import BatchedInferencePipeline

        self.spec = spec
        self.model_name = spec.model
        self.device = resolve_device(spec.device)
        # int8 on a CPU is about twice as fast as float32 for the same accuracy (see
        # docs/benchmarks.md); float16 is the GPU's native width.
        self.compute_type = "float16" if self.device == "cuda" else "int8"
        self.model = self._load(spec.model)
        self.pipeline = BatchedInferencePipeline(self.model)
        self.english_only = spec.model.endswith(".en")
        # Loaded the first time a hole survives the first retry: most calls never need it.
        self.fallback_model_name = (
            fallback_model
            if fallback_model and fallback_model != spec.model and has_packaged_ct2(fallback_model)
            else None
        )
        self._fallback = None
        # Off only to measure or show what the batched pass alone loses.
        self.repair_holes = repair_holes
        # Off only to measure the batched pass alone where audio would be read through instead
        # (phone calls, and groups of chunks the batched pass lost too much of).
        self.read_through = read_through

    def _load(self, model: str):
        from faster_whisper import WhisperModel

        model_path = packaged_ct2_dir(model, self.spec.model_dir)
        # Without packaged weights, faster-whisper resolves the name itself (a download where
        # the machine reaches the internet).
        source = str(model_path) if model_path else model
        try:
            whisper = WhisperModel(
                source,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=self.spec.resolved_threads(),
                local_files_only=model_path is not None,
            )
        except (OSError, RuntimeError, ValueError) as error:
            raise TranscriptionError(
                f"The {model} model for faster-whisper could not be loaded: {error}"
            ) from error
        whisper.model = SeededSampling(whisper.model, partial(self._load_copy, source))
        return whisper

    def _load_copy(self, source: str):
        """Another CTranslate2 copy of the model `source` names, as WhisperModel loads it."""
        import ctranslate2
        from faster_whisper.utils import download_model

        path = source if Path(source).is_dir() else download_model(source, local_files_only=True)
        return ctranslate2.models.Whisper(
            path,
            device=self.device,
            compute_type=self.compute_type,
            intra_threads=self.spec.resolved_threads(),
        )

    def fallback(self):
        if self._fallback is None and self.fallback_model_name:
            # The process's one copy of that model (engines.load_engine), which the second pass
            # and Accurate calls use too: not a second copy in memory.
            from .engines import load_engine

            spec = replace(self.spec, engine="faster", model=self.fallback_model_name)
            self._fallback = load_engine(spec).model
        return self._fallback

    def effective_options(self, options: DecodeOptions) -> DecodeOptions:
        return effective_options(options, self.device)

    def _arguments(self, options: DecodeOptions) -> dict:
        return dict(
            language="en" if self.english_only else options.language,
            beam_size=options.beam_size,
            best_of=options.beam_size,
            temperature=list(options.temperatures),
            initial_prompt=options.initial_prompt or None,
            hotwords=options.hotwords or None,
            word_timestamps=options.word_timestamps,
        )

    def transcribe(
        self,
        audio: np.ndarray,
        options: DecodeOptions,
        on_progress: ProgressCallback | None = None,
    ) -> Iterator[Segment]:
        # The temperature fallback's draws start afresh: the same audio is decoded the same way
        # every time, whatever this process decoded before (a window decoded again after a
        # crash comes out as before, and benchmark runs can be compared).
        self.model.model.start_window()
        options = self.effective_options(options)
        if not options.vad:
            segments, _info = self.model.transcribe(
                audio,
                vad_filter=False,
                condition_on_previous_text=options.condition_on_previous_text,
                **self._arguments(options),
            )
            return self._converted(segments, audio, on_progress)
        from .diarization import is_narrowband

        webrtc = _webrtc_spans(audio)
        voiced = self.voiced_regions(audio, webrtc)
        regions = _vad_padded(voiced, audio)
        result = Transcription(())
        # Talk as people count it: short pauses inside a turn included, the VAD's padding at
        # either end of a stretch of speech left out.
        pad = VAD_PAD_SECONDS
        result.speech = [
            (span.start + pad, span.end - pad) for span in merge(regions) if span.seconds > 2 * pad
        ]
        if self.read_through and is_narrowband(audio, [(s.start, s.end) for s in webrtc]):
            result._segments = self._read_through(
                audio, regions, webrtc, options, on_progress, result
            )
        else:
            result._segments = self._heard(audio, regions, voiced, options, on_progress, result)
        return result

    def _converted(self, segments, audio, on_progress) -> Iterator[Segment]:
        for segment in segments:
            if on_progress:
                on_progress(segment.end)
            converted = _segment(segment)
            if converted is not None:
                yield replace(
                    converted, words=tuple(replace(w, word=w.word.strip()) for w in converted.words)
                )
        if on_progress:
            on_progress(len(audio) / SAMPLE_RATE)

    def speech_regions(self, audio: np.ndarray, webrtc: list[Span] | None = None) -> list[Span]:
        """Where Silero VAD (bundled with faster-whisper) hears speech, in seconds, padded
        VAD_PAD_SECONDS a side: the regions the batched pass decodes."""
        return _vad_padded(self.voiced_regions(audio, webrtc), audio)

    def voiced_regions(self, audio: np.ndarray, webrtc: list[Span] | None = None) -> list[Span]:
        """Where Silero VAD hears speech, unpadded: its threshold lowered (VAD_THRESHOLDS) where
        its padded regions are deaf to most of what webrtcvad hears (`webrtc`, where the caller
        has it already)."""
        if webrtc is None:
            webrtc = _webrtc_spans(audio)
        total = total_seconds(webrtc)

        def heard(voiced: list[Span]) -> float:
            return covered_seconds(webrtc, _vad_padded(voiced, audio))

        best = self._silero_regions(audio, VAD_THRESHOLDS[0])
        best_heard = heard(best)
        if best_heard >= VAD_DEAF_SHARE * total:
            return best
        for threshold in VAD_THRESHOLDS[1:]:
            regions = self._silero_regions(audio, threshold)
            hears = heard(regions)
            if hears - best_heard < VAD_MIN_GAIN * total:
                break
            best, best_heard = regions, hears
            if hears >= VAD_COVERAGE * total:
                break
        return best

    @staticmethod
    def _silero_regions(audio: np.ndarray, threshold: float) -> list[Span]:
        """Silero's regions, unpadded (coverage.padded pads them as Silero would)."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        # Under the chunk length by the padding, so a padded region always fits in a chunk.
        vad = VadOptions(
            threshold=threshold,
            max_speech_duration_s=CHUNK_SECONDS - 1.0 - 2 * VAD_PAD_SECONDS,
            min_silence_duration_ms=VAD_MIN_SILENCE_MS,
            speech_pad_ms=0,
        )
        return [
            Span(region["start"] / SAMPLE_RATE, region["end"] / SAMPLE_RATE)
            for region in get_speech_timestamps(audio, vad)
        ]

    def _read_through(
        self,
        audio: np.ndarray,
        regions: list[Span],
        webrtc: list[Span],
        options: DecodeOptions,
        on_progress: ProgressCallback | None,
        result: Transcription,
    ) -> Iterator[Segment]:
        """A phone call read from start to end, as a sequential decoder reads it, with its holes
        filled as the batched pass's are.

        Through a phone line the batched pass loses what a sequential decoder keeps: each of its
        chunks is read alone, without the words before it, and tiny.en stops early on chunks of
        narrow-band audio far more often. On 30 synthetic phone calls, holes filled either way,
        the median call lost 1.6% of its words read through against 9.5% batched (3.5% against
        22.5% on phone_20min), WER was lower on 22 of them (by 4.7 points at the median), holes
        over 5 s were left on 6 calls against 16, for 1.4 times the CPU time at the median.
        Conditioned on the previous text, as the reference decoder is, with the whole
        temperature fallback (stopped at 0.4, a third of the words were lost on some calls);
        the loops that conditioning can fall into are caught as holes and decoded again.
        """
        seconds = len(audio) / SAMPLE_RATE
        heard = Timeline(regions + webrtc)
        found = self._read(audio, Span(0.0, seconds), heard, options, on_progress)
        # Its holes are found in the padded regions alone. Short ones (VOICED_HOLE_SECONDS) are
        # what the batched pass skips, each chunk read without the words before it; a reading
        # conditioned on them skips few, and through a phone line tiny.en times its words too
        # loosely for them: on phone_20min, decoding them again took WER from 58.5% to 60.1%
        # and the longest hole from 6.7 to 8.7 s, for 3.4% of the words deleted against 3.9%.
        for segment in self._completed(audio, regions, [], found, options, result):
            yield from split_sentences(segment)
        if on_progress:
            on_progress(seconds)

    def _read(
        self,
        audio: np.ndarray,
        span: Span,
        speech: Timeline,
        options: DecodeOptions,
        on_progress: ProgressCallback | None = None,
    ) -> list[Segment]:
        """The segments of `span` decoded sequentially (in the audio's seconds): beam search,
        conditioned on the previous text, with the temperature fallback and word timestamps.

        Whisper reads silence and line noise as words now and then ("Thank you."): a line with
        no word inside `speech` is dropped. A line that failed even at the last temperature (a
        loop) is dropped too: its time is then a hole, decoded again.
        """
        segments, _info = self.model.transcribe(
            audio[int(span.start * SAMPLE_RATE) : int(span.end * SAMPLE_RATE)],
            vad_filter=False,
            condition_on_previous_text=True,
            **self._arguments(replace(options, word_timestamps=True)),
        )
        found = []
        for raw in segments:
            if on_progress:
                on_progress(span.start + raw.end)
            segment = _segment(raw)
            if segment is None or _failed(segment):
                continue
            segment = segment.shifted(span.start)
            if any((w.start + w.end) / 2 in speech for w in segment.words):
                found.append(segment)
        return found

    def _heard(
        self,
        audio: np.ndarray,
        regions: list[Span],
        voiced: list[Span],
        options: DecodeOptions,
        on_progress: ProgressCallback | None,
        result: Transcription,
    ) -> Iterator[Segment]:
        """The batched pass over the VAD's chunks, a group at a time, with its holes filled.

        The batched pipeline decodes up to 30 s a chunk without timestamp tokens (asking for
        them loses the end of a chunk whose speech runs to its edge), at one temperature. Some
        chunks still come back empty or stop early; those holes are decoded again alone.
        """
        heard_speech = Timeline(regions)
        chunks = plan_chunks(regions, CHUNK_SECONDS)
        group = options.batch_size * GROUP_BATCHES
        max_new_tokens = int(CHUNK_SECONDS * TOKENS_PER_SECOND) + 20
        arguments = {
            **self._arguments(options),
            "initial_prompt": fitted_prompt(
                self.model, options.initial_prompt, options.hotwords, max_new_tokens
            ),
        }
        for first in range(0, len(chunks), group):
            part = chunks[first : first + group]
            segments, _info = self.pipeline.transcribe(
                audio,
                clip_timestamps=[{"start": c.start, "end": c.end} for c in part],
                batch_size=options.batch_size,
                without_timestamps=True,
                max_new_tokens=max_new_tokens,
                **arguments,
            )
            # The batched pass has no temperature fallback: a chunk it decoded into a loop
            # ("no, no, no, ...") or with little confidence is dropped, so it is decoded again
            # below as a hole, the way a sequential decoder would have retried it.
            found = [
                said_within(s, heard_speech)
                for s in map(_segment, segments)
                if s is not None and not _failed(s)
            ]
            speech = within(regions, part[0].start, part[-1].end)
            voiced_part = within(voiced, part[0].start, part[-1].end)
            span = Span(part[0].start, part[-1].end)
            read = (
                partial(self._read, audio, span, heard_speech, options)
                if self.read_through
                else None
            )
            for segment in self._completed(
                audio, speech, voiced_part, found, options, result, read
            ):
                for sentence in split_sentences(segment):
                    if on_progress:
                        on_progress(sentence.end)
                    yield sentence
            if on_progress:
                on_progress(part[-1].end)
        if on_progress:
            on_progress(len(audio) / SAMPLE_RATE)

    def _batched_or_read(
        self,
        audio: np.ndarray,
        speech: list[Span],
        voiced: list[Span],
        found: list[Segment],
        options: DecodeOptions,
        read: Callable[[], list[Segment]],
    ) -> tuple[list[Segment], list[Span]]:
        """A batched group's segments with their holes filled, or, where the batched pass lost
        too much, the group read through as a phone call is (`read`), whichever leaves less
        speech without a word; and the holes left unheard.

        Where the batched pass lost more than hole repair may decode again (HOLE_BUDGET_SHARE),
        the group is read through at once: on held_two_4 (two fast wide-band voices) its chunks
        lost 38% of the words, 24% with holes filled, and read through 1.9%, for the same CPU
        time. Where holes repair leaves over REREAD_SHARE of the speech without a word, the
        group is read through too and the completer reading kept (tune_two_1: 6.3% of words
        deleted, 2.6% read through). Reading through every group would cost more than holes
        do where the batched pass hears well (dense_4min: twice the CPU time for the same
        words).
        """
        total = total_seconds(speech)

        def lost(segments: list[Segment]) -> float:
            holes = find_holes(speech, _word_times(segments), min_seconds=REDECODE_HOLE_SECONDS)
            return total_seconds(holes)

        if lost(found) > HOLE_BUDGET_SHARE * total:
            return self.fill_holes(audio, speech, read(), options, voiced)
        repaired = self.fill_holes(audio, speech, list(found), options, voiced)
        left = lost(repaired[0])
        if left <= max(REREAD_SHARE * total, MIN_HOLE_SECONDS):
            return repaired
        again = self.fill_holes(audio, speech, read(), options, voiced)
        return again if lost(again[0]) < left else repaired

    def _completed(
        self,
        audio: np.ndarray,
        speech: list[Span],
        voiced: list[Span],
        segments: list[Segment],
        options: DecodeOptions,
        result: Transcription,
        read: Callable[[], list[Segment]] | None = None,
    ) -> list[Segment]:
        """The segments with their holes in `speech` (and in `voiced`, the same speech unpadded)
        filled, in time order; what stayed empty is added to the result's unheard spans. `read`
        reads the same audio through, for a batched group that may have lost too much
        (`_batched_or_read`)."""
        if not self.repair_holes:
            unheard = find_holes(speech, _word_times(segments))
        elif read is None:
            segments, unheard = self.fill_holes(audio, speech, segments, options, voiced)
        else:
            segments, unheard = self._batched_or_read(
                audio, speech, voiced, segments, options, read
            )
        result.unheard += [(hole.start, hole.end) for hole in unheard]
        return sorted(segments, key=lambda s: s.start)

    def fill_holes(
        self,
        audio: np.ndarray,
        speech: list[Span],
        segments: list[Segment],
        options: DecodeOptions,
        voiced: Sequence[Span] = (),
    ) -> tuple[list[Segment], list[Span]]:
        """Decode the holes in `segments` again (from REDECODE_HOLE_SECONDS of `speech`, or
        VOICED_HOLE_SECONDS of `voiced`, the same speech unpadded); the segments with what was
        found, and the holes that stayed empty (from coverage.MIN_HOLE_SECONDS of `speech`).

        First with this model, with timestamps and temperature fallback, prompted with the words
        before; then with the larger fallback model, where installed, for the holes this model
        did not judge silent. The holes are packed into shared clips (coverage.pack): Whisper
        pads whatever it decodes to 30 s, so nine holes decoded alone cost nine windows, packed
        they cost one or two. Each model decodes at most HOLE_BUDGET_SHARE of the speech again:
        on audio the batched pass cannot read at all (noise the VAD takes for speech), the rest
        is reported unheard instead of costing the call's time twice over.
        """
        budget = HOLE_BUDGET_SHARE * sum(span.seconds for span in speech)
        seconds = len(audio) / SAMPLE_RATE
        holes = _holes_to_decode(speech, voiced, segments)
        voice = Timeline(voiced) if voiced else None
        # The next model tries only what the one before tried and heard something in.
        to_try = holes
        retries = ((lambda: self.model, HOLE_TEMPERATURES), (self.fallback, FALLBACK_TEMPERATURES))
        for model, temperatures in retries:
            # The larger model is loaded only when a hole survives with speech in it.
            decoder = model() if to_try else None
            if decoder is None:
                break
            # A hole over what is left of the budget is skipped, not the end: the holes after
            # it are as likely to be speech.
            chosen, spent = [], 0.0
            for hole in to_try:
                if spent + hole.seconds <= budget:
                    chosen.append(hole)
                    spent += hole.seconds
            heard: list[Span] = []
            # Temperature fallback hole by hole, not clip by clip: only the holes whose
            # decoding failed are decoded again at the next temperature, packed anew, so a
            # hole the model cannot read does not cost the others in its clip two more passes.
            waiting = chosen
            for temperature in temperatures if options.temperature_fallback else (0.0,):
                failed: list[Span] = []
                for clip in pack(waiting, seconds, context=HOLE_CONTEXT_SECONDS):
                    found, heard_in, failed_in = self._decode_holes(
                        decoder, audio, clip, segments, options, temperature, voiced=voice
                    )
                    segments += found
                    heard += heard_in
                    failed += failed_in
                waiting = failed
                if not waiting:
                    break
            holes = _holes_to_decode(speech, voiced, segments)
            # What is left of a hole partly filled is tried again too.
            to_try = [h for h in holes if any(h.start < t.end and t.start < h.end for t in heard)]
        unheard = find_holes(speech, _word_times(segments), min_seconds=MIN_HOLE_SECONDS)
        return segments, unheard

    def _decode_holes(
        self,
        model,
        audio: np.ndarray,
        clip: list[Piece[Span]],
        segments: list[Segment],
        options: DecodeOptions,
        temperature: float,
        voiced: Timeline | None = None,
    ) -> tuple[list[Segment], list[Span], list[Span]]:
        """Segments heard in a packed clip's holes, the holes the model heard speech in, and
        the holes whose decoding failed (to try at a higher temperature).

        Only words whose middle falls inside a hole are taken (the context around it is for
        listening only), so no word that is already in the transcript comes twice; where the
        `voiced` speech is known (the batched pass), words within the words' reach of a hole
        too, none starting before the voiced stretch it ends in. A hole is heard as silence
        where Whisper judged its window no speech (it then yields no segment) or every segment
        over it more likely silence than speech.
        """
        first = clip[0].span
        before = sorted(
            (w for s in segments for w in s.words if w.end <= first.start), key=lambda w: w.start
        )
        # Words still carry their leading space here: joined as they are, they read as text.
        # A retry goes without them: what came before can be what a failed decoding looped on.
        said = "" if temperature else "".join(w.word for w in before[-PROMPT_WORDS:]).strip()
        prompt = " ".join(part for part in (options.initial_prompt, said) if part)
        samples = packed_audio(audio, clip, SAMPLE_RATE)
        # Per 30 s window decoded: a decoding caught in a loop stops at speech's pace.
        window = min(len(samples) / SAMPLE_RATE, CHUNK_SECONDS)
        max_new_tokens = int(window * TOKENS_PER_SECOND) + 20
        arguments = {
            **self._arguments(options),
            "beam_size": max(options.beam_size, HOLE_BEAM_SIZE),
            "best_of": max(options.beam_size, HOLE_BEAM_SIZE),
            "temperature": temperature,
            "initial_prompt": fitted_prompt(model, prompt, options.hotwords, max_new_tokens),
            "max_new_tokens": max_new_tokens,
            "word_timestamps": True,
            # The fallback model may be multilingual: these calls are in the main model's tongue.
            "language": "en" if self.english_only else options.language,
        }
        raw, _info = model.transcribe(
            samples,
            vad_filter=False,
            condition_on_previous_text=True,
            without_timestamps=False,
            **arguments,
        )
        heard: list[Span] = []
        taken: dict[int, list[tuple[Segment, tuple[Word, ...]]]] = {}
        # No word past the last hole is taken, so decoding stops there. faster-whisper decodes
        # lazily, a 30 s window at a time, and goes on from the last word it placed: a clip whose
        # first window ended a few frames short of its end cost a second whole window for them
        # (on dense_4min, 24.90 to 24.93 s of a 24.93 s clip).
        last_hole_end = clip[-1].to_clip(clip[-1].span.end)
        # A hole starts and ends where the words around it stop reaching
        # (coverage.WORD_REACH_SECONDS): a word timed within that reach of it is its own, not one
        # already in the transcript. On fast_2min a hole ran from 0.1 s past the middle of
        # "exports", as decoded again, to 0.1 s before that of "evening": both were lost. Not
        # through a phone line (read through, with no `voiced` speech), where tiny.en times its
        # words too loosely: on phone_20min the words within reach took WER from 58.5% to 60.5%.
        reach = WORD_REACH_SECONDS if voiced is not None else 0.0
        for segment in map(_segment, raw):
            if segment is None:
                continue
            if segment.no_speech_prob < NO_SPEECH_THRESHOLD:
                heard += [p.span for p in clip if p.at < segment.end and segment.start < p.at_end]
            for index, piece in enumerate(clip):
                hole = piece.span
                words = (
                    replace(w, start=piece.to_window(w.start), end=piece.to_window(w.end))
                    for w in segment.words
                    if piece.holds((w.start + w.end) / 2)
                )
                if voiced is not None:
                    # A decoding's first word is often stretched back over the context before
                    # it: on fast_2min "Morning" of a skipped "Morning Emily." over the 1.1 s
                    # before, the words already heard there included.
                    words = started_where_said(words, voiced)
                # A "word" of punctuation alone (". . . ." from base on a hole) is not speech.
                mine = tuple(
                    w
                    for w in words
                    if hole.start - reach <= (w.start + w.end) / 2 < hole.end + reach
                    and re.search(r"\w", w.word)
                )
                if mine:
                    taken.setdefault(index, []).append((segment, mine))
            if segment.end >= last_hole_end:
                break
        found: list[Segment] = []
        failed: list[Span] = []
        for index, parts in taken.items():
            # Whisper's failure tests, as its temperature fallback applies them: the decoding's
            # average log-probability (the whole clip's), and whether the hole's own words loop
            # (the clip's compression ratio would let one looping hole throw the others' words
            # away). Even the last temperature can fail ("ing ing ing"): better unheard than
            # invented.
            if any(
                (segment.avg_logprob or 0.0) < LOG_PROB_THRESHOLD for segment, _ in parts
            ) or _loops([w for _, words in parts for w in words]):
                failed.append(clip[index].span)
                continue
            found += [
                replace(
                    segment,
                    start=words[0].start,
                    end=words[-1].end,
                    text="".join(w.word for w in words).strip(),
                    words=words,
                )
                for segment, words in parts
            ]
        return found, heard, failed


def fitted_prompt(
    model, prompt: str | None, hotwords: str | None, max_new_tokens: int
) -> str | None:
    """`prompt` with as few of its first words left out as it takes to fit, beside the hotwords
    and `max_new_tokens`, in what the model reads at once (448 tokens).

    faster-whisper keeps the last 223 tokens of a prompt and the first 223 of the hotwords, but
    refuses a decoding outright (ValueError) where they and max_new_tokens together are more: a
    team vocabulary of 818 characters (282 tokens) and the 40 words before a hole (45 tokens)
    failed the decoding of every 28 s clip of holes, and with it the call. The words nearest
    the audio are the ones kept, as faster-whisper keeps them.
    """
    if not prompt:
        return None
    half = model.max_length // 2 - 1

    def tokens(text: str) -> int:
        return len(model.hf_tokenizer.encode(" " + text.strip()).ids)

    hot = min(tokens(hotwords), half) if hotwords else 0
    room = model.max_length - max_new_tokens - hot - PROMPT_OVERHEAD
    if tokens(prompt) <= room:
        return prompt
    words = prompt.split()
    # The fewest first words to leave out: the count of tokens falls as more are left out.
    low, high = 0, len(words)
    while low < high:
        middle = (low + high) // 2
        if tokens(" ".join(words[middle:])) <= room:
            high = middle
        else:
            low = middle + 1
    return " ".join(words[low:]) or None


def _segment(segment) -> Segment | None:
    """faster-whisper's segment as ours; None for an empty one."""
    if not segment.text.strip():
        return None
    return Segment(
        start=float(segment.start),
        end=float(segment.end),
        text=segment.text.strip(),
        avg_logprob=float(segment.avg_logprob),
        no_speech_prob=float(segment.no_speech_prob),
        compression_ratio=float(segment.compression_ratio),
        # Words keep their leading space until the sentences are split, so "$50" and ",000"
        # join back as "$50,000".
        words=tuple(
            Word(float(w.start), float(w.end), w.word, float(w.probability))
            for w in (segment.words or ())
        ),
    )


# Whisper's own thresholds for a failed decoding (what triggers its temperature fallback).
COMPRESSION_RATIO_THRESHOLD = 2.4
LOG_PROB_THRESHOLD = -1.0


# A phrase said this many times in a row is a decoding caught in a loop, even where the text is
# too short for Whisper's compression test to notice: "Go ahead." five times over, decoded into
# a hole of dense_4min where other words were said, compresses at 2.38 (its threshold is 2.4).
# A single word takes one more ("yes, yes, yes" is said).
LOOP_REPEATS = 3


def _failed(segment: Segment) -> bool:
    return (
        (segment.compression_ratio or 0.0) > COMPRESSION_RATIO_THRESHOLD
        or (segment.avg_logprob or 0.0) < LOG_PROB_THRESHOLD
        or repeats_itself(segment.text)
    )


def _loops(words: list[Word]) -> bool:
    """Whisper's test for a decoding caught in a loop, applied to some of its words, and the
    same phrase over and over."""
    from faster_whisper.transcribe import get_compression_ratio

    text = "".join(w.word for w in words)
    return get_compression_ratio(text) > COMPRESSION_RATIO_THRESHOLD or repeats_itself(text)


def repeats_itself(text: str) -> bool:
    """Whether some phrase comes LOOP_REPEATS times in a row (a single word, once more)."""
    tokens = re.findall(r"[\w']+", text.lower())
    for size in range(1, len(tokens) // LOOP_REPEATS + 1):
        times = LOOP_REPEATS + (size == 1)
        for first in range(len(tokens) - size * times + 1):
            phrase = tokens[first : first + size]
            if all(
                tokens[first + k * size : first + (k + 1) * size] == phrase for k in range(1, times)
            ):
                return True
    return False


def _vad_padded(voiced: list[Span], audio: np.ndarray) -> list[Span]:
    """Silero's unpadded regions of `audio` padded as Silero pads them: the batched pass's."""
    return padded(voiced, VAD_PAD_SECONDS, len(audio) / SAMPLE_RATE, SAMPLE_RATE)


def _webrtc_spans(audio: np.ndarray) -> list[Span]:
    from .diarization import speech_spans

    return [Span(start, end) for start, end in speech_spans(audio)]


def _word_times(segments: list[Segment]) -> list[tuple[float, float]]:
    return [(w.start, w.end) for s in segments for w in s.words]


def _holes_to_decode(
    speech: Sequence[Span], voiced: Sequence[Span], segments: list[Segment]
) -> list[Span]:
    """Stretches of the padded `speech` from REDECODE_HOLE_SECONDS with no word near them, and
    of the unpadded `voiced` speech from VOICED_HOLE_SECONDS: a short turn the batched pass
    skipped ("Morning Emily.") hides under the padding of the turns either side of it."""
    words = _word_times(segments)
    return merge(
        find_holes(speech, words, min_seconds=REDECODE_HOLE_SECONDS)
        + find_holes(voiced, words, min_seconds=VOICED_HOLE_SECONDS)
    )


def said_within(segment: Segment, speech: Timeline) -> Segment:
    """The segment with no word starting before the stretch of speech it ends in.

    A chunk holds the pauses between its speech as they were spoken, and without timestamp
    tokens the aligner may stretch a word back over one: "What" from 17.6 to 23.6 s, where the
    customer was silent from 18 to 23 s while the rep talked on the other channel. Read from
    where the speech it ends in starts, the pause shows: the sentences split there, and speech
    hidden under such a word is found as a hole."""
    if not segment.words:
        return segment
    return replace(segment, words=tuple(started_where_said(segment.words, speech)))


def started_where_said(words: Iterable[Word], speech: Timeline) -> Iterator[Word]:
    """The words, none starting before the stretch of speech it ends in (see said_within)."""
    for word in words:
        heard = speech.latest_start(word.end)
        if heard is not None and word.start < heard.start:
            word = replace(word, start=heard.start)
        yield word


# A new segment starts after a sentence's last word, or after a pause this long.
PAUSE_SECONDS = 1.0
SENTENCE_END = (".", "?", "!")


def split_sentences(segment: Segment) -> list[Segment]:
    """Split a long segment into sentences by its word timings, so each line can be read,
    searched and played on its own."""
    if not segment.words:
        return [replace(segment, text=segment.text.strip())]
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
            words=tuple(replace(w, word=w.word.strip()) for w in words),
        )
        for words in pieces
        if words
    ]


class SeededSampling:
    """A CTranslate2 Whisper model whose sampling (the temperature fallback) draws the same
    numbers in every window, from RANDOM_SEED.

    CTranslate2 seeds a thread's generator once, when that thread first samples
    (set_random_seed() reaches only generators not made yet), and a model samples on a worker
    thread that lives as long as the model: each call's fallback went on from where the last
    call's left the generator, so a call's text depended on what the process had decoded
    before it. Decodings that sample therefore run on a copy of the model loaded afresh for
    each window that samples at all (about 0.1 s for tiny.en; 7 of 59 decodings sampled on the
    twenty-minute phone call), whose new worker thread seeds its generator from RANDOM_SEED.
    Beam search draws nothing: it runs on the model loaded once.
    """

    def __init__(self, model, load_copy: Callable[[], object]):
        self._model = model
        self._load_copy = load_copy
        self._sampler = None

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def start_window(self) -> None:
        self._sampler = None  # the last window's copy, and its generator, are let go

    def generate(self, *args, **kwargs):
        if kwargs.get("sampling_topk", 1) == 1:
            return self._model.generate(*args, **kwargs)
        if self._sampler is None:
            import ctranslate2

            ctranslate2.set_random_seed(RANDOM_SEED)
            self._sampler = self._load_copy()
        return self._sampler.generate(*args, **kwargs)
