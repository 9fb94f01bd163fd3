"""Who speaks when on a mono call, offline: speaker diarization with resemblyzer's voice encoder.

The recording's speech (webrtcvad, or the spans the caller already has) is cut into short windows
that never cross a pause, each window becomes a d-vector (resemblyzer's 256-dimensional speaker
embedding, the weights shipped inside its wheel), the d-vectors are clustered (spectral
clustering; the number of voices found by the eigengap and checked by how alike the voices
are, or given), and a Viterbi pass over time removes flips too short to be a turn. Words then
go to the voice that speaks when they are said (attribute()).

resemblyzer's own package imports librosa (numba, llvmlite: hundreds of MB and seconds of import)
for its mel spectrogram and its file loading; here the same 40-band power mel spectrogram is made
with torch, and only the network's weights (pretrained.pt) are read from the package, which is
found without being imported. torch and the weights load inside functions, once per process
(the worker), never in the web process or the cluster's parent.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import importlib.util
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .base import SAMPLE_RATE, Segment, Word

EMBEDDING_SIZE = 256
# The lowest cosine similarity between a voice on a call and a rep's voice print for that voice
# to be named the rep's: between what the benchmark measured for the rep's own voice on calls
# (all above) and for other voices (all below); see docs/benchmarks.md, "Speakers".
REP_SIMILARITY = 0.95
MAX_VOICES = 6

# resemblyzer's front end (its hparams.py): 25 ms windows every 10 ms, 40 mel bands, power.
MEL_BANDS = 40
FFT_SIZE = 400
HOP = 160
FRAMES_PER_SECOND = SAMPLE_RATE // HOP
# What a phone line carries (G.711): the encoder hears only this band of every recording.
PHONE_BAND = (300.0, 3400.0)
# Its level normalisation: quiet speech is raised to -30 dBFS (never lowered), as it was trained.
TARGET_DBFS = -30.0

# Windows of about 1.6 s, the length resemblyzer was trained on, never across a pause.
WINDOW_SECONDS = 1.6
# Speech shorter than this says too little about a voice: it takes its neighbours' voice.
MIN_SPAN_SECONDS = 0.3
# Pauses shorter than this do not split speech (webrtcvad hears gaps between syllables).
MIN_PAUSE_SECONDS = 0.15
VAD_FRAME_SECONDS = 0.03
VAD_AGGRESSIVENESS = 2
BATCH_WINDOWS = 64

# At most this many pieces are clustered (a two-hour call has about 3,000), spread evenly over
# the call; every window is then given its nearest voice. Bounds the affinity matrix (and its
# eigenvectors' time) at 1000 x 1000, whatever the call's length.
MAX_CLUSTERED = 1000
# Two clusters whose centroids are at least this alike are one voice heard twice, unless their
# pitches are at least DISTINCT_PITCH_SEMITONES apart: to the encoder, espeak's fast voices can
# be as alike as one voice's two halves (diar_three_c's three at 0.92-0.95) while their pitches
# differ by 2-2.5 semitones; one voice's two halves differed by at most 1.2 (the benchmark's 78
# calls): docs/benchmarks.md, "Speakers on mono calls".
SAME_VOICE_SIMILARITY = 0.935
DISTINCT_PITCH_SEMITONES = 1.5
# The same on a call carried at 8 kHz (a phone line): there the encoder hears less of each voice
# and one voice's two halves come out less alike, as little as 0.889 (on wide-band calls
# different voices are 0.925 alike). Chosen on the benchmark's hand-picked casts and its "tune"
# casts (drawn at random), checked on its "held" casts: the count right on 26 of its 28 phone
# calls (the same from 0.88 to 0.92), on 23 at 0.935; 25 in the report's table, where one call's
# transcript changed with the engine's VAD.
PHONE_SAME_VOICE_SIMILARITY = 0.90
# A call is narrow-band when less than this share of its speech's power lies above 4 kHz (a
# phone line carries 300-3400 Hz; wide-band speech puts a few percent up there).
NARROWBAND_HZ = 4000.0
NARROWBAND_SHARE = 0.002
NARROWBAND_SAMPLE_SECONDS = 60.0
# A voice found holds at least two pieces and MIN_VOICE_SECONDS of speech, or this share of the
# call's, up to MAX_VOICE_FLOOR_SECONDS (someone who says two minutes in a two-hour call counts).
MIN_VOICE_SHARE = 0.03
MIN_VOICE_SECONDS = 4.0
MAX_VOICE_FLOOR_SECONDS = 30.0
# What a change of voice costs the Viterbi pass, in cosine similarity (of centred d-vectors):
# a flip of a window or two that is barely closer to another voice stays with the voice around
# it. Voices mostly change at a pause: there a change costs little.
SWITCH_PENALTY = 0.3
PAUSE_SWITCH_PENALTY = 0.05
# Clustered as one: windows of one stretch of speech, up to this many seconds.
PIECE_SECONDS = 5.0
MIN_PIECE_SECONDS = 1.0
# Pieces this alike are one utterance said twice the same way (only a synthetic voice does).
REPEAT_SIMILARITY = 0.98
# Same-voice turns separated by a pause shorter than this are one turn.
TURN_GAP_SECONDS = 2.0
# Sound the transcript has no word for (music on hold, a ringing tone) is nobody's voice: the
# voices are found where words were said, each word's time widened by WORD_MARGIN_SECONDS and
# words closer than WORD_GAP_SECONDS joined (call_20min's minute of hold music was heard as a
# third voice).
WORD_MARGIN_SECONDS = 0.2
WORD_GAP_SECONDS = 1.0
# Less speech than this makes no voice print.
MIN_PRINT_SECONDS = 3.0
# A voice's centroid on a call (compared with voice prints) is made from this many windows.
PRINT_WINDOWS = 30

# Pitch (the median fundamental frequency of voiced speech), a second cue for naming the rep:
# voices of one accent can be as alike to the speaker encoder as a voice to its own print
# (espeak's en-gb+f2 and en-gb+f4: 0.989), while their pitch sets them apart. YIN (de
# Cheveigné and Kawahara 2002) on 25 ms frames every 10 ms, fundamentals 60-400 Hz; a frame
# whose normalised difference dips under PITCH_THRESHOLD is voiced. Autocorrelation finds the
# period from the harmonics, so a phone line's missing fundamental (below 300 Hz) does not
# matter.
PITCH_RANGE_HZ = (60.0, 400.0)
PITCH_FRAME = 400
PITCH_HOP = 160
PITCH_THRESHOLD = 0.15
SILENT_FRAME_POWER = 1e-8  # mean square of a frame under -80 dBFS
# The shortest and longest periods looked for, in samples.
PITCH_LAGS = (int(SAMPLE_RATE / PITCH_RANGE_HZ[1]), int(SAMPLE_RATE / PITCH_RANGE_HZ[0]))
# Frames read for a voice at most (spread over its speech), and the fewest voiced frames (0.3 s)
# that make a pitch.
PITCH_MAX_FRAMES = 3000
MIN_VOICED_FRAMES = 30
# A voice is named the rep only if its pitch is within this many semitones of the print's:
# see docs/benchmarks.md, "Speakers".
PITCH_TOLERANCE_SEMITONES = 1.0
# Nor if a teammate's print is this much more alike to the voice than the rep's. Chosen on the
# benchmark's "tune" and hand-picked calls, in teams of 5: of 0, 0.005, 0.01 and 0.015, the
# least that named the rep on as many calls as without teammates (98 of 111); it named a voice
# on 16% fewer calls where the rep does not speak (docs/benchmarks.md, "The rep recognised by
# voice"). At 0 a rep who sounds like a teammate went unnamed on 4% of their calls.
TEAMMATE_MARGIN = 0.01
# A window's own pitch (the median of its voiced frames, from MIN_WINDOW_VOICED_FRAMES of them)
# pulls it towards the voice of that pitch when windows are given their voices: the similarity
# lost to a voice is PITCH_WEIGHT times half the square of the distance between their pitches,
# counted in spreads (how far a voice's windows lie from its pitch, typically; a voice's
# intonation moves a window a semitone or two), at most PITCH_CAP_SPREADS of them. On the
# benchmark's calls, voices the encoder hears alike but pitched apart went from 84.0 to 92.9%
# and 88.3 to 91.4% of words right, and no call lost; at twice the weight the tests' three
# voices, two of one pitch, lost 1.7 points (docs/benchmarks.md, "Speakers on mono calls").
PITCH_WEIGHT = 0.05
PITCH_CAP_SPREADS = 3.0
MIN_PITCH_SPREAD = 0.5
MIN_WINDOW_VOICED_FRAMES = 20

ProgressCallback = Callable[[float], None]
Spans = list[tuple[float, float]]


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    voice: int


@dataclass
class Diarization:
    """The voices of a call and who speaks when; voices are numbered 0.. by first appearance."""

    voices: int
    turns: list[Turn]
    centroids: np.ndarray
    # Each voice's median pitch in Hz (None: too little voiced speech), see speech_pitch().
    pitches: list[float | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._starts = [turn.start for turn in self.turns]

    def voice_between(self, start: float, end: float) -> int:
        """The voice that speaks most between `start` and `end` seconds, else the nearest one."""
        if not self.turns:
            return 0
        index = bisect.bisect_right(self._starts, end)
        overlap: dict[int, float] = {}
        for turn in reversed(self.turns[max(0, index - 50) : index]):
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > 0:
                overlap[turn.voice] = overlap.get(turn.voice, 0.0) + shared
            if turn.end < start - TURN_GAP_SECONDS * 10:
                break
        if overlap:
            return max(overlap, key=overlap.__getitem__)
        middle = (start + end) / 2
        candidates = self.turns[max(0, index - 1) : index + 1]
        return min(candidates, key=lambda t: _distance(t, middle)).voice


def _distance(turn: Turn, moment: float) -> float:
    return max(0.0, turn.start - moment, moment - turn.end)


# --- The encoder ---------------------------------------------------------------------------------


def _weights_path() -> Path:
    """resemblyzer's pretrained.pt, found without importing the package (that imports librosa)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("resemblyzer is not installed: make venv installs it")
    return Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"


