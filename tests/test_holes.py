"""No hole goes unnoticed: speech the batched pass drops is decoded again, and what stays empty
is recorded as unheard, never as silence.

The clip is built by the benchmark's corpus generator (espeak-ng, seeded): three voices with
0.2-0.6 s between turns. On it, tiny.en's batched pass decodes one 30 s chunk into a loop
("no, no, no, ...") that is thrown away, losing about 15% of the words (a 25 s hole).
"""

import json
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bench import corpus
from bench.completeness import deleted_share, longest_hole
from transcripts.speech import audio
from transcripts.speech.base import DecodeOptions, EngineSpec, Transcription
from transcripts.speech.faster_engine import FasterWhisperEngine
from transcripts.speech.pipeline import transcribe_long
from transcripts.speech.wer import word_error_rate

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        any(shutil.which(tool) is None for tool in corpus.TOOLS),
        reason="the clip is spoken by espeak-ng (make test-packages)",
    ),
]


@pytest.fixture(scope="module")
def dense_call(tmp_path_factory) -> corpus.Clip:
    return corpus.build_call(
        tmp_path_factory.mktemp("holes"), "dense_3min", corpus._dense(180, 101), "dense turns"
    )


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> FasterWhisperEngine:
    return FasterWhisperEngine(
        EngineSpec(engine="faster", device="cpu", model_dir=tmp_path_factory.mktemp("models"))
    )


def heard(engine, clip, repair: bool):
    engine.repair_holes = repair
    try:
        result = engine.transcribe(audio.decode(clip.audio), DecodeOptions())
        segments = list(result)
    finally:
        engine.repair_holes = True
    turns = json.loads(clip.script.with_suffix(".json").read_text())["turns"]
    speech = [(t["start"], t["end"]) for t in turns]
    words = [(w.start, w.end) for s in segments for w in s.words]
    text = " ".join(s.text for s in segments)
    return result, text, longest_hole(speech, words)


def test_the_batched_pass_alone_drops_speech_on_this_clip(engine, dense_call):
    result, text, hole = heard(engine, dense_call, repair=False)
    assert deleted_share(dense_call.reference(), text) > 0.08
    assert hole > 15
    # Even unrepaired, the loss is not silent: the engine reports it.
    assert sum(end - start for start, end in result.unheard) > 15


def test_holes_are_decoded_again_and_the_transcript_is_complete(engine, dense_call):
    result, text, hole = heard(engine, dense_call, repair=True)
    reference = dense_call.reference()
    # Measured on an Intel Xeon: 1.2% of the words deleted (14.8% before), the longest hole
    # 1.3 s, WER 19%; on an AMD EPYC 2.3%, WER 18.5%; on an AMD EPYC of family 26, 1.0% and
    # WER 17.5% once short holes in the voiced speech were decoded again (1.8% and 18.3%
    # before). CTranslate2's int8 kernels differ by CPU, and what differs is a turn's first
    # words left out of a decoded line ("Morning David." before "Good timing, ...", whose
    # words the aligner stretched over it), which no hole shows. The benchmark holds the 2%
    # target; this test holds the repair of the 25 s hole, with a margin for the host.
    assert deleted_share(reference, text) <= 0.03
    assert hole <= 5
    assert word_error_rate(reference, text) < 0.3
    assert isinstance(result, Transcription)
    assert result.speech and sum(b - a for a, b in result.speech) > 120


def test_the_pipeline_reports_speech_and_unheard_spans_in_the_recordings_time(engine, dense_call):
    samples = audio.decode(dense_call.audio)
    engine.repair_holes = False
    reported: list[tuple[list, list]] = []
    try:
        segments = list(
            transcribe_long(
                engine,
                samples,
                DecodeOptions(),
                window_seconds=100.0,
                on_heard=lambda speech, unheard: reported.append((speech, unheard)),
            )
        )
    finally:
        engine.repair_holes = True
    assert len(reported) == 2  # one report per window
    speech = [span for window, _ in reported for span in window]
    unheard = [span for _, window in reported for span in window]
    # Windows are reported where they are kept: in order, never overlapping.
    assert all(a[1] <= b[0] + 1e-6 for a, b in zip(speech, speech[1:], strict=False))
    assert all(start < end for start, end in unheard)
    assert segments and speech[-1][1] <= len(samples) / 16_000


