"""Speakers told apart by voice on mono calls (transcripts/speech/diarization.py): the real
encoder on espeak-ng speech (bench.corpus speaks it), and the attribution of words to voices.

The calls here are spoken from CallWriter's sales script; the benchmark (bench/diarization.py)
uses other sentences, other voices and other seeds."""

import functools
import subprocess
import sys
import tempfile
from collections import Counter
from itertools import pairwise, permutations
from pathlib import Path

import numpy as np
import pytest

from bench import corpus
from transcripts.speech import diarization
from transcripts.speech.audio import decode
from transcripts.speech.base import SAMPLE_RATE, Segment, Word
from transcripts.speech.diarization import Diarization, Turn

pytestmark = pytest.mark.skipif(
    any(__import__("shutil").which(tool) is None for tool in ("espeak-ng", "sox")),
    reason="needs espeak-ng and sox (make test-packages)",
)

VOICES = {
    "rep": corpus.Voice("en-us+m3", 170, 45),
    "prospect": corpus.Voice("en-gb+f3", 160, 60),
    "manager": corpus.Voice("en-gb-x-gbclan", 165, 38),
}


@pytest.fixture(scope="module", autouse=True)
def one_encoder_thread():
    """One torch thread: tests share the machine with other work, and there torch's threads
    spend seconds waiting on each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def share_right(found: Diarization, turns) -> float:
    """The share of the script's speech (every 0.1 s of each turn) on the right voice, under the
    best mapping of found voices to true ones."""
    counts = Counter()
    for turn in turns:
        for moment in np.arange(turn.start + 0.05, turn.end, 0.1):
            counts[(turn.voice, found.voice_between(moment, moment + 0.01))] += 1
    names = sorted({turn.voice for turn in turns})
    voices = range(max(found.voices, len(names)))
    best = max(
        sum(counts[(name, voice)] for name, voice in zip(names, order, strict=False))
        for order in permutations(voices, len(names))
    )
    return best / sum(counts.values())


def speak_call(seconds: float, seed: int, cast: dict) -> tuple[np.ndarray, list]:
    plan = corpus.CallPlan(seconds=seconds, seed=seed, cast=cast, dense_pauses=(0.2, 0.6))
    with tempfile.TemporaryDirectory() as folder:
        return corpus.synthesize(plan, Path(folder))


@pytest.fixture(scope="session")
def two_voices(two_voice_call):
    path, turns = two_voice_call
    return decode(path), turns


@pytest.fixture(scope="session")
def three_voices():
    return speak_call(75, 1208, VOICES)


@pytest.fixture(scope="session")
def one_voice():
    rep = VOICES["rep"]
    return speak_call(45, 1209, {"rep": rep, "prospect": rep, "manager": rep})


@pytest.fixture(scope="session")
def diarized_two_voices(two_voices):
    samples, _ = two_voices
    return diarization.diarize(samples)


def test_it_finds_two_voices_and_who_speaks_when(two_voices, diarized_two_voices):
    _, turns = two_voices
    assert diarized_two_voices.voices == 2
    assert share_right(diarized_two_voices, turns) >= 0.95


def test_voices_are_numbered_by_first_appearance(diarized_two_voices):
    turns = diarized_two_voices.turns
    assert turns[0].voice == 0
    assert [t.start for t in turns] == sorted(t.start for t in turns)
    first_of_one = next(t for t in turns if t.voice == 1)
    assert all(t.voice == 0 for t in turns if t.start < first_of_one.start)
    assert diarized_two_voices.centroids.shape == (2, diarization.EMBEDDING_SIZE)
    norms = np.linalg.norm(diarized_two_voices.centroids, axis=1)
    assert norms == pytest.approx([1.0, 1.0], abs=1e-5)


def test_it_finds_three_voices(three_voices):
    samples, turns = three_voices
    found = diarization.diarize(samples)
    assert found.voices == 3
    assert share_right(found, turns) >= 0.85


def test_voices_the_encoder_hears_alike_are_told_apart_by_their_pitch():
    # Two fast voices, as alike to the encoder as one voice's two halves (heard as one voice,
    # 53% right, before pitch told them apart).
    rep, prospect = corpus.Voice("en-us+m4", 205, 48), corpus.Voice("en-gb+f5", 195, 58)
    samples, turns = speak_call(75, 1210, {"rep": rep, "prospect": prospect, "manager": rep})
    found = diarization.diarize(samples)
    assert found.voices == 2
    assert share_right(found, turns) >= 0.95


def test_music_on_hold_is_nobodys_voice():
    # Two voices and 40 s of hold music between their lines: webrtcvad hears the music as
    # speech (a voice of its own, four in all), the transcript has no word there.
    rep, prospect = VOICES["rep"], VOICES["prospect"]
    plan = corpus.CallPlan(
        seconds=60,
        seed=1212,
        cast={"rep": rep, "prospect": prospect, "manager": rep},
        dense_pauses=(0.2, 0.6),
        hold_at=20,
        hold_seconds=40,
    )
    with tempfile.TemporaryDirectory() as folder:
        samples, turns = corpus.synthesize(plan, Path(folder))
    _, music_from, music_to = max((b.start - a.end, a.end, b.start) for a, b in pairwise(turns))
    assert music_to - music_from > 40
    found = diarization.diarize(samples, words=[(t.start, t.end) for t in turns])
    assert found.voices == 2
    assert share_right(found, turns) >= 0.95
    assert not [t for t in found.turns if t.start < music_to - 1 and t.end > music_from + 1]


def test_three_clusters_are_tried_where_two_are_not_two_voices(monkeypatch, three_voices):
    # Three voices alike: the best two clusters can each hold a mix, one voice to the test.
    samples, _ = three_voices
    counts = {2: False, 3: True, 4: False}
    monkeypatch.setattr(diarization, "_distinct", lambda *args, **_: counts[args[3]])
    assert diarization.diarize(samples).voices == 3
    # Past two voices, the first count that fails ends the search.
    counts.update({2: True, 3: False, 4: True})
    assert diarization.diarize(samples).voices == 2


def alike_clusters(alike: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two clusters of unit vectors whose centroids are `alike` (cosine), four pieces each."""
    rng = np.random.default_rng(0)
    base, turn = rng.normal(size=256), rng.normal(size=256)
    base, turn = base / np.linalg.norm(base), turn / np.linalg.norm(turn)
    across = turn - (turn @ base) * base
    other = alike * base + np.sqrt(1 - alike**2) * across / np.linalg.norm(across)
    vectors = np.array([base] * 4 + [other] * 4)
    return vectors, np.array([0] * 4 + [1] * 4), np.full(8, 5.0)


