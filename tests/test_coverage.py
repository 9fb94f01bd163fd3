"""The hole detector (transcripts.speech.coverage): speech the VAD heard with no word in it."""

import numpy as np

from transcripts.speech.coverage import (
    CLIP_SECONDS,
    SEPARATOR_SECONDS,
    Span,
    Timeline,
    find_holes,
    merge,
    pack,
    packed_audio,
    padded,
    plan_chunks,
    subtract,
    total_seconds,
)


def words_every(start: float, end: float, step: float = 0.4) -> list[tuple[float, float]]:
    """A word every `step` seconds, each lasting most of it: a speaker talking steadily."""
    times = []
    t = start
    while t + step <= end + 1e-9:
        times.append((t, t + step * 0.8))
        t += step
    return times


def test_it_finds_no_hole_where_every_stretch_of_speech_has_words():
    speech = [Span(0.0, 10.0), Span(12.0, 20.0)]
    assert find_holes(speech, words_every(0.2, 9.8) + words_every(12.2, 19.8)) == []


def test_it_finds_a_chunk_that_came_back_empty():
    speech = [Span(0.0, 10.0), Span(10.0, 25.0), Span(26.0, 30.0)]
    words = words_every(0.2, 9.8) + words_every(26.2, 29.8)
    holes = find_holes(speech, words)
    assert len(holes) == 1
    # From just after the last word before it to just before the first word after it.
    assert 9.9 < holes[0].start < 10.2 and holes[0].end == 25.0


def test_it_finds_a_chunk_that_stopped_early():
    speech = [Span(0.0, 28.0)]
    holes = find_holes(speech, words_every(0.2, 17.0))
    assert len(holes) == 1
    assert holes[0].end == 28.0
    assert 10.5 < holes[0].seconds < 11.0


def test_it_ignores_pauses_and_padding_shorter_than_two_seconds():
    speech = [Span(0.0, 12.0)]
    # A 1.4 s pause inside the region, and 0.4 s of VAD padding at each end.
    words = words_every(0.4, 5.0) + words_every(6.4, 11.6)
    assert find_holes(speech, words) == []
    assert len(find_holes(speech, words, min_seconds=1.0)) == 1


def test_it_looks_only_inside_speech():
    # Ten seconds of silence between the regions is not a hole.
    speech = [Span(0.0, 5.0), Span(15.0, 20.0)]
    assert find_holes(speech, words_every(0.2, 4.8) + words_every(15.2, 19.8)) == []


def test_a_word_just_outside_a_region_still_counts_as_heard():
    # Word times are estimates: a word 0.2 s off the region's edge still covers it.
    speech = [Span(0.0, 2.5)]
    assert find_holes(speech, [(2.2, 2.7), (-0.1, 0.3), (0.4, 0.8), (0.9, 1.3), (1.4, 2.0)]) == []


def test_voiced_speech_is_padded_as_silero_pads_it():
    voiced = [Span(1.0, 3.0), Span(3.3, 5.0), Span(7.0, 9.8)]
    regions = padded(voiced, 0.4, audio_seconds=10.0, sample_rate=16_000)
    # Under two pads apart, two regions meet halfway across the pause; else each gets a pad,
    # within the audio.
    assert [span.as_list() for span in regions] == [[0.6, 3.15], [3.15, 5.4], [6.6, 10.0]]
    assert padded([], 0.4, audio_seconds=10.0, sample_rate=16_000) == []


def test_spans_merge_subtract_and_add_up():
    assert merge([Span(3, 4), Span(0, 1), Span(1, 2)]) == [Span(0, 2), Span(3, 4)]
    assert subtract([Span(0, 10)], [Span(2, 3), Span(5, 6)]) == [
        Span(0, 2),
        Span(3, 5),
        Span(6, 10),
    ]
    assert total_seconds([Span(0, 2), Span(1, 3)]) == 3


def test_a_timeline_says_which_span_a_moment_falls_in():
    timeline = Timeline([Span(5, 7), Span(0, 2), Span(1, 3)])
    assert timeline.spans == [Span(0, 3), Span(5, 7)]
    assert timeline.latest_start(-1) is None
    assert timeline.latest_start(4) == Span(0, 3)
    assert timeline.latest_start(5) == Span(5, 7)
    assert [moment in timeline for moment in (-1, 0, 2.9, 3, 4, 6, 7)] == [
        False,
        True,
        True,
        False,
        False,
        True,
        False,
    ]


def test_chunks_hold_whole_regions_and_skip_the_silence_between():
    regions = [Span(0, 10), Span(10, 20), Span(20, 29), Span(40, 45), Span(45, 80)]
    chunks = plan_chunks(regions, 30.0)
    assert chunks == [Span(0, 29), Span(40, 45), Span(45, 80)]
    # Touching regions are not merged first: the VAD's padding makes most turns touch.
    assert plan_chunks([Span(0, 20), Span(20, 40)], 30.0) == [Span(0, 20), Span(20, 40)]


def test_spans_are_packed_into_clips_whisper_decodes_in_one_window():
    holes = [Span(10.0 * n, 10.0 * n + 5.0) for n in range(6)]
    clips = pack(holes, 100.0, context=1.0)
    # 7 s each, half a second between: three make 22.5 s, a fourth would make 29.5 s.
    assert [len(clip) for clip in clips] == [3, 3]
    for clip in clips:
        assert clip[-1].at_end <= CLIP_SECONDS
        for before, after in zip(clip, clip[1:], strict=False):
            assert after.at == before.at_end + SEPARATOR_SECONDS
    piece = clips[0][1]
    assert (piece.start, piece.end) == (9.0, 16.0)
    # A time in the clip maps back to the recording's, through the piece that holds it.
    assert piece.holds(piece.at + 2.0) and not piece.holds(piece.at_end)
    assert piece.to_window(piece.at + 2.0) == 11.0


def test_a_span_longer_than_a_clip_is_decoded_alone():
    clips = pack([Span(0.0, 3.0), Span(5.0, 40.0)], 40.0, context=0.0)
    assert [[p.span.start for p in clip] for clip in clips] == [[0.0], [5.0]]


def test_a_packed_clip_holds_its_pieces_audio_with_silence_between():
    rate = 100
    audio = np.arange(1, 1001, dtype=np.float32)  # ten seconds, every sample non-zero
    (clip,) = pack([Span(1.0, 2.0), Span(5.0, 6.0)], 10.0, context=0.0)
    samples = packed_audio(audio, clip, rate)
    gap = int(SEPARATOR_SECONDS * rate)
    assert len(samples) == 100 + gap + 100
    assert samples[0] == audio[100] and samples[100 + gap] == audio[500]
    assert not samples[100 : 100 + gap].any()