class ScriptedDecoders(FasterWhisperEngine):
    """The engine's hole planning (fill_holes) with decoders that hear nothing and say whether
    it was silence: which holes each model is given, and whether the larger one is loaded."""

    def __init__(self, silent: bool):
        self.model, self.silent, self.loaded, self.tried = "tiny", silent, False, []
        self.clips = []

    def fallback(self):
        self.loaded = True
        return "base"

    def _decode_holes(self, model, audio, clip, segments, options, temperature, voiced=None):
        self.tried += [(model, piece.span.start, temperature) for piece in clip]
        self.clips.append((model, temperature))
        # Heard as speech but unreadable (a failed decoding), or heard as silence.
        holes = [piece.span for piece in clip]
        return ([], [], []) if self.silent else ([], holes, holes)


def planned(silent: bool) -> ScriptedDecoders:
    from transcripts.speech.coverage import Span

    decoders = ScriptedDecoders(silent)
    # Ten stretches of 3 s of speech with no word: 30 s, of which a quarter may be redone.
    speech = [Span(10.0 * n, 10.0 * n + 3.0) for n in range(10)]
    _segments, unheard = decoders.fill_holes(np.zeros(16_000 * 100), speech, [], DecodeOptions())
    assert len(unheard) == 10  # nothing was heard: all of it is reported
    return decoders


def test_each_model_decodes_again_at_most_a_quarter_of_the_speech():
    decoders = planned(silent=False)
    tried = [(model, start) for model, start, _temperature in decoders.tried]
    assert sorted(set(tried)) == [("base", 0.0), ("base", 10.0), ("tiny", 0.0), ("tiny", 10.0)]


def test_holes_are_decoded_packed_together_the_larger_model_at_one_temperature():
    decoders = planned(silent=False)
    # Both holes (3 s, with 1 s of context either side) share one clip; what failed is tried
    # at the next temperature, then by the larger model at its one.
    assert decoders.clips == [("tiny", 0.0), ("tiny", 0.2), ("tiny", 0.4), ("base", 0.0)]


def test_the_larger_model_is_not_loaded_for_holes_the_first_judged_silent():
    decoders = planned(silent=True)
    assert not decoders.loaded
    assert [(model, t) for model, _start, t in decoders.tried] == [("tiny", 0.0), ("tiny", 0.0)]


class ScriptedGroup(FasterWhisperEngine):
    """The choice between a batched group and the same audio read through (_batched_or_read),
    with hole repair that finds `repair_finds` of the holes' speech (the first holes first)."""

    def __init__(self, repair_finds: float):
        self.repair_finds, self.repaired, self.read = repair_finds, [], 0

    def fill_holes(self, audio, speech, segments, options, voiced=()):
        from transcripts.speech.coverage import find_holes

        self.repaired.append(list(segments))
        holes = find_holes(speech, [(w.start, w.end) for s in segments for w in s.words])
        found, budget = [], self.repair_finds * sum(h.seconds for h in holes)
        for hole in holes:
            if hole.seconds <= budget:
                found.append(said(hole.start, hole.end))
                budget -= hole.seconds
        return segments + found, []

    def reading(self, segments):
        def read():
            self.read += 1
            return segments

        return read


def said(start: float, end: float):
    """A segment with a word every half second from start to end."""
    from transcripts.speech.base import Segment, Word

    words = tuple(Word(t, t + 0.4, " word") for t in np.arange(start, end - 0.1, 0.5))
    return Segment(start, end, "word " * len(words), words=words)


def group_speech():
    from transcripts.speech.coverage import Span

    return [Span(0.0, 100.0)]


def test_a_group_that_lost_more_than_repair_may_decode_is_read_through_at_once():
    engine = ScriptedGroup(repair_finds=1.0)
    batched = [said(0.0, 60.0)]  # 40 s of the 100 lost: over the quarter repair may decode
    read = [said(0.0, 100.0)]
    segments, _ = engine._batched_or_read(
        None, group_speech(), [], batched, DecodeOptions(), engine.reading(read)
    )
    assert engine.read == 1
    # Holes are filled in what was read, not in the batched pass's words.
    assert engine.repaired == [read]
    assert segments == read