def test_alike_clusters_are_two_voices_only_when_their_pitches_differ():
    vectors, labels, weights = alike_clusters()
    assert not diarization._distinct(vectors, labels, weights, 2)

    def pitches(a: float, b: float):
        return lambda members: a if labels[members[0]] == 0 else b

    # 2 semitones apart: two voices; half a semitone, or a pitch unknown: one voice.
    assert diarization._distinct(vectors, labels, weights, 2, pitches(100.0, 112.2))
    assert not diarization._distinct(vectors, labels, weights, 2, pitches(100.0, 103.0))
    assert not diarization._distinct(vectors, labels, weights, 2, pitches(100.0, None))


def test_on_a_phone_line_clusters_less_alike_are_still_one_voice():
    # Over a phone line one voice's two halves came out as little as 0.889 alike (the
    # benchmark's phone calls); on wide-band calls two different voices can be 0.925 alike.
    vectors, labels, weights = alike_clusters(0.915)
    assert diarization._distinct(vectors, labels, weights, 2)
    phone = diarization.PHONE_SAME_VOICE_SIMILARITY
    assert not diarization._distinct(vectors, labels, weights, 2, same_voice=phone)
    assert diarization._distinct(*alike_clusters(0.88), 2, same_voice=phone)


def test_a_call_carried_at_8_khz_is_narrowband(two_voices, tmp_path):
    samples, turns = two_voices
    spans = [(t.start, t.end) for t in turns]
    assert not diarization.is_narrowband(samples, spans)
    wide, phone = tmp_path / "wide.wav", tmp_path / "phone.wav"
    corpus.write_wav(wide, samples)
    subprocess.run(["sox", str(wide), "-r", "8000", "-e", "u-law", str(phone)], check=True)
    assert diarization.is_narrowband(decode(phone), spans)


