"""Which channel of a recording holds which speaker. Plain numpy with no Django import, like the
speech engines, so it can be tested on synthetic signals.

Most dialers record the rep on one channel and the customer on the other. Such a recording is
recognised by its energy: in 100 ms frames, speech in a two-speaker recording is loud in one
channel and quiet (silent, or faint crosstalk) in the other most of the time. A stereo file
whose channels carry the same audio, or a mix panned part-way, has no such frames and is treated
as mono. Levels are compared after each channel is set to its own speech level, so a quiet phone
line is not mistaken for crosstalk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_SECONDS = 0.1
# A frame is louder in one channel than the other by this much (after levelling): one speaker.
DOMINANCE_DB = 10.0
# Frames quieter than this below a channel's speech level, or absolutely, are not speech.
ACTIVITY_RANGE_DB = 30.0
SILENCE_DB = -55.0
# Dual-channel needs most speech in one channel at a time, and real speech in both channels.
MIN_DOMINANT_SHARE = 0.6
MIN_SPEAKER_SHARE = 0.05
MIN_SPEAKER_SECONDS = 1.0
# Frames kept either side of a channel's own sound, so its first and last sounds are not cut.
CROSSTALK_MARGIN_FRAMES = 2


class Layout:
    """What the channels of a recording hold. Stored on the call; all but DUAL are mono to us."""

    MONO = "mono"  # one channel
    SAME = "same"  # two channels with the same voices (a duplicated mono, or a stereo mix)
    ONE_SIDED = "one_sided"  # speech in one channel only
    DUAL = "dual"  # one speaker per channel


@dataclass(frozen=True)
class ChannelReport:
    layout: str
    # Frames with speech in either channel, and the share of them each channel dominates.
    active_frames: int
    dominant_shares: tuple[float, ...]

    @property
    def is_dual(self) -> bool:
        return self.layout == Layout.DUAL


def frame_levels(channels: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean power of each channel in FRAME_SECONDS frames, in dB (shape: channels, frames)."""
    size = max(1, int(sample_rate * FRAME_SECONDS))
    frames = channels.shape[1] // size
    if frames == 0:
        return np.full((channels.shape[0], 0), -100.0, dtype=np.float32)
    power = np.square(channels[:, : frames * size].reshape(channels.shape[0], frames, size))
    return (10.0 * np.log10(power.mean(axis=2, dtype=np.float64) + 1e-10)).astype(np.float32)


def _levelled(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each channel relative to its own speech level (its loud frames), and where it is active."""
    reference = np.percentile(levels, 95, axis=1, keepdims=True)
    active = levels > np.maximum(reference - ACTIVITY_RANGE_DB, SILENCE_DB)
    # A frame without speech reads as the bottom of the range: how deep a silence is says
    # nothing about who is speaking.
    return np.where(active, levels - reference, -ACTIVITY_RANGE_DB), active


def _dominance(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: which channel dominates (at most one does), and which frames hold speech."""
    relative, active = _levelled(levels)
    louder = relative[0] - relative[1]
    dominant = np.stack(
        [
            active[0] & (~active[1] | (louder >= DOMINANCE_DB)),
            active[1] & (~active[0] | (-louder >= DOMINANCE_DB)),
        ]
    )
    return dominant, active[0] | active[1]


def detect_layout(channels: np.ndarray, sample_rate: int) -> ChannelReport:
    """Whether `channels` (shape: channels, samples) hold one speaker per channel."""
    if channels.ndim == 1 or channels.shape[0] < 2:
        return ChannelReport(Layout.MONO, 0, ())
    levels = frame_levels(channels[:2], sample_rate)
    if levels.shape[1] == 0:
        return ChannelReport(Layout.SAME, 0, (0.0, 0.0))
    dominant, speech = _dominance(levels)
    active = int(speech.sum())
    if active == 0:
        return ChannelReport(Layout.SAME, 0, (0.0, 0.0))
    counts = dominant.sum(axis=1)
    shares = tuple(round(float(n) / active, 4) for n in counts)
    least = max(MIN_SPEAKER_SHARE * active, MIN_SPEAKER_SECONDS / FRAME_SECONDS)
    if sum(shares) >= MIN_DOMINANT_SHARE and counts.min() >= least:
        layout = Layout.DUAL
    elif max(shares) >= 0.9:
        layout = Layout.ONE_SIDED
    else:
        layout = Layout.SAME
    return ChannelReport(layout, active, shares)


def mute_crosstalk(channels: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mute, in place, each channel of a dual-channel call where the other speaker dominates.

    There a channel holds only the other voice leaking through the line (crosstalk, echo);
    left in, Whisper would transcribe it a second time under the wrong speaker. Works in place
    because a long call's samples are large. Returns `channels`.
    """
    levels = frame_levels(channels[:2], sample_rate)
    dominant, _ = _dominance(levels)
    size = max(1, int(sample_rate * FRAME_SECONDS))
    frames = levels.shape[1]
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    for channel in (0, 1):
        keep = ~dominant[1 - channel]
        # Keep a little either side of the channel's own sound, so onsets and tails survive.
        for _ in range(CROSSTALK_MARGIN_FRAMES):
            keep[1:] |= keep[:-1].copy()
            keep[:-1] |= keep[1:].copy()
        body = channels[channel, : frames * size].reshape(frames, size)  # a view: in place
        body *= keep.astype(np.float32)[:, None]
        # Fades at the edges of what is kept, so muting never clicks.
        body[np.flatnonzero(keep[1:] & ~keep[:-1]) + 1] *= ramp
        body[np.flatnonzero(keep[:-1] & ~keep[1:])] *= ramp[::-1]
    return channels


def mixdown(channels: np.ndarray) -> np.ndarray:
    """All channels as one voice, for a recording whose channels do not separate the speakers.
    A channel with little speech (a one-sided call) is mixed in too, so nothing said is lost."""
    if channels.ndim == 1:
        return channels
    if channels.shape[0] == 1:
        return channels[0]
    return channels.mean(axis=0, dtype=np.float32)