def test_a_group_repair_completes_is_not_read_through():
    engine = ScriptedGroup(repair_finds=1.0)
    batched = [said(0.0, 50.0), said(60.0, 100.0)]  # a 10 s hole: repair fills it
    segments, _ = engine._batched_or_read(
        None, group_speech(), [], batched, DecodeOptions(), engine.reading([])
    )
    assert engine.read == 0
    assert len(segments) == 3


@pytest.mark.parametrize("read_loses, kept", [(0.0, "read"), (20.0, "repaired")])
def test_a_group_repair_leaves_holes_in_is_read_through_and_the_completer_kept(read_loses, kept):
    engine = ScriptedGroup(repair_finds=0.5)
    # Two 10 s holes; repair fills one, leaving 10% of the speech without a word.
    batched = [said(0.0, 40.0), said(50.0, 80.0), said(90.0, 100.0)]
    read = [said(0.0, 100.0 - read_loses)]
    segments, _ = engine._batched_or_read(
        None, group_speech(), [], batched, DecodeOptions(), engine.reading(read)
    )
    assert engine.read == 1
    assert (segments[: len(read)] == read) == (kept == "read")


def test_a_word_stretched_back_over_a_pause_starts_where_its_speech_does():
    from transcripts.speech.base import Segment, Word
    from transcripts.speech.coverage import Span, Timeline
    from transcripts.speech.faster_engine import said_within, split_sentences

    # The batched pass's alignment on the stereo fixture's customer channel: "What" from 17.6 to
    # 23.6 s, over the customer's silence while the rep spoke.
    words = [(12.4, 16.6, " Honestly"), (16.6, 17.0, " takes"), (17.0, 17.6, " forever")]
    words += [(17.6, 23.6, " What"), (23.6, 24.1, " does"), (24.1, 25.7, " pricing?")]
    segment = Segment(
        start=12.4,
        end=25.7,
        text="Honestly takes forever What does pricing?",
        words=tuple(Word(start, end, word, 0.9) for start, end, word in words),
    )
    speech = Timeline([Span(12.0, 18.0), Span(23.1, 26.0)])
    lines = split_sentences(said_within(segment, speech))
    assert [(line.start, line.text) for line in lines] == [
        (12.4, "Honestly takes forever"),
        (23.1, "What does pricing?"),
    ]
    # Words inside their speech are left as they were.
    assert said_within(segment, Timeline([Span(0.0, 30.0)])) == segment


@pytest.mark.parametrize(
    "text, loops",
    [
        ("Go ahead. Go ahead. Go ahead. Go ahead. Go ahead.", True),
        ("no, no, no, no, no", True),
        (
            "We are. Someone exports a spreadsheet. We are. Someone exports a spreadsheet. We are.",
            False,
        ),
        ("Yes, yes, yes, that works.", False),
        ("Thank you. Thank you both. Talk next week.", False),
        ("", False),
    ],
)
def test_a_phrase_said_over_and_over_is_a_decoding_caught_in_a_loop(text, loops):
    from transcripts.speech.faster_engine import repeats_itself

    # "Go ahead." five times compresses at 2.38: under Whisper's 2.4, so gzip alone let it in.
    assert repeats_itself(text) is loops


class RecordingModel:
    """A Whisper model that says what it was asked (the prompt) and hears `words` (start, end,
    word) in every clip it is given."""

    # What faster_engine.fitted_prompt reads of a model: its context and its tokenizer (here a
    # word is a token).
    max_length = 448
    hf_tokenizer = SimpleNamespace(encode=lambda text: SimpleNamespace(ids=text.split()))

    def __init__(self, words=()):
        self.prompts, self.words = [], words

    def transcribe(self, samples, **arguments):
        from types import SimpleNamespace

        self.prompts.append(arguments["initial_prompt"])
        words = [SimpleNamespace(start=a, end=b, word=w, probability=0.9) for a, b, w in self.words]
        segments = (
            [
                SimpleNamespace(
                    start=words[0].start,
                    end=words[-1].end,
                    text="".join(w.word for w in words),
                    avg_logprob=-0.3,
                    no_speech_prob=0.01,
                    compression_ratio=1.2,
                    words=words,
                )
            ]
            if words
            else []
        )
        return segments, None