@functools.cache
def _encoder():
    """resemblyzer's VoiceEncoder network (3 LSTM layers, a linear layer), on the CPU, once a
    process."""
    import torch

    class VoiceEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(MEL_BANDS, 256, 3, batch_first=True)
            self.linear = torch.nn.Linear(256, EMBEDDING_SIZE)

        def forward(self, mels):
            _, (hidden, _) = self.lstm(mels)
            raw = torch.relu(self.linear(hidden[-1]))
            return raw / torch.norm(raw, dim=1, keepdim=True).clamp_min(1e-8)

    checkpoint = torch.load(_weights_path(), map_location="cpu", weights_only=True)
    state = {k: v for k, v in checkpoint["model_state"].items() if not k.startswith("similarity")}
    encoder = VoiceEncoder()
    encoder.load_state_dict(state)
    encoder.eval()
    return encoder


def load_encoder() -> None:
    """Load the speaker encoder now (torch's import and the weights take seconds), once a
    process: a worker keeps its lease on the call meanwhile."""
    _encoder()


@functools.cache
def _mel_filters(phone: bool = False) -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): Slaney's mel scale and norm. With
    `phone`, deaf outside a phone line's band (300-3400 Hz): see _voice_vectors."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        hz = np.asarray(hz, dtype=np.float64)
        mel = hz / (200.0 / 3)
        log = hz >= 1000.0
        return np.where(
            log, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27), mel
        )

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        hz = mel * (200.0 / 3)
        log = mel >= 15.0
        return np.where(log, 1000.0 * np.exp((np.log(6.4) / 27) * (mel - 15.0)), hz)

    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + FFT_SIZE // 2)
    mel_freqs = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2), MEL_BANDS + 2))
    gaps = np.diff(mel_freqs)
    ramps = np.subtract.outer(mel_freqs, fft_freqs)
    weights = np.zeros((MEL_BANDS, len(fft_freqs)))
    for band in range(MEL_BANDS):
        lower = -ramps[band] / gaps[band]
        upper = ramps[band + 2] / gaps[band + 1]
        weights[band] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2 : MEL_BANDS + 2] - mel_freqs[:MEL_BANDS]))[:, np.newaxis]
    if phone:
        weights[:, (fft_freqs < PHONE_BAND[0]) | (fft_freqs > PHONE_BAND[1])] = 0.0
    return weights.astype(np.float32)