def test_one_voice_is_one_speaker(one_voice):
    samples, _ = one_voice
    assert diarization.diarize(samples).voices == 1


def test_a_given_count_of_speakers_is_kept(two_voices, one_voice):
    samples, turns = two_voices
    assert diarization.diarize(samples, speakers=1).voices == 1
    given = diarization.diarize(samples, speakers=2)
    assert given.voices == 2
    assert share_right(given, turns) >= 0.95
    assert diarization.diarize(one_voice[0], speakers=2).voices == 2


def test_a_count_out_of_range_is_refused(two_voices):
    with pytest.raises(ValueError, match="1 to 6"):
        diarization.diarize(two_voices[0], speakers=7)


def test_a_long_call_is_clustered_from_a_sample_and_every_window_still_gets_its_voice(
    monkeypatch, two_voices
):
    # A two-hour call has ~4,000 windows: at most MAX_CLUSTERED pieces are clustered.
    monkeypatch.setattr(diarization, "MAX_CLUSTERED", 12)
    samples, turns = two_voices
    found = diarization.diarize(samples)
    assert found.voices == 2
    assert share_right(found, turns) >= 0.95


def test_the_engines_speech_spans_are_taken_where_webrtcvad_hears_nothing(monkeypatch):
    monkeypatch.setattr(diarization, "speech_spans", lambda audio: [])
    samples = np.random.default_rng(5).normal(0, 0.1, 8 * SAMPLE_RATE).astype(np.float32)
    found = diarization.diarize(samples, speech=[(1.0, 3.0), (3.05, 4.5)])
    assert found.voices == 1
    assert [(turn.start, turn.end) for turn in found.turns] == [(1.0, 4.5)]