def decode_one_hole(model, temperature, voiced=None):
    from transcripts.speech.base import Segment, Word
    from transcripts.speech.coverage import Span, pack

    engine = ScriptedDecoders(silent=False)
    engine.english_only = True
    said = Segment(
        0.0, 1.0, "Go ahead.", words=(Word(0.0, 0.5, " Go", 0.9), Word(0.5, 1.0, " ahead.", 0.9))
    )
    (clip,) = pack([Span(3.0, 6.0)], 10.0, context=1.0)
    return FasterWhisperEngine._decode_holes(
        engine,
        model,
        np.zeros(16_000 * 10, dtype=np.float32),
        clip,
        [said],
        DecodeOptions(),
        temperature,
        voiced,
    )


def test_a_hole_is_decoded_again_without_the_words_before_it_once_it_failed():
    model = RecordingModel()
    decode_one_hole(model, 0.0)
    decode_one_hole(model, 0.2)
    # What came before is the prompt the first time; a retry goes without what it may have
    # looped on ("Go ahead." five times over a hole of dense_4min, in its right words at 0.2).
    assert model.prompts == ["Go ahead.", None]


class WindowedModel(RecordingModel):
    """A model that decodes lazily, as faster-whisper does: its first window's segment, then a
    window it is never to be asked for."""

    def transcribe(self, samples, **arguments):
        segments, info = super().transcribe(samples, **arguments)

        def windows():
            yield from segments
            raise AssertionError("a window past the last hole was decoded")

        return windows(), info


def test_decoding_a_clip_stops_once_past_its_last_hole():
    # The hole lies from 1 to 4 s of the clip; the first window's words run to 4.2 s.
    found, _heard, _failed = decode_one_hole(
        WindowedModel([(1.5, 2.5, " Okay,"), (2.5, 4.2, " thanks.")]), 0.0
    )
    assert [segment.text for segment in found] == ["Okay, thanks."]


def test_a_word_timed_a_little_early_is_taken_as_the_holes_own():
    from transcripts.speech.coverage import Span, Timeline

    # The hole (3 to 6 s of the recording) lies from 1 to 4 s of the clip. It starts where the
    # words before it stop reaching (coverage.WORD_REACH_SECONDS), so a word timed within that
    # reach of it is one of its own: "Morning", timed 0.8 to 1.1 s, is part of the turn.
    voiced = Timeline([Span(0.0, 1.0), Span(2.6, 6.0)])
    early = RecordingModel([(0.8, 1.1, " Morning"), (1.1, 1.6, " Emily.")])
    found, _heard, _failed = decode_one_hole(early, 0.0, voiced)
    assert [segment.text for segment in found] == ["Morning Emily."]
    # A word further back is the context's, already in the transcript.
    found, _heard, _failed = decode_one_hole(
        RecordingModel([(0.2, 0.6, " ahead."), (1.1, 1.6, " Emily.")]), 0.0, voiced
    )
    assert [segment.text for segment in found] == ["Emily."]
    # Read through a phone line, where no voiced speech is given, words are taken by their
    # middle alone: tiny.en times them too loosely there.
    found, _heard, _failed = decode_one_hole(early, 0.0)
    assert [segment.text for segment in found] == ["Emily."]


def test_a_word_stretched_back_over_the_context_starts_where_its_voice_does():
    from transcripts.speech.coverage import Span, Timeline

    # "Morning" decoded from the clip's start (0 to 1.12 s: 2 to 3.12 s of the recording), its
    # middle before the hole; the voice it ends in starts at 2.9 s, so it lies in the hole.
    model = RecordingModel([(0.0, 1.12, " Morning"), (1.12, 1.6, " Emily.")])
    found, _heard, _failed = decode_one_hole(model, 0.0)
    assert [segment.text for segment in found] == ["Emily."]
    voiced = Timeline([Span(0.0, 1.0), Span(2.9, 6.0)])
    (segment,) = decode_one_hole(model, 0.0, voiced)[0]
    assert segment.text == "Morning Emily."
    assert segment.words[0].start == 2.9