def _mel_frames(samples: np.ndarray, phone: bool = False):
    """The power mel spectrogram resemblyzer's encoder reads: (frames, 40) float32 tensor."""
    import torch

    signal = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    if len(signal) < FFT_SIZE // 2 + 1:
        signal = torch.nn.functional.pad(signal, (0, FFT_SIZE // 2 + 1 - len(signal)))
    spectrum = torch.stft(
        signal,
        FFT_SIZE,
        HOP,
        window=torch.hann_window(FFT_SIZE),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = spectrum.abs() ** 2
    return (torch.from_numpy(_mel_filters(phone)) @ power).T.contiguous()


def _gain(audio: np.ndarray, spans: Spans) -> float:
    """resemblyzer's normalisation: raise quiet speech to -30 dBFS (its RMS over the speech)."""
    total, count = 0.0, 0
    for start, end in spans:
        piece = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)].astype(np.float64)
        total += float(np.dot(piece, piece))
        count += len(piece)
    if not count or total <= 0:
        return 1.0
    dbfs = 10 * math.log10(total / count)
    return max(1.0, 10 ** ((TARGET_DBFS - dbfs) / 20))


def is_narrowband(audio: np.ndarray, spans: Spans) -> bool:
    """Whether the speech in `spans` was carried at 8 kHz, as a phone line carries it: almost
    none of its power above NARROWBAND_HZ. Read from up to NARROWBAND_SAMPLE_SECONDS of it,
    spread over the call."""
    frame = 1024
    starts = [
        int(moment * SAMPLE_RATE)
        for start, end in spans
        for moment in np.arange(start, end - frame / SAMPLE_RATE, frame / SAMPLE_RATE)
    ]
    if not starts:
        return False
    most = int(NARROWBAND_SAMPLE_SECONDS * SAMPLE_RATE / frame)
    if len(starts) > most:
        starts = [starts[i] for i in np.linspace(0, len(starts) - 1, most).astype(int)]
    frames = np.stack([audio[i : i + frame] for i in starts]).astype(np.float64)
    power = np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)) ** 2
    high = np.fft.rfftfreq(frame, 1 / SAMPLE_RATE) >= NARROWBAND_HZ
    total = power.sum()
    return bool(total > 0 and power[:, high].sum() < NARROWBAND_SHARE * total)


# --- Speech and windows --------------------------------------------------------------------------