def test_progress_goes_up_to_one(two_voices):
    seen = []
    diarization.diarize(two_voices[0][: 20 * SAMPLE_RATE], on_progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == 1.0


def test_silence_and_empty_audio_are_one_voice():
    for samples in (np.zeros(3 * SAMPLE_RATE, np.float32), np.zeros(0, np.float32)):
        found = diarization.diarize(samples)
        assert found.voices == 1
        assert found.voice_between(0.0, 1.0) == 0


def test_the_speech_libraries_load_only_when_used():
    code = (
        "import sys, transcripts.speech.diarization, transcripts.speech.pipeline; "
        "print(sorted({'torch', 'webrtcvad', 'resemblyzer', 'librosa'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- Words to voices ------------------------------------------------------------------------


def two_turns() -> Diarization:
    return Diarization(
        voices=2,
        turns=[Turn(0.0, 2.0, 0), Turn(2.2, 4.0, 1), Turn(4.5, 6.0, 0)],
        centroids=np.eye(2, diarization.EMBEDDING_SIZE),
    )


def test_a_segment_is_split_where_the_voice_changes():
    words = (
        Word(0.5, 0.9, "Hello", 0.9),
        Word(1.0, 1.6, "there.", 0.8),
        Word(2.3, 2.7, "Hi,", 0.95),
        Word(2.8, 3.5, "thanks.", 0.7),
    )
    segment = Segment(0.4, 3.6, "Hello there. Hi, thanks.", -0.2, 0.01, 1.1, words)
    (first_voice, first), (second_voice, second) = diarization.attribute([segment], two_turns())
    assert (first_voice, second_voice) == (0, 1)
    assert (first.text, first.start, first.end) == ("Hello there.", 0.4, 1.6)
    assert (second.text, second.start, second.end) == ("Hi, thanks.", 2.3, 3.6)
    assert first.words == words[:2] and second.words == words[2:]
    assert first.avg_logprob == second.avg_logprob == -0.2


def test_words_with_their_leading_spaces_are_joined_as_said():
    words = (Word(0.5, 0.9, " don", 0.9), Word(0.9, 1.2, "'t", 0.9), Word(2.5, 3.0, " go", 0.9))
    segment = Segment(0.5, 3.0, " don't go", words=words)
    pieces = diarization.attribute([segment], two_turns())
    assert [(voice, piece.text) for voice, piece in pieces] == [(0, "don't"), (1, "go")]


def test_a_segment_of_one_voice_or_without_words_stays_whole():
    whole = Segment(4.6, 5.9, "Bye now.", words=(Word(4.6, 5.0, "Bye"), Word(5.1, 5.9, "now.")))
    bare = Segment(2.1, 4.2, "No word times here.")
    attributed = diarization.attribute([whole, bare], two_turns())
    assert attributed == [(0, whole), (1, bare)]


def test_a_word_in_a_pause_goes_to_the_nearest_voice():
    found = two_turns()
    assert found.voice_between(2.05, 2.1) == 0
    assert found.voice_between(2.15, 2.19) == 1
    assert found.voice_between(9.0, 9.5) == 0


# --- Voice prints -----------------------------------------------------------------------------

ENROLMENT = (
    "I am reading this short passage so that the portal learns how my voice sounds. "
    "The quick brown fox jumps over the lazy dog, and then it runs back into the forest. "
    "Tomorrow I will call three customers about their renewals."
)


@functools.cache
def enrolment(voice: corpus.Voice) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        return corpus.speak(ENROLMENT, voice, Path(folder))


def test_the_rep_is_recognised_by_a_voice_print(two_voices, diarized_two_voices):
    samples, turns = two_voices
    rep_print = diarization.voice_print(enrolment(VOICES["rep"]))
    assert rep_print is not None
    vector, seconds = rep_print
    assert seconds > 5 and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    voice, similarities = diarization.recognise(diarized_two_voices, vector)
    rep_turn = next(t for t in turns if t.voice == VOICES["rep"].name)
    assert voice == diarized_two_voices.voice_between(rep_turn.start, rep_turn.end)
    assert set(similarities) == {0, 1}
    assert similarities[voice] >= diarization.REP_SIMILARITY > similarities[1 - voice]


def test_no_one_is_named_when_the_rep_does_not_speak(diarized_two_voices):
    stranger = diarization.voice_print(enrolment(corpus.Voice("en-us+f5", 190, 75)))
    voice, similarities = diarization.recognise(diarized_two_voices, stranger[0])
    assert voice is None
    assert max(similarities.values()) < diarization.REP_SIMILARITY


def test_too_little_speech_makes_no_voice_print():
    assert diarization.voice_print(np.zeros(10 * SAMPLE_RATE, np.float32)) is None
    assert diarization.voice_print(enrolment(VOICES["rep"])[: SAMPLE_RATE * 2]) is None


def test_prints_fold_by_their_seconds():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    folded = diarization.fold(a, 30.0, b, 10.0)
    assert np.linalg.norm(folded) == pytest.approx(1.0)
    assert folded[0] == pytest.approx(3 * folded[1])


# --- Pitch ------------------------------------------------------------------------------------


def harmonic_tone(pitch: float, seconds: float = 3.0) -> np.ndarray:
    """A buzz of `pitch` Hz and its first seven harmonics, like a voiced vowel."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.1 * sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 8))).astype(
        np.float32
    )


@pytest.mark.parametrize("pitch", [85.0, 120.0, 210.0, 330.0])
def test_the_pitch_of_a_tone_is_its_fundamental(pitch):
    assert diarization.speech_pitch(harmonic_tone(pitch), [(0.0, 3.0)]) == pytest.approx(
        pitch, rel=0.01
    )


def test_the_pitch_is_found_without_its_fundamental():
    """A phone line drops everything under 300 Hz: the period is still heard in the harmonics."""
    tone = harmonic_tone(110.0)
    spectrum = np.fft.rfft(tone)
    frequencies = np.fft.rfftfreq(len(tone), 1 / SAMPLE_RATE)
    spectrum[(frequencies < 300) | (frequencies > 3400)] = 0
    phone = np.fft.irfft(spectrum, len(tone)).astype(np.float32)
    assert diarization.speech_pitch(phone, [(0.0, 3.0)]) == pytest.approx(110.0, rel=0.02)


def test_noise_and_silence_have_no_pitch():
    noise = np.random.default_rng(7).normal(0, 0.1, 3 * SAMPLE_RATE).astype(np.float32)
    assert diarization.speech_pitch(noise, [(0.0, 3.0)]) is None
    assert diarization.speech_pitch(np.zeros(3 * SAMPLE_RATE, np.float32)) is None
    # Only the spans given are read.
    assert diarization.speech_pitch(harmonic_tone(150.0), [(0.0, 0.2)]) is None


def test_each_window_has_a_pitch_of_its_own():
    audio = np.concatenate(
        [
            harmonic_tone(120.0, 2.0),
            harmonic_tone(200.0, 2.0),
            np.zeros(2 * SAMPLE_RATE, np.float32),
        ]
    )
    found = diarization.window_pitches(audio, [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (1.0, 1.1)])
    assert found[:2] == pytest.approx([120.0, 200.0], rel=0.01)
    # Silence has none, nor a window too short for enough voiced frames.
    assert np.isnan(found[2:]).all()


def pitched(hz: float, count: int, spread: float) -> np.ndarray:
    """`count` window pitches spread evenly from `spread` semitones under `hz` to as many over."""
    return hz * 2 ** (np.linspace(-spread, spread, count) / 12)


def test_voices_pitched_apart_pull_their_windows_apart():
    pitches = np.concatenate([pitched(100, 21, 1.0), pitched(119, 21, 1.0), [np.nan]])
    voices = np.array([0] * 21 + [1] * 21 + [0])
    cost = diarization._pitch_cost(pitches, voices, 2)
    # Three semitones apart: a window costs far more to the other voice than to its own.
    weight = diarization.PITCH_WEIGHT
    assert (cost[:21, 1] - cost[:21, 0] > 2 * weight).all()
    assert (cost[21:42, 0] - cost[21:42, 1] > 2 * weight).all()
    # An unvoiced window costs nothing, nor does anything without pitches.
    assert not cost[42].any()
    assert not diarization._pitch_cost(None, voices, 2).any()


def test_voices_pitched_alike_hardly_pull_at_all():
    pitches = np.concatenate([pitched(100, 21, 1.5), pitched(100.3, 21, 1.5)])
    cost = diarization._pitch_cost(pitches, np.array([0] * 21 + [1] * 21), 2)
    assert np.abs(cost[:, 0] - cost[:, 1]).max() < 0.3 * diarization.PITCH_WEIGHT


def test_a_window_the_encoder_hears_between_two_voices_goes_to_the_voice_of_its_pitch():
    rng = np.random.default_rng(5)
    a, b = alike_clusters(0.9)[0][[0, 4]]
    # Ten windows of each voice, 1.5 s each with pauses between, then four the encoder hears
    # a little nearer the first voice but pitched as the second.
    plain = [a] * 10 + [b] * 10 + [0.51 * a + 0.49 * b] * 4
    vectors = diarization._normalised(np.array(plain) + rng.normal(0, 0.012, (24, 256)))
    windows = [
        diarization._Window(2.0 * i, 2.0 * i + 1.5, 2.0 * i, 2.0 * i + 1.5) for i in range(24)
    ]
    pitches = np.concatenate([pitched(100, 10, 0.5), pitched(126, 10, 0.5), [126.0] * 4])
    by_dvector, _ = diarization._cluster(vectors, windows, 2)
    by_both, _ = diarization._cluster(vectors, windows, 2, window_pitch=lambda: pitches)
    assert (by_dvector[20:] == by_dvector[0]).all()
    assert (by_both[20:] == by_both[10]).all() and by_both[10] != by_both[0]
    assert (by_both[:20] == by_dvector[:20]).all()


def test_a_voice_has_the_pitch_of_its_enrolment(two_voices, diarized_two_voices):
    """espeak's pitch setting moves the measured pitch, and a voice on a call has the pitch of
    the same voice read alone, within the tolerance recognise() allows."""
    _, turns = two_voices
    low = diarization.speech_pitch(enrolment(corpus.Voice("en-us+m3", 170, 30)))
    high = diarization.speech_pitch(enrolment(corpus.Voice("en-us+m3", 170, 70)))
    assert low and high and diarization.semitones(high, low) > 2 and high > low
    rep_turn = next(t for t in turns if t.voice == VOICES["rep"].name)
    rep = diarized_two_voices.voice_between(rep_turn.start, rep_turn.end)
    on_call = diarized_two_voices.pitches[rep]
    alone = diarization.speech_pitch(enrolment(VOICES["rep"]))
    assert diarization.semitones(on_call, alone) <= diarization.PITCH_TOLERANCE_SEMITONES
    other = diarized_two_voices.pitches[1 - rep]
    assert diarization.semitones(other, alone) > diarization.PITCH_TOLERANCE_SEMITONES


def two_alike_voices(pitches) -> Diarization:
    """Two voices both close to the print e0 (0.99 and 0.97 alike), of the given pitches."""
    centroids = np.zeros((2, diarization.EMBEDDING_SIZE))
    for row, alike in enumerate((0.99, 0.97)):
        centroids[row, 0], centroids[row, row + 1] = alike, np.sqrt(1 - alike**2)
    return Diarization(voices=2, turns=[], centroids=centroids, pitches=pitches)


def test_the_rep_is_the_alike_voice_whose_pitch_agrees():
    vector = np.eye(1, diarization.EMBEDDING_SIZE)[0]
    found = two_alike_voices([200.0, 110.0])
    # The closer voice is an octave off: the other, as alike as the threshold asks, is the rep.
    assert diarization.recognise(found, vector, pitch=112.0)[0] == 1
    assert diarization.recognise(found, vector, pitch=196.0)[0] == 0
    # No voice of the print's pitch: nobody is named, however alike.
    voice, scores = diarization.recognise(found, vector, pitch=150.0)
    assert voice is None and scores[0] == pytest.approx(0.99)
    # Nor one of the right pitch that is not alike enough.
    assert diarization.recognise(found, vector, threshold=0.98, pitch=110.0)[0] is None


def test_without_a_pitch_the_closest_voice_is_the_rep():
    vector = np.eye(1, diarization.EMBEDDING_SIZE)[0]
    # A print made before pitch was measured: the old rule.
    assert diarization.recognise(two_alike_voices([200.0, 110.0]), vector)[0] == 0
    # A voice whose pitch could not be measured is judged by its vector.
    assert diarization.recognise(two_alike_voices([None, 110.0]), vector, pitch=150.0)[0] == 0
    assert diarization.recognise(two_alike_voices([]), vector, pitch=150.0)[0] == 0


def teammate_print(alike_to_voice_0: float) -> np.ndarray:
    """A print that many times alike to two_alike_voices' first voice (0.99 e0 + 0.14 e1)."""
    found = two_alike_voices([None, None])
    first = found.centroids[0] / np.linalg.norm(found.centroids[0])
    away = np.eye(1, diarization.EMBEDDING_SIZE, 10)[0]
    return alike_to_voice_0 * first + np.sqrt(1 - alike_to_voice_0**2) * away


def test_a_voice_more_like_a_teammate_is_not_the_rep():
    vector = np.eye(1, diarization.EMBEDDING_SIZE)[0]
    found = two_alike_voices([110.0, 110.0])
    closer = diarization.TEAMMATE_MARGIN + 0.99
    # The closer voice sounds more like a teammate: the other one, alike enough, is the rep.
    voice, scores = diarization.recognise(found, vector, teammates=[teammate_print(closer)])
    assert voice == 1
    assert scores == diarization.recognise(found, vector)[1]  # the rep's likeness as before
    # A teammate less than the margin closer is no reason to doubt the rep's own print.
    nearly = teammate_print(closer - 0.002)
    assert diarization.recognise(found, vector, teammates=[nearly])[0] == 0
    # With the pitch and threshold rules: nobody, when the only other voice is ruled out.
    ruled_out = [teammate_print(1.0)]
    assert diarization.recognise(found, vector, threshold=0.98, teammates=ruled_out)[0] is None
    assert diarization.recognise(found, vector, pitch=110.0, teammates=[])[0] == 0


def test_pitches_fold_on_the_semitone_scale_by_seconds():
    assert diarization.fold_pitch(None, 0.0, 120.0, 30.0) == 120.0
    assert diarization.fold_pitch(120.0, 30.0, None, 10.0) == 120.0
    assert diarization.fold_pitch(100.0, 10.0, 400.0, 10.0) == pytest.approx(200.0)
    assert diarization.fold_pitch(100.0, 30.0, 200.0, 10.0) == pytest.approx(2**0.25 * 100, 0.01)
