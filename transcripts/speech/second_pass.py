"""The second pass: lines the fast model was unsure of, decoded again by the accurate one.

After a window is transcribed, its lines whose words the fast model heard with little confidence
are grouped into stretches (neighbouring unsure lines together, up to Whisper's 30 s), the worst
first, and each is decoded again alone by the accurate model, with the words said before it as
a prompt. The new words replace the old ones only where the accurate model is surer of them
than the fast one was (each by its own word probabilities). A budget in seconds of audio, a
share of the window, bounds the cost: it depends on the audio only, never on the clock, so a
window decoded again after a crash comes out as the first run's did (the checkpoints rely on
that: transcripts.speech.pipeline).

Works with any engine whose lines carry word probabilities (faster-whisper's, always; the
openai-whisper engine's with word timestamps on); lines without them are never chosen.
Plain Python: no Django.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace

import numpy as np

from .base import SAMPLE_RATE, DecodeOptions, Engine, EngineSpec, ProgressCallback, Segment, Word
from .coverage import Piece, pack, packed_audio

# A line is decoded again when the geometric mean of its words' probabilities is below this.
# Chosen on the telephone clips (docs/benchmarks.md, "The second pass"): below it, most lines
# of tiny.en hold a misheard word; above it, few do.
LOW_CONFIDENCE = 0.7
# At most this share of a window's audio is decoded again (context included). base decodes
# about four times slower than tiny.en's batched pass, so this adds at most about half of the
# first pass's time, and far less on clean audio, where few lines are unsure.
BUDGET_SHARE = 0.25
# Unsure lines this close together are decoded as one stretch, up to this long.
JOIN_GAP_SECONDS = 1.0
MAX_STRETCH_SECONDS = 25.0
# Audio either side of a stretch, decoded for context only: its words are not taken.
CONTEXT_SECONDS = 0.5
# The last words before a stretch are its prompt, as a sequential decoder conditions on them.
PROMPT_WORDS = 40
# The accurate model's words replace the fast model's only when it is this much surer of them
# (in the geometric mean of their probabilities): two unsure readings of noise swap one guess
# for another.
MIN_GAIN = 0.05
# The accurate model's reading replaces the fast one's only where it has at least this share of
# its words: a confident "Hi." is no better reading of a stretch where tiny.en heard twelve
# unsure words than those words are, and taking it deletes them.
MIN_WORD_SHARE = 0.5
# Beam search for the second decoding: it is a few seconds of audio, and accuracy is its point.
# One temperature: where beam search fails, sampling at higher ones invents, and costs twice.
BEAM_SIZE = 5
# Whisper's own limit for a looping decoding ("no, no, no, ..."): such a decoding is refused.
COMPRESSION_RATIO_THRESHOLD = 2.4


def confidence(words: Sequence[Word]) -> float | None:
    """The geometric mean of the words' probabilities: how sure the model was of the line as a
    whole (one unsure word weighs more than in a plain mean). None without probabilities."""
    probabilities = [w.probability for w in words if w.probability is not None]
    if not probabilities:
        return None
    return math.exp(sum(math.log(max(p, 1e-6)) for p in probabilities) / len(probabilities))


@dataclass(frozen=True)
class Stretch:
    """Segments first..last (inclusive) of a window, decoded again together."""

    first: int
    last: int
    start: float
    end: float
    confidence: float

    @property
    def seconds(self) -> float:
        return self.end - self.start + 2 * CONTEXT_SECONDS


def plan(
    segments: Sequence[Segment],
    *,
    budget_seconds: float,
    threshold: float = LOW_CONFIDENCE,
) -> list[Stretch]:
    """The stretches to decode again, in time order: unsure lines grouped, then taken worst
    first while they fit in the budget. A group that does not fit is broken into its lines,
    which compete on their own: a badly misheard line is not left out because its unsure
    neighbours made its group too long."""
    stretches: list[Stretch] = []
    for index, segment in enumerate(segments):
        sure = confidence(segment.words)
        if sure is None or sure >= threshold:
            continue
        last = stretches[-1] if stretches else None
        if (
            last is not None
            and last.last == index - 1
            and segment.start - last.end <= JOIN_GAP_SECONDS
            and segment.end - last.start <= MAX_STRETCH_SECONDS
        ):
            words = [w for s in segments[last.first : index + 1] for w in s.words]
            stretches[-1] = Stretch(last.first, index, last.start, segment.end, confidence(words))
        else:
            stretches.append(_line(index, segment, sure))
    chosen, spent = [], 0.0
    # Worst first, then earliest; `first` is unique among the waiting stretches, so two of them
    # are never compared themselves.
    waiting = [(s.confidence, s.first, s) for s in stretches]
    heapq.heapify(waiting)
    while waiting:
        _, _, stretch = heapq.heappop(waiting)
        if spent + stretch.seconds <= budget_seconds:
            chosen.append(stretch)
            spent += stretch.seconds
        elif stretch.first < stretch.last:
            for index in range(stretch.first, stretch.last + 1):
                one = _line(index, segments[index], confidence(segments[index].words))
                heapq.heappush(waiting, (one.confidence, index, one))
    return sorted(chosen, key=lambda s: s.start)


def _line(index: int, segment: Segment, sure: float) -> Stretch:
    """Segment `index` alone as a stretch."""
    return Stretch(index, index, segment.start, segment.end, sure)


def reach(stretch: Stretch, segments: Sequence[Segment]) -> tuple[float, float]:
    """Where the accurate model's words count as the stretch's: its lines' time, widened to
    halfway to the neighbouring lines (within the context decoded around it). Two models place
    a word a few tenths of a second apart; a word said at the stretch's edge belongs to it, one
    said in a neighbouring line (which is kept) does not."""
    low, high = stretch.start - CONTEXT_SECONDS, stretch.end + CONTEXT_SECONDS
    if stretch.first > 0:
        low = max(low, (segments[stretch.first - 1].end + stretch.start) / 2)
    if stretch.last + 1 < len(segments):
        high = min(high, (stretch.end + segments[stretch.last + 1].start) / 2)
    return low, high


def _placed(segment: Segment, clip: Sequence[Piece]) -> list[tuple[Word, Segment]]:
    """The segment's words that lie in one of the clip's pieces, in the window's seconds, each
    with the segment."""
    placed = []
    for word in segment.words:
        middle = (word.start + word.end) / 2
        piece = next((p for p in clip if p.holds(middle)), None)
        if piece is None or not word.word.strip():
            continue
        start, end = piece.to_window(word.start), piece.to_window(word.end)
        placed.append((replace(word, start=start, end=end, word=word.word.strip()), segment))
    return placed


class SecondPass:
    """Decodes a window's unsure lines again with `engine` (the accurate model); see the module.

    Called by the pipeline with a window's samples and its lines (times in the window's
    seconds), before any of them is saved; returns the lines to save instead.
    """

    def __init__(
        self,
        engine: Engine | Callable[[], Engine],
        *,
        threshold: float = LOW_CONFIDENCE,
        budget_share: float = BUDGET_SHARE,
        language: str | None = None,
        model_name: str = "",
        wide_band: bool = False,
    ):
        # Loaded when a first line needs it (engines.load_engine keeps it for the process): a
        # call the fast model was sure of all along never pays for it.
        self._engine = engine
        self.threshold = threshold
        self.budget_share = budget_share
        self.model_name = model_name or getattr(engine, "model_name", "")
        # The fast model's tongue: a multilingual accurate model would otherwise guess it from
        # a few seconds of telephone audio.
        self.language = language
        # Off: only phone-line (narrow-band) windows are decoded again. On wide-band audio the
        # pass moved WER by +0.3 to -4.5 points on six espeak calls for 30-80% more CPU time,
        # and lost words: base drops some that tiny.en heard (dense_4min: 1.6% -> 2.5% deleted,
        # back_to_back 1.4% -> 2.2%), where issue 11 allows 2%.
        self.wide_band = wide_band

    # Wraps the pass's work: loading the accurate model and decoding a clip with it report no
    # progress for seconds at a time (half a minute for one clip on one thread), so the worker
    # keeps its lease on the call meanwhile (tasks.CallTranscription.keeping_lease).
    while_busy: Callable[[], AbstractContextManager] = nullcontext

    @property
    def engine(self) -> Engine:
        if not isinstance(self._engine, Engine):
            self._engine = self._engine()
        return self._engine

    def describe(self) -> dict:
        """What the call's decode_options record of it."""
        return {
            "model": self.model_name,
            "below_confidence": self.threshold,
            "budget_share": self.budget_share,
            "audio": "any" if self.wide_band else "phone line (8 kHz)",
        }

    def __call__(
        self,
        audio: np.ndarray,
        segments: list[Segment],
        options: DecodeOptions,
        on_progress: ProgressCallback | None = None,
    ) -> list[Segment]:
        seconds = len(audio) / SAMPLE_RATE
        stretches = plan(
            segments, budget_seconds=self.budget_share * seconds, threshold=self.threshold
        )
        # Only a window with lines to decode again is asked whether it came through a phone line.
        if not stretches or not (self.wide_band or _narrowband(audio, segments)):
            return segments
        replacements: dict[int, list[Segment]] = {}
        # Packed, as holes are (faster_engine): a stretch decoded alone costs a 30 s window.
        clips = pack(stretches, seconds, context=CONTEXT_SECONDS)
        with self.while_busy() if clips else nullcontext():
            for clip in clips:
                heard = self._decode(audio, clip, segments, options)
                for piece in clip:
                    stretch = piece.span
                    old = segments[stretch.first : stretch.last + 1]
                    new = self._better(heard, stretch, old, reach(stretch, segments))
                    if new is not None:
                        replacements[stretch.first] = new
                if on_progress:
                    on_progress(clip[-1].span.end)
        result: list[Segment] = []
        skip_until = -1
        by_first = {s.first: s for s in stretches}
        for index, segment in enumerate(segments):
            if index <= skip_until:
                continue
            if index in replacements:
                result += replacements[index]
                skip_until = by_first[index].last
            else:
                result.append(segment)
        return result

    def _decode(
        self,
        audio: np.ndarray,
        clip: list[Piece[Stretch]],
        segments: Sequence[Segment],
        options: DecodeOptions,
    ) -> list[tuple[Word, Segment]]:
        """The words the accurate model hears in a packed clip, in the window's seconds, each
        with the decoded segment it belongs to (whose figures the new lines take)."""
        first = clip[0].span.first
        said = " ".join(w.word for s in segments[:first] for w in s.words)
        said = " ".join(said.split()[-PROMPT_WORDS:])
        prompt = " ".join(part for part in (options.initial_prompt, said) if part)
        again = replace(
            options,
            vad=False,
            word_timestamps=True,
            beam_size=max(options.beam_size, BEAM_SIZE),
            condition_on_previous_text=True,
            temperature_fallback=False,
            initial_prompt=prompt or None,
            language=self.language or options.language,
        )
        heard = []
        # Words past the last stretch's reach are not used: decoding stops there, before a
        # window of the clip's last few frames (see faster_engine's hole repair).
        last = clip[-1]
        done = last.to_clip(reach(last.span, segments)[1])
        for segment in self.engine.transcribe(packed_audio(audio, clip, SAMPLE_RATE), again):
            if (segment.compression_ratio or 0.0) <= COMPRESSION_RATIO_THRESHOLD:
                heard += _placed(segment, clip)
            if segment.end >= done:
                break
        return heard

    def _better(
        self,
        heard: list[tuple[Word, Segment]],
        stretch: Stretch,
        old: Sequence[Segment],
        within: tuple[float, float],
    ) -> list[Segment] | None:
        """The stretch's lines as the accurate model heard them (its words within `within`), or
        None to keep the old ones: it heard nothing there, or is not clearly surer than the fast
        model was."""
        low, high = within
        mine = [(w, s) for w, s in heard if low <= (w.start + w.end) / 2 < high]
        words = [w for w, _ in mine]
        if not words or (confidence(words) or 0.0) < stretch.confidence + MIN_GAIN:
            return None
        if len(words) < MIN_WORD_SHARE * sum(len(s.words) for s in old):
            return None
        return self._lines(words, [s for _, s in mine], old)

    def _lines(
        self, words: list[Word], decoded: list[Segment], old: Sequence[Segment]
    ) -> list[Segment]:
        """The new words as lines, split where the accurate model ended a sentence or paused,
        each with the fast model's words from its stretch of time (first_pass_text): from its
        start (the stretch's, for the first) to the next line's start (the stretch's end)."""
        from .faster_engine import split_sentences

        segment = Segment(
            start=words[0].start,
            end=words[-1].end,
            text=" ".join(w.word for w in words),
            avg_logprob=_mean([s.avg_logprob for s in decoded]),
            no_speech_prob=_mean([s.no_speech_prob for s in decoded]),
            compression_ratio=_mean([s.compression_ratio for s in decoded]),
            words=tuple(replace(w, word=" " + w.word) for w in words),
        )
        lines = split_sentences(segment)
        old_words = [w for s in old for w in s.words]
        edges = [float("-inf"), *(line.start for line in lines[1:]), float("inf")]
        return [
            replace(
                line,
                decoded_by=self.model_name,
                first_pass_text=" ".join(
                    w.word.strip()
                    for w in old_words
                    if edges[i] <= (w.start + w.end) / 2 < edges[i + 1]
                ),
            )
            for i, line in enumerate(lines)
        ]