def speech_spans(audio: np.ndarray) -> Spans:
    """Where webrtcvad hears speech: (start, end) seconds, pauses under MIN_PAUSE_SECONDS bridged.
    Read a minute at a time: a 2-hour call is never copied whole."""
    import webrtcvad

    vad = webrtcvad.Vad(VAD_AGGRESSIVENESS)
    frame = int(VAD_FRAME_SECONDS * SAMPLE_RATE)
    chunk = frame * 2000
    voiced: list[bool] = []
    for offset in range(0, len(audio) - frame + 1, chunk):
        piece = audio[offset : offset + chunk]
        piece = piece[: len(piece) - len(piece) % frame]
        pcm = (np.clip(piece, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        step = frame * 2
        voiced.extend(
            vad.is_speech(pcm[i : i + step], SAMPLE_RATE) for i in range(0, len(pcm), step)
        )
    spans: Spans = []
    start = None
    for index, is_speech in enumerate([*voiced, False]):
        moment = index * VAD_FRAME_SECONDS
        if is_speech and start is None:
            start = moment
        elif not is_speech and start is not None:
            spans.append((start, moment))
            start = None
    return _bridged(spans, MIN_PAUSE_SECONDS)


def _bridged(spans: Spans, pause: float) -> Spans:
    merged: Spans = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] < pause:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _intersection(a: Spans, b: Spans) -> Spans:
    result: Spans = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if end > start:
            result.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return result


@dataclass(frozen=True)
class _Window:
    """A stretch of audio to embed (start, end) and the time it speaks for (owns_from, owns_to)."""

    start: float
    end: float
    owns_from: float
    owns_to: float


def _windows(spans: Spans) -> list[_Window]:
    """Each stretch of speech cut into windows of about WINDOW_SECONDS (1.07 to 2.1 s), side by
    side: the encoder reads each moment of speech once, so it costs what the speech lasts."""
    windows: list[_Window] = []
    for start, end in spans:
        length = end - start
        if length < MIN_SPAN_SECONDS:
            continue
        count = max(1, round(length / WINDOW_SECONDS))
        step = length / count
        for i in range(count):
            window_start, window_end = start + i * step, start + (i + 1) * step
            windows.append(_Window(window_start, window_end, window_start, window_end))
    return windows


def _embed(
    audio: np.ndarray,
    windows: Sequence[_Window],
    gain: float,
    on_progress: ProgressCallback | None = None,
    phone: bool = False,
) -> np.ndarray:
    """The d-vector of each window: (len(windows), 256), L2-normalised.

    Windows go through the network in batches of one length (a window's first frames are cut
    to a multiple of 0.1 s): a plain batch runs several times faster than a padded, packed one.
    Mel frames are made for one batch at a time, so memory stays flat however long the call."""
    import torch

    encoder = _encoder()
    vectors = np.zeros((len(windows), EMBEDDING_SIZE), dtype=np.float32)
    frames = [_frame_count(w) for w in windows]
    order = sorted(range(len(windows)), key=lambda i: frames[i])
    batches: list[list[int]] = []
    for index in order:
        if batches and frames[batches[-1][0]] == frames[index]:
            if len(batches[-1]) < BATCH_WINDOWS:
                batches[-1].append(index)
                continue
        batches.append([index])
    done = 0
    for batch in batches:
        length = frames[batch[0]]
        mels = []
        for index in batch:
            window = windows[index]
            samples = audio[int(window.start * SAMPLE_RATE) : int(window.end * SAMPLE_RATE)]
            mel = _mel_frames(samples * gain, phone)[-length:]
            # Only a recording under 0.1 s has fewer frames: silence in front.
            mels.append(torch.nn.functional.pad(mel, (0, 0, length - len(mel), 0)))
        with torch.inference_mode():
            vectors[batch] = encoder(torch.stack(mels)).numpy()
        done += len(batch)
        if on_progress:
            on_progress(done / len(windows))
    return vectors


def _frame_count(window: _Window) -> int:
    """The mel frames of `window` the encoder reads: a multiple of 10 (0.1 s), at least 10."""
    samples = int(window.end * SAMPLE_RATE) - int(window.start * SAMPLE_RATE)
    frames = 1 + max(samples, FFT_SIZE // 2 + 1) // HOP
    return max(10, frames - frames % 10)


# --- Clustering ----------------------------------------------------------------------------------


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-8)


def _centred(vectors: np.ndarray) -> np.ndarray:
    """The vectors less their mean, normalised: every d-vector of a call shares a large part
    (same line, same room; espeak's voices one synthesiser), and without it voices stand apart.
    Used to cluster and assign only; a voice's centroid stays a plain d-vector (voice prints)."""
    return _normalised(vectors - vectors.mean(axis=0))


def _refined_affinity(vectors: np.ndarray) -> np.ndarray:
    """Cosine affinity refined as in Wang et al. 2018 (LSTM d-vector spectral clustering): each
    row keeps its strongest links, made symmetric, then diffused."""
    affinity = np.clip(vectors @ vectors.T, 0.0, 1.0)
    count = len(affinity)
    keep = max(2, int(round(count * 0.15)))
    threshold = -np.partition(-affinity, keep - 1, axis=1)[:, keep - 1 : keep]
    pruned = np.where(affinity >= threshold, affinity, affinity * 0.01)
    symmetric = np.maximum(pruned, pruned.T)
    diffused = symmetric @ symmetric.T
    diffused = diffused / np.maximum(diffused.max(axis=1, keepdims=True), 1e-8)
    return (diffused + diffused.T) / 2


def _spectral_embedding(points: np.ndarray) -> np.ndarray:
    """The eigenvectors of the normalised Laplacian of the refined affinity, smallest first (at
    most MAX_VOICES of them): spectral clustering runs k-means on their first k columns."""
    affinity = _refined_affinity(points)
    scale = 1.0 / np.sqrt(np.maximum(affinity.sum(axis=1), 1e-8))
    laplacian = np.eye(len(points)) - scale[:, None] * affinity * scale[None, :]
    _, vectors = np.linalg.eigh(laplacian)
    return vectors[:, :MAX_VOICES]


def _kmeans(points: np.ndarray, k: int, tries: int = 10, steps: int = 100) -> np.ndarray:
    """Lloyd's k-means from k-means++ seeds, the best of `tries` (seeded: the same call gives the
    same voices). A few thousand points: milliseconds."""
    rng = np.random.default_rng(0)
    best_labels, best_cost = np.zeros(len(points), dtype=int), np.inf
    for _ in range(tries):
        centres = [points[rng.integers(len(points))]]
        for _ in range(1, k):
            distance = np.min([((points - c) ** 2).sum(axis=1) for c in centres], axis=0)
            total = distance.sum()
            pick = rng.choice(len(points), p=distance / total) if total > 0 else 0
            centres.append(points[pick])
        centres = np.array(centres)
        labels = np.zeros(len(points), dtype=int)
        for step in range(steps):
            distance = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
            new_labels = distance.argmin(axis=1)
            if step and (new_labels == labels).all():
                break
            labels = new_labels
            for c in range(k):
                if (labels == c).any():
                    centres[c] = points[labels == c].mean(axis=0)
        cost = float(((points - centres[labels]) ** 2).sum())
        if cost < best_cost:
            best_labels, best_cost = labels, cost
    return best_labels


def _centroids(vectors: np.ndarray, labels: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    centroids = np.zeros((k, vectors.shape[1]), dtype=np.float64)
    for label in range(k):
        members = labels == label
        if members.any():
            centroids[label] = (vectors[members] * weights[members, None]).sum(axis=0)
    return _normalised(centroids)


def _cohesion(points: np.ndarray, labels: np.ndarray, weights: np.ndarray, k: int) -> float:
    """How close the points lie to their cluster's centroid: the weighted cosine similarity."""
    centroids = _centroids(points, labels, weights, k)
    return float((np.einsum("ij,ij->i", points, centroids[labels]) * weights).sum())


def _partition(points: np.ndarray, weights: np.ndarray, spectral: np.ndarray, k: int) -> np.ndarray:
    """`k` clusters of the points: spectral clustering or k-means on the points themselves,
    whichever holds its clusters tighter (spectral clustering can split a voice in two when two
    others are alike; k-means then keeps them apart)."""
    if k == 1:
        return np.zeros(len(points), dtype=int)
    candidates = [_kmeans(_normalised(spectral[:, :k]), k), _kmeans(points, k)]
    return max(candidates, key=lambda labels: _cohesion(points, labels, weights, k))


def _distinct(
    vectors: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    k: int,
    pitch_of: Callable[[np.ndarray], float | None] | None = None,
    same_voice: float = SAME_VOICE_SIMILARITY,
) -> bool:
    """Whether `k` clusters are `k` voices: no two centroids `same_voice` alike or more, as one
    voice heard twice (unless their pitches, `pitch_of(members)` in Hz, set them apart), and
    each holds enough speech to be someone's."""
    shares = np.bincount(labels, weights=weights, minlength=k)
    least = max(MIN_VOICE_SECONDS, min(MIN_VOICE_SHARE * shares.sum(), MAX_VOICE_FLOOR_SECONDS))
    if shares.min() < least or np.bincount(labels, minlength=k).min() < 2:
        return False
    similarity = _centroids(vectors, labels, weights, k)
    similarity = similarity @ similarity.T

    @functools.cache
    def pitch(cluster: int) -> float | None:
        return pitch_of(np.flatnonzero(labels == cluster)) if pitch_of else None

    for a, b in zip(*np.triu_indices(k, 1), strict=True):
        if similarity[a, b] < same_voice:
            continue
        low, high = pitch(int(a)), pitch(int(b))
        if low is None or high is None or semitones(low, high) < DISTINCT_PITCH_SEMITONES:
            return False
    return True


def _pieces(windows: Sequence[_Window]) -> list[list[int]]:
    """Windows grouped into pieces of one stretch of speech, each at most PIECE_SECONDS: a piece
    is almost always one voice (voices change at pauses), and its mean d-vector is steadier
    than a window's."""
    pieces: list[list[int]] = []
    for index, window in enumerate(windows):
        if pieces:
            first, last = windows[pieces[-1][0]], windows[pieces[-1][-1]]
            same_stretch = window.owns_from - last.owns_to < 1e-6
            if same_stretch and window.owns_to - first.owns_from <= PIECE_SECONDS:
                pieces[-1].append(index)
                continue
        pieces.append([index])
    return pieces


def _viterbi(similarity: np.ndarray, penalties: np.ndarray) -> np.ndarray:
    """The voice of each window (rows in time order) maximising the summed similarity minus
    penalties[t] for a change of voice between windows t-1 and t."""
    count, k = similarity.shape
    score = similarity[0].copy()
    back = np.zeros((count, k), dtype=np.int32)
    for t in range(1, count):
        best = int(np.argmax(score))
        switch = score[best] - penalties[t]
        back[t] = np.where(score >= switch, np.arange(k), best)
        score = np.maximum(score, switch) + similarity[t]
    path = np.zeros(count, dtype=int)
    path[-1] = int(np.argmax(score))
    for t in range(count - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _cluster(
    vectors: np.ndarray,
    windows: Sequence[_Window],
    speakers: int | None,
    pitch_of: Callable[[Sequence[_Window]], float | None] | None = None,
    same_voice: float = SAME_VOICE_SIMILARITY,
    window_pitch: Callable[[], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The voice of every window (time order) and the voices' centroids (plain d-vectors).
    `pitch_of(windows)`: the pitch of the speech in those windows, telling apart voices the
    encoder hears alike; `same_voice`: how alike two clusters of one voice can be;
    `window_pitch()`: each window's own pitch in Hz (NaN: unvoiced), see window_pitches(); asked
    for only where there are voices to tell apart."""
    weights = np.array([w.owns_to - w.owns_from for w in windows])
    pieces = _pieces(windows)
    # Short pieces make noisy d-vectors that cluster together as a voice of their own: they are
    # left out of the clustering (while enough others remain) and get their voice afterwards.
    long_enough = [p for p in pieces if weights[p].sum() >= MIN_PIECE_SECONDS]
    if len(long_enough) >= max(3, len(pieces) // 4):
        pieces = long_enough
    if len(pieces) > MAX_CLUSTERED:
        chosen = np.linspace(0, len(pieces) - 1, MAX_CLUSTERED).round().astype(int)
        pieces = [pieces[i] for i in np.unique(chosen)]
    piece_vectors = _normalised(np.array([(vectors[p] * weights[p, None]).sum(0) for p in pieces]))
    # The same words said the same way (a synthetic voice repeating a sentence) give one d-vector
    # again and again: counted once, or the repeats would cluster as a voice of their own.
    kept = _unrepeated(piece_vectors)
    pieces, piece_vectors = [pieces[i] for i in kept], piece_vectors[kept]
    piece_weights = np.array([weights[p].sum() for p in pieces])
    points = _centred(piece_vectors)
    spectral = _spectral_embedding(points) if len(pieces) > 2 else points
    most = min(MAX_VOICES, len(pieces))

    def members_pitch(members: np.ndarray) -> float | None:
        return pitch_of([windows[i] for m in members for i in pieces[m]])

    pitched = members_pitch if pitch_of else None

    if speakers is not None:
        k = min(speakers, most)
        labels = _partition(points, piece_weights, spectral, k)
    else:
        # More voices while the clusters stay distinct voices. Where two clusters are not two
        # voices, three are tried too: with three voices alike, the best two clusters can each
        # hold a mix (one voice heard twice, to the test) while three are the three voices
        # (diar_three_c). Past two voices found, a few pieces can make small clusters that pass
        # the test by chance: there the first count that fails ends the search.
        k, labels = 1, np.zeros(len(pieces), dtype=int)
        for more in range(2, most + 1):
            if more > k + (2 if k == 1 else 1):
                break
            candidate = _partition(points, piece_weights, spectral, more)
            if _distinct(
                piece_vectors, candidate, piece_weights, more, pitched, same_voice=same_voice
            ):
                k, labels = more, candidate
    if k == 1:
        return np.zeros(len(windows), dtype=int), _centroids(
            vectors, np.zeros(len(windows), int), weights, 1
        )
    # Every window to its nearest voice (centred d-vectors), changes of voice cheap at a pause
    # and dear inside a stretch of speech; the centroids then made again from every window.
    centred = _centred(vectors)
    centres = _centroids(
        centred, _nearest(centred, _centroids(points, labels, piece_weights, k)), weights, k
    )
    penalties = np.array(
        [SWITCH_PENALTY]
        + [
            PAUSE_SWITCH_PENALTY if b.owns_from - a.owns_to > 1e-6 else SWITCH_PENALTY
            for a, b in zip(windows, windows[1:], strict=False)
        ]
    )
    full = _nearest(centred, centres)
    pitches = window_pitch() if window_pitch else None
    for _ in range(2):
        similarity = centred @ centres.T - _pitch_cost(pitches, full, k)
        full = _viterbi(similarity, penalties)
        if speakers is not None and len(np.unique(full)) < k:
            # A given count is kept: no smoothing may swallow a voice.
            full = np.argmax(similarity, axis=1)
            break
        centres = _centroids(centred, full, weights, k)
    return full, _centroids(vectors, full, weights, k)


def _pitch_cost(window_pitch: np.ndarray | None, voices: np.ndarray, k: int) -> np.ndarray:
    """(windows, k): the similarity a window loses to a voice whose pitch is not its own. A
    voice's pitch is the median of its windows' (by `voices`), its spread the windows' median
    distance from their voices' pitch (at least MIN_PITCH_SPREAD semitones); the cost grows
    with the square of the distance in spreads, up to PITCH_CAP_SPREADS: voices pitched far
    apart pull their windows apart, voices pitched alike hardly at all."""
    cost = np.zeros((len(voices), k))
    if window_pitch is None:
        return cost
    voiced = ~np.isnan(window_pitch)
    scale = 12 * np.log2(window_pitch[voiced])
    centres = np.full(k, np.nan)
    for voice in range(k):
        members = voices[voiced] == voice
        if members.sum() >= 3:
            centres[voice] = np.median(scale[members])
    own = centres[voices[voiced]]
    if np.isnan(centres).all() or np.isnan(own).all():
        return cost
    spread = max(MIN_PITCH_SPREAD, float(np.nanmedian(np.abs(scale - own))))
    apart = np.minimum(np.abs(scale[:, None] - centres[None, :]) / spread, PITCH_CAP_SPREADS)
    cost[voiced] = PITCH_WEIGHT * np.nan_to_num(apart, nan=0.0) ** 2 / 2
    return cost


def _unrepeated(vectors: np.ndarray) -> list[int]:
    """Indices of the vectors, less those nearly identical to one before them."""
    kept: list[int] = []
    for index, vector in enumerate(vectors):
        if not kept or float(np.max(vectors[kept] @ vector)) < REPEAT_SIMILARITY:
            kept.append(index)
    return kept


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return np.argmax(points @ centres.T, axis=1)


# --- Diarization ---------------------------------------------------------------------------------


def diarize(
    audio: np.ndarray,
    *,
    speakers: int | None = None,
    speech: Spans | None = None,
    words: Spans | None = None,
    on_progress: ProgressCallback | None = None,
    threads: int = 0,
) -> Diarization:
    """Who speaks when in `audio` (16 kHz mono float32): `speakers` voices, or 1..6 found.

    `speech`: where the caller heard speech (the engine's VAD), used where webrtcvad hears none.
    `words`: the transcript's words (start, end): sound between them is nobody's voice.
    `on_progress(fraction)`: the share done, 0..1 (embedding is most of the work).
    `threads`: CPU threads for the encoder (0: torch's setting, every core); a worker that
    shares the machine passes its share, as its engine does."""
    if speakers is not None and not 1 <= speakers <= MAX_VOICES:
        raise ValueError(f"speakers must be 1 to {MAX_VOICES}, not {speakers}")
    with _torch_threads(threads):
        return _diarize(audio, speakers, speech, words, on_progress)


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """torch's thread count for a while, then back (the process-wide setting is the engine's)."""
    if threads <= 0:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _diarize(
    audio: np.ndarray,
    speakers: int | None,
    speech: Spans | None,
    words: Spans | None,
    on_progress: ProgressCallback | None,
) -> Diarization:
    duration = len(audio) / SAMPLE_RATE
    spans = speech_spans(audio)
    if not spans and speech:
        # The engine's voice-activity detection is coarser, and on a phone line it missed half
        # the speech webrtcvad hears (the benchmark's phone calls): used only where webrtcvad
        # heard nothing.
        spans = _bridged([tuple(s) for s in speech], MIN_PAUSE_SECONDS)
    if words:
        said = _bridged(
            [(max(0.0, a - WORD_MARGIN_SECONDS), b + WORD_MARGIN_SECONDS) for a, b in words],
            WORD_GAP_SECONDS,
        )
        spans = _intersection(spans, said) or spans
    windows = _windows(spans)
    if not windows:
        # Too little speech for windows of their own: the whole recording is one window.
        spans = [(0.0, duration)]
        windows = [_Window(0.0, duration, 0.0, duration)]
    gain = _gain(audio, spans)
    vectors = _embed(audio, windows, gain, lambda done: on_progress and on_progress(0.9 * done))
    labels, _ = _cluster(
        vectors,
        windows,
        speakers,
        lambda chosen: speech_pitch(audio, [(w.owns_from, w.owns_to) for w in chosen]),
        same_voice=(
            PHONE_SAME_VOICE_SIMILARITY if is_narrowband(audio, spans) else SAME_VOICE_SIMILARITY
        ),
        window_pitch=lambda: window_pitches(audio, [(w.owns_from, w.owns_to) for w in windows]),
    )
    # Voices numbered by first appearance; a voice left with no window is dropped.
    order: list[int] = []
    for label in labels:
        if label not in order:
            order.append(int(label))
    renumber = {old: new for new, old in enumerate(order)}
    turns: list[Turn] = []
    for window, label in zip(windows, labels, strict=True):
        voice = renumber[int(label)]
        last = turns[-1] if turns else None
        if last and last.voice == voice and window.owns_from - last.end < TURN_GAP_SECONDS:
            turns[-1] = Turn(last.start, window.owns_to, voice)
        else:
            turns.append(Turn(window.owns_from, window.owns_to, voice))
    turns = [Turn(round(t.start, 3), round(t.end, 3), t.voice) for t in turns]
    voices = np.array([renumber[int(label)] for label in labels])
    centroids = _voice_vectors(audio, windows, voices, len(order), gain)
    pitches = [
        speech_pitch(
            audio,
            [(w.owns_from, w.owns_to) for w, v in zip(windows, voices, strict=True) if v == voice],
        )
        for voice in range(len(order))
    ]
    if on_progress:
        on_progress(1.0)
    return Diarization(voices=len(order), turns=turns, centroids=centroids, pitches=pitches)


def _voice_vectors(
    audio: np.ndarray, windows: Sequence[_Window], voices: np.ndarray, count: int, gain: float
) -> np.ndarray:
    """Each voice's centroid as voice prints are made: from up to PRINT_WINDOWS of its windows
    (spread over the call), heard only in a phone line's band. Full-band d-vectors tell voices
    apart best within a call, but a print enrolled through a laptop's microphone is 0.80 alike
    to the same voice on a phone call full-band, 0.97 in the band (the benchmark's calls)."""
    chosen: list[int] = []
    for voice in range(count):
        members = np.flatnonzero(voices == voice)
        picks = np.linspace(0, len(members) - 1, min(len(members), PRINT_WINDOWS)).round()
        chosen.extend(members[np.unique(picks.astype(int))])
    picked = [windows[i] for i in chosen]
    vectors = _embed(audio, picked, gain, phone=True)
    weights = np.array([w.owns_to - w.owns_from for w in picked])
    return _centroids(vectors, voices[chosen], weights, count).astype(np.float32)


def attribute(segments: Iterable[Segment], diarization: Diarization) -> list[tuple[int, Segment]]:
    """Each segment's words to the voice speaking when they are said: (voice, segment) in time
    order, a segment split where the voice changes. A segment without word times goes whole to
    the voice that speaks most during it."""
    attributed: list[tuple[int, Segment]] = []
    for segment in segments:
        if not segment.words:
            attributed.append((diarization.voice_between(segment.start, segment.end), segment))
            continue
        voices = [diarization.voice_between(w.start, w.end) for w in segment.words]
        runs: list[tuple[int, list[Word]]] = []
        for voice, word in zip(voices, segment.words, strict=True):
            if runs and runs[-1][0] == voice:
                runs[-1][1].append(word)
            else:
                runs.append((voice, [word]))
        if len(runs) == 1:
            attributed.append((runs[0][0], segment))
            continue
        for index, (voice, words) in enumerate(runs):
            start = segment.start if index == 0 else words[0].start
            end = segment.end if index == len(runs) - 1 else words[-1].end
            piece = replace(segment, start=start, end=end, text=_joined(words), words=tuple(words))
            attributed.append((voice, piece))
    return attributed


def _joined(words: Sequence[Word]) -> str:
    """The text of `words`: engines either keep each word's leading space or strip them all."""
    if any(w.word[:1].isspace() for w in words):
        return "".join(w.word for w in words).strip()
    return " ".join(w.word.strip() for w in words if w.word.strip())


# --- Voice prints --------------------------------------------------------------------------------


def voice_print(
    audio: np.ndarray, spans: Spans | None = None, *, threads: int = 0
) -> tuple[np.ndarray, float] | None:
    """One voice's print from `audio` (16 kHz mono float32; `spans`: where that voice speaks, if
    known): the L2-normalised mean d-vector and the seconds of speech it was made from; None when
    there is less than MIN_PRINT_SECONDS of speech. `threads`: as for diarize()."""
    heard = speech_spans(audio)
    if spans is not None:
        heard = _intersection(heard, _bridged([tuple(s) for s in spans], 0.0))
    windows = _windows(heard)
    seconds = sum(w.owns_to - w.owns_from for w in windows)
    if seconds < MIN_PRINT_SECONDS:
        return None
    with _torch_threads(threads):
        vectors = _embed(audio, windows, _gain(audio, heard), phone=True)
    weights = np.array([w.owns_to - w.owns_from for w in windows])
    vector = _normalised((vectors * weights[:, None]).sum(axis=0))
    return vector.astype(np.float32), round(float(seconds), 2)


def speech_pitch(audio: np.ndarray, spans: Spans | None = None) -> float | None:
    """The median fundamental frequency (Hz) of the voiced frames of `audio` (16 kHz mono) in
    `spans` (default: where webrtcvad hears speech); None with fewer than MIN_VOICED_FRAMES."""
    if spans is None:
        spans = speech_spans(audio)
    starts, _ = _pitch_frames(spans)
    if len(starts) > PITCH_MAX_FRAMES:
        starts = starts[np.linspace(0, len(starts) - 1, PITCH_MAX_FRAMES).astype(int)]
    pitches = _frame_pitches(audio, starts)
    pitches = pitches[~np.isnan(pitches)]
    if len(pitches) < MIN_VOICED_FRAMES:
        return None
    return round(float(np.median(pitches)), 1)


def window_pitches(audio: np.ndarray, spans: Spans) -> np.ndarray:
    """The median fundamental (Hz) of each span's voiced frames, NaN where fewer than
    MIN_WINDOW_VOICED_FRAMES are voiced."""
    starts, counts = _pitch_frames(spans)
    pitches = _frame_pitches(audio, starts)
    found = np.full(len(spans), np.nan)
    # A span's frames lie together, so one split hands every span its own.
    for index, own in enumerate(np.split(pitches, np.cumsum(counts)[:-1])):
        own = own[~np.isnan(own)]
        if len(own) >= MIN_WINDOW_VOICED_FRAMES:
            found[index] = np.median(own)
    return found


def _pitch_frames(spans: Spans) -> tuple[np.ndarray, np.ndarray]:
    """The first sample of every pitch frame in `spans` (PITCH_HOP apart, span after span) and
    how many frames each span has."""
    length = PITCH_FRAME + PITCH_LAGS[1]
    starts = [
        range(int(start * SAMPLE_RATE), int(end * SAMPLE_RATE) - length, PITCH_HOP)
        for start, end in spans
    ]
    return (
        np.array([offset for offsets in starts for offset in offsets], dtype=int),
        np.array([len(offsets) for offsets in starts], dtype=int),
    )


def _frame_pitches(audio: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The fundamental (Hz) of the frame of `audio` at each of `starts`, NaN where unvoiced; 500
    frames at a time, so memory stays flat."""
    length = PITCH_FRAME + PITCH_LAGS[1]
    pitches = np.full(len(starts), np.nan)
    for batch in range(0, len(starts), 500):
        chosen = starts[batch : batch + 500]
        frames = np.stack([audio[s : s + length] for s in chosen]).astype(np.float64)
        pitches[batch : batch + 500] = _yin(frames, *PITCH_LAGS)
    return pitches


def _yin(frames: np.ndarray, shortest_lag: int, longest_lag: int) -> np.ndarray:
    """The fundamental (Hz) of each frame of `frames` (rows of PITCH_FRAME + longest_lag
    samples), NaN where unvoiced: YIN's cumulative mean normalised difference, its first dip
    under PITCH_THRESHOLD taken to its local minimum, refined by a parabola."""
    size = 1 << int(np.ceil(np.log2(2 * frames.shape[1])))
    head = np.fft.rfft(frames[:, :PITCH_FRAME], size)
    whole = np.fft.rfft(frames, size)
    cross = np.fft.irfft(np.conj(head) * whole, size)[:, : longest_lag + 1]
    squares = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(longest_lag + 1)
    shifted = squares[:, lags + PITCH_FRAME] - squares[:, lags]
    difference = squares[:, [PITCH_FRAME]] + shifted - 2 * cross
    difference[:, 0] = 0.0
    running = np.cumsum(difference[:, 1:], axis=1)
    normalised = np.ones_like(difference)
    normalised[:, 1:] = difference[:, 1:] * lags[1:] / np.maximum(running, 1e-12)
    found = np.full(len(frames), np.nan)
    # Digital silence would dip everywhere: it has no pitch.
    audible = squares[:, PITCH_FRAME] > PITCH_FRAME * SILENT_FRAME_POWER
    for index, row in enumerate(normalised):
        if not audible[index]:
            continue
        below = np.flatnonzero(row[shortest_lag:longest_lag] < PITCH_THRESHOLD)
        if not len(below):
            continue
        lag = shortest_lag + int(below[0])
        while lag + 1 < longest_lag and row[lag + 1] < row[lag]:
            lag += 1
        before, here, after = row[lag - 1], row[lag], row[lag + 1]
        bend = before - 2 * here + after
        shift = 0.5 * (before - after) / bend if bend > 0 else 0.0
        found[index] = SAMPLE_RATE / (lag + shift)
    return found


def semitones(a: float, b: float) -> float:
    """How far apart two pitches are, in semitones (12 a doubling)."""
    return abs(12 * math.log2(a / b))


def fold_pitch(pitch_a: float | None, seconds_a: float, pitch_b: float | None, seconds_b: float):
    """Two pitches of one voice as one: their mean (on the semitone scale) weighted by seconds;
    a missing one leaves the other."""
    if pitch_a is None or seconds_a <= 0:
        return pitch_b
    if pitch_b is None or seconds_b <= 0:
        return pitch_a
    log = (math.log2(pitch_a) * seconds_a + math.log2(pitch_b) * seconds_b) / (
        seconds_a + seconds_b
    )
    return round(2**log, 1)


def fold(vector_a, seconds_a: float, vector_b, seconds_b: float) -> np.ndarray:
    """Two prints of one voice as one: their mean weighted by seconds of speech, normalised."""
    a, b = np.asarray(vector_a, dtype=np.float64), np.asarray(vector_b, dtype=np.float64)
    return _normalised(a * max(seconds_a, 0.0) + b * max(seconds_b, 0.0)).astype(np.float32)


def recognise(
    diarization: Diarization,
    vector,
    threshold: float = REP_SIMILARITY,
    pitch: float | None = None,
    tolerance: float = PITCH_TOLERANCE_SEMITONES,
    teammates: Sequence = (),
) -> tuple[int | None, dict[int, float]]:
    """The voice of the call that is `vector`'s (a voice print) and every voice's cosine
    similarity to the print. The voice is the most alike one at least `threshold` alike whose
    pitch is within `tolerance` semitones of the print's `pitch`: d-vectors alone take two
    voices of one accent for one. Without a pitch (on the print, or a voice's), the closest
    voice at least `threshold` alike. A voice TEAMMATE_MARGIN or more alike to one of
    `teammates` (the prints of the team's other people) than to this print is not this
    print's: whoever it is, it sounds more like someone else."""
    if not diarization.voices:
        return None, {}
    print_ = _normalised(np.asarray(vector, dtype=np.float64))
    similarity = diarization.centroids @ print_
    scores = {voice: round(float(s), 4) for voice, s in enumerate(similarity)}
    others = _normalised(np.asarray(teammates, dtype=np.float64).reshape(-1, EMBEDDING_SIZE))
    nearest_teammate = (diarization.centroids @ others.T).max(axis=1, initial=-np.inf)
    nearer_another = nearest_teammate >= similarity + TEAMMATE_MARGIN
    voice_pitches = list(diarization.pitches) + [None] * diarization.voices
    for voice in np.argsort(-similarity):
        voice = int(voice)
        if similarity[voice] < threshold:
            break
        heard = voice_pitches[voice]
        pitch_agrees = pitch is None or heard is None or semitones(heard, pitch) <= tolerance
        if pitch_agrees and not nearer_another[voice]:
            return voice, scores
    return None, scores