def test_a_short_turn_under_the_padding_of_the_turns_around_it_is_a_hole():
    from transcripts.speech.base import Segment, Word
    from transcripts.speech.coverage import Span
    from transcripts.speech.faster_engine import _holes_to_decode

    # fast_2min: "...about your renewal." then "Morning Emily." (3.46 to 4.2 s), then "Good
    # timing, ..." from 4.36 s. The batched pass left the greeting out. Padded, the VAD's
    # regions run through the pauses either side of it, and 1.1 s between two words is no
    # hole there; unpadded, the greeting's 0.5 s beyond the words' reach is.
    words = [Word(2.7, 3.28, " renewal."), Word(4.36, 4.4, " Good"), Word(4.4, 4.9, " timing,")]
    segments = [Segment(2.7, 4.9, "renewal. Good timing,", words=tuple(words))]
    speech = [Span(2.0, 3.35), Span(3.35, 5.3)]
    voiced = [Span(2.4, 3.23), Span(3.46, 4.9)]
    assert _holes_to_decode(speech, [], segments) == []
    (hole,) = _holes_to_decode(speech, voiced, segments)
    assert hole.as_list() == [3.58, 4.06]


def test_punctuation_alone_does_not_fill_a_hole():
    # The clip is the hole with 1 s of context before it: the hole lies from 1 to 4 s.
    found, heard, failed = decode_one_hole(
        RecordingModel([(1.5, 2.0, " ."), (2.0, 2.5, " .")]), 0.0
    )
    assert found == [] and failed == []
    found, _heard, _failed = decode_one_hole(
        RecordingModel([(1.5, 2.0, " Okay."), (2.0, 2.5, " .")]), 0.0
    )
    assert [segment.text for segment in found] == ["Okay."]


@pytest.fixture(scope="module")
def faint_phone_call(tmp_path_factory) -> corpus.Clip:
    """Two buzzy, fast voices over a phone line: Silero VAD at its own threshold hears little
    of it (the benchmark found calls like it it did not hear at all)."""
    folder = tmp_path_factory.mktemp("phone")
    rep, prospect = corpus.Voice("en-029+klatt", 200, 35), corpus.Voice("en-029+Jacky", 185, 52)
    plan = corpus.CallPlan(
        seconds=60, seed=31, cast={"rep": rep, "prospect": prospect, "manager": rep},
        dense_pauses=corpus.DENSE_PAUSES,
    )  # fmt: skip
    source = corpus.build_call(folder, "faint", plan, "two buzzy voices")
    return corpus.build_phone_copy(folder, "faint_phone", source)


def covered_share(engine, samples) -> float:
    """The share of webrtcvad's speech inside the engine's VAD regions."""
    from transcripts.speech.coverage import Span, covered_seconds, total_seconds
    from transcripts.speech.diarization import speech_spans

    webrtc = [Span(a, b) for a, b in speech_spans(samples)]
    return covered_seconds(webrtc, engine.speech_regions(samples)) / total_seconds(webrtc)


def test_a_phone_line_the_vad_barely_hears_is_decoded_all_the_same(
    engine, faint_phone_call, monkeypatch
):
    from transcripts.speech import faster_engine

    samples = audio.decode(faint_phone_call.audio)
    reference = faint_phone_call.reference()
    # The batched pass's regions: a phone call is otherwise read through whatever they hold.
    monkeypatch.setattr(engine, "read_through", False)
    with monkeypatch.context() as patched:
        patched.setattr(faster_engine, "VAD_THRESHOLDS", (0.5,))
        assert covered_share(engine, samples) < 0.5
        before = " ".join(s.text for s in engine.transcribe(samples, DecodeOptions()))
    assert covered_share(engine, samples) >= faster_engine.VAD_COVERAGE
    after = " ".join(s.text for s in engine.transcribe(samples, DecodeOptions()))
    print(
        f"deleted {deleted_share(reference, before):.1%} -> {deleted_share(reference, after):.1%}"
        f", WER {word_error_rate(reference, before):.1%} -> {word_error_rate(reference, after):.1%}"
    )
    assert deleted_share(reference, after) < deleted_share(reference, before) - 0.15
    assert word_error_rate(reference, after) < word_error_rate(reference, before) - 0.1


