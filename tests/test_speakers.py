"""Telling a dual-channel recording (one speaker per channel) from mono-like stereo, on numpy
signals: transcripts.speech.channels imports no Django."""

import numpy as np
import pytest

from transcripts import speakers
from transcripts.speech.channels import Layout, detect_layout, mixdown, mute_crosstalk

RATE = 16_000


def voice(seconds: float, pitch: float, seed: int) -> np.ndarray:
    """Speech-like sound: a voiced tone with syllables about four times a second."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, np.pi)) ** 2
    tone = np.sin(2 * np.pi * pitch * t) + 0.3 * np.sin(2 * np.pi * 2.5 * pitch * t)
    return (0.25 * syllables * tone + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def conversation(turns=6, turn_seconds=2.5, gap=0.4) -> np.ndarray:
    """Two people taking turns, each on their own channel, as dialers record them."""
    left, right = [], []
    for turn in range(turns):
        spoken = voice(turn_seconds, 140 if turn % 2 == 0 else 220, seed=turn)
        quiet = silence(turn_seconds)
        left += [spoken if turn % 2 == 0 else quiet, silence(gap)]
        right += [quiet if turn % 2 == 0 else spoken, silence(gap)]
    return np.stack([np.concatenate(left), np.concatenate(right)])


def test_one_channel_is_mono():
    report = detect_layout(voice(5, 150, 1)[np.newaxis, :], RATE)
    assert report.layout == Layout.MONO and not report.is_dual


def test_a_flat_array_is_mono():
    assert detect_layout(voice(5, 150, 1), RATE).layout == Layout.MONO


def test_two_speakers_on_their_own_channels_are_dual():
    report = detect_layout(conversation(), RATE)
    assert report.layout == Layout.DUAL
    assert sum(report.dominant_shares) > 0.9
    assert min(report.dominant_shares) > 0.3


def test_identical_channels_are_not_dual():
    mono = voice(10, 150, 2)
    report = detect_layout(np.stack([mono, mono]), RATE)
    assert report.layout == Layout.SAME
    assert sum(report.dominant_shares) == 0


def test_nearly_identical_channels_are_not_dual():
    # A mono recording saved as stereo through a lossy codec: a little gain and noise apart.
    mono = voice(10, 150, 3)
    noise = 0.002 * np.random.default_rng(0).standard_normal(len(mono)).astype(np.float32)
    report = detect_layout(np.stack([mono, 0.7 * mono + noise]), RATE)
    assert report.layout == Layout.SAME


def test_a_stereo_mix_panned_part_way_is_not_dual():
    # Both voices in both channels, each a little louder on one side: a mix, not a dialer.
    both = conversation()
    mixed = np.stack([both[0] + 0.5 * both[1], 0.5 * both[0] + both[1]])
    assert detect_layout(mixed, RATE).layout == Layout.SAME


def test_crosstalk_from_the_other_line_still_counts_as_dual():
    both = conversation()
    leaky = np.stack([both[0] + 0.05 * both[1], both[1] + 0.05 * both[0]])  # -26 dB
    assert detect_layout(leaky, RATE).layout == Layout.DUAL


def test_a_quiet_line_is_not_mistaken_for_crosstalk():
    # The customer's line is 20 dB quieter than the rep's; each channel is judged by its own
    # speech level, so the customer still counts as a speaker.
    both = conversation()
    report = detect_layout(np.stack([both[0], 0.1 * both[1]]), RATE)
    assert report.layout == Layout.DUAL


def test_speech_on_one_channel_only_is_one_sided():
    spoken = voice(10, 150, 4)
    report = detect_layout(np.stack([spoken, silence(10)]), RATE)
    assert report.layout == Layout.ONE_SIDED


def test_a_second_voice_of_half_a_second_is_not_a_second_speaker():
    spoken = voice(10, 150, 5)
    other = np.concatenate([silence(9.5), voice(0.5, 220, 6)])
    report = detect_layout(np.stack([np.concatenate([spoken[:-8000], silence(0.5)]), other]), RATE)
    assert report.layout != Layout.DUAL


def test_silence_is_not_dual():
    report = detect_layout(np.stack([silence(3), silence(3)]), RATE)
    assert report.layout == Layout.SAME and report.active_frames == 0


def test_a_recording_shorter_than_a_frame_is_not_dual():
    assert detect_layout(np.zeros((2, 100), dtype=np.float32), RATE).layout == Layout.SAME


def test_crosstalk_is_muted_and_each_voice_kept():
    both = conversation()
    clean = both.copy()
    leaky = np.stack([both[0] + 0.05 * both[1], both[1] + 0.05 * both[0]])
    result = mute_crosstalk(leaky, RATE)
    assert result is leaky  # in place: a long call's samples are not copied
    for channel in (0, 1):
        own = np.abs(clean[channel]) > 0.05
        others = (np.abs(clean[1 - channel]) > 0.05) & ~own
        # The speaker's own sound is kept where they speak...
        kept = np.sum(leaky[channel][own] ** 2) / np.sum(clean[channel][own] ** 2)
        assert kept > 0.95
        # ...and the other voice's leak is gone, but for the short margins around turns.
        leaked = np.sum(leaky[channel][others] ** 2) / np.sum(
            (0.05 * clean[1 - channel][others]) ** 2
        )
        assert leaked < 0.2


def test_muting_never_jumps():
    # Fades at the edges of what is kept: no sample-to-sample step larger than the voice makes.
    both = conversation()
    steps_before = np.max(np.abs(np.diff(both, axis=1)))
    mute_crosstalk(both, RATE)
    assert np.max(np.abs(np.diff(both, axis=1))) <= steps_before + 1e-6


def test_mixdown_makes_one_voice_of_any_layout():
    stereo = np.stack([np.ones(4, np.float32), np.zeros(4, np.float32)])
    assert mixdown(stereo).tolist() == [0.5] * 4
    assert mixdown(stereo[:1]).shape == (4,)
    assert mixdown(stereo[0]).shape == (4,)


@pytest.mark.parametrize(
    "channel, rep_channel, role",
    [(0, 0, "Rep"), (1, 0, "Customer"), (0, 1, "Customer"), (1, 1, "Rep"), (None, 0, "")],
)
def test_each_channel_has_a_role(channel, rep_channel, role):
    assert speakers.role(channel, rep_channel) == role