def _narrowband(audio: np.ndarray, segments: Sequence[Segment]) -> bool:
    """Whether the speech in the window's lines came through a phone line (8 kHz)."""
    from .diarization import is_narrowband

    return is_narrowband(audio, [(segment.start, segment.end) for segment in segments])


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def load_second_pass(
    spec: EngineSpec,
    model: str,
    *,
    threshold: float = LOW_CONFIDENCE,
    budget_share: float = BUDGET_SHARE,
    wide_band: bool = False,
) -> SecondPass | None:
    """The second pass with `model` for calls transcribed by `spec`, its engine loaded (once a
    process, see engines.load_engine); None where it has no point or cannot run: `spec` is
    that model already, the engine is the API (one model, audio sent away), or the model's
    weights are not installed here (nothing is downloaded while a call waits)."""
    from .engines import has_local_weights, load_engine, resolve_engine_name

    engine = resolve_engine_name(spec)
    accurate = replace(spec, model=model)
    if model == spec.model or engine == "api" or not has_local_weights(engine, accurate):
        return None
    language = "en" if spec.model.endswith(".en") else None
    return SecondPass(
        lambda: load_engine(replace(accurate, engine=engine)),
        threshold=threshold,
        budget_share=budget_share,
        language=language,
        model_name=model,
        wide_band=wide_band,
    )