def test_hold_music_does_not_lower_the_vad_threshold(engine, monkeypatch):
    """webrtcvad hears music as speech, Silero does not: a lower threshold would hear no more of
    the speech, only some of the music."""
    from itertools import pairwise

    from transcripts.speech import faster_engine

    rep, prospect = corpus.Voice("en-us+m3", 170, 45), corpus.Voice("en-gb+f3", 160, 60)
    plan = corpus.CallPlan(
        seconds=60, seed=1212, cast={"rep": rep, "prospect": prospect, "manager": rep},
        dense_pauses=corpus.DENSE_PAUSES, hold_at=20, hold_seconds=90,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        samples, turns = corpus.synthesize(plan, Path(folder))
    _, music_from, music_to = max((b.start - a.end, a.end, b.start) for a, b in pairwise(turns))
    # Most of what webrtcvad hears is the music: Silero's threshold would be lowered...
    assert covered_share(engine, samples) < faster_engine.VAD_DEAF_SHARE
    regions = engine.speech_regions(samples)
    monkeypatch.setattr(faster_engine, "VAD_THRESHOLDS", (0.5,))
    # ... but a lower one hears no more of the speech, only some of the music.
    assert regions == engine.speech_regions(samples)
    in_music = sum(max(0, min(r.end, music_to) - max(r.start, music_from)) for r in regions)
    assert in_music < 1.0


@pytest.mark.parametrize("threshold", [0.5, 0.15])
def test_voiced_speech_padded_is_what_silero_pads_to_the_sample(dense_call, threshold):
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from transcripts.speech import faster_engine
    from transcripts.speech.coverage import padded

    samples = audio.decode(dense_call.audio)
    options = VadOptions(
        threshold=threshold,
        max_speech_duration_s=faster_engine.CHUNK_SECONDS - 1.0,
        min_silence_duration_ms=faster_engine.VAD_MIN_SILENCE_MS,
        speech_pad_ms=int(faster_engine.VAD_PAD_SECONDS * 1000),
    )
    silero = [(r["start"], r["end"]) for r in get_speech_timestamps(samples, options)]
    voiced = FasterWhisperEngine._silero_regions(samples, threshold)
    ours = padded(voiced, faster_engine.VAD_PAD_SECONDS, len(samples) / 16_000, 16_000)
    assert len(silero) > 20
    # The same samples: a sample's difference in a hole's audio changed a word decoded in it.
    assert [(round(r.start * 16_000), round(r.end * 16_000)) for r in ours] == silero


def test_a_phone_call_is_read_through_and_keeps_the_turns_the_batched_pass_loses(
    engine, faint_phone_call, monkeypatch
):
    samples = audio.decode(faint_phone_call.audio)
    reference = faint_phone_call.reference()
    with monkeypatch.context() as patched:
        patched.setattr(engine, "read_through", False)
        batched = " ".join(s.text for s in engine.transcribe(samples, DecodeOptions()))
    result = engine.transcribe(samples, DecodeOptions())
    read = " ".join(s.text for s in result)
    print(
        f"deleted {deleted_share(reference, batched):.1%} -> {deleted_share(reference, read):.1%}"
        f", WER {word_error_rate(reference, batched):.1%} -> {word_error_rate(reference, read):.1%}"
    )
    assert deleted_share(reference, read) < deleted_share(reference, batched) - 0.05
    assert deleted_share(reference, read) <= 0.05
    # And reads no worse: the words the batched pass loses are not bought with invented ones.
    # (tiny.en reads this faint call at 74% WER either way: on an AMD EPYC of family 26, 74.5%
    # batched and 73.9% read through; 73.9% both once the batched pass's short holes were
    # decoded again too.)
    assert word_error_rate(reference, read) <= word_error_rate(reference, batched)
    # What the VAD heard is still reported, as for any call.
    assert result.speech and sum(b - a for a, b in result.speech) > 40


def test_a_wide_band_call_is_not_read_through(engine, dense_call, monkeypatch):
    def read_through(*args):
        raise AssertionError("a wide-band call went the phone line's way")

    monkeypatch.setattr(engine, "_read_through", read_through)
    samples = audio.decode(dense_call.audio)[: 20 * 16000]
    assert list(engine.transcribe(samples, DecodeOptions()))
