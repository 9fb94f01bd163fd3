"""Decoding with PyAV: real recordings decode, hostile files give a message a person reads."""

import subprocess
import wave

import numpy as np
import pytest

from transcripts.speech import audio
from transcripts.speech.base import TranscriptionError


@pytest.fixture
def noaudio_video(tmp_path):
    path = tmp_path / "screen.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=64x64:d=1",
            str(path),
        ],
        check=True,
    )
    return path


def test_it_decodes_mp3_to_16khz_mono_floats(speech_sample):
    samples = audio.decode(speech_sample)
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert len(samples) / 16_000 == pytest.approx(29.7, abs=0.1)
    assert 0.1 < np.abs(samples).max() <= 1.0


def test_it_probes_without_decoding_everything(speech_sample):
    info = audio.probe(speech_sample)
    assert info.format_name == "mp3"
    assert info.channels == 1
    assert info.duration == pytest.approx(29.7, abs=0.1)


def test_it_keeps_stereo_channels_apart_when_asked(tmp_path, speech_sample):
    stereo = tmp_path / "stereo.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-i",
            str(speech_sample),
            "-af",
            "pan=stereo|c0=c0|c1=0*c0",
            str(stereo),
        ],
        check=True,
    )
    samples = audio.decode(stereo, mono=False)
    assert samples.shape[0] == 2
    assert np.abs(samples[0]).max() > 0.1
    assert np.abs(samples[1]).max() < 0.01


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", audio.EMPTY_FILE),
        (b"Hello, this is a text file renamed to mp3.\n" * 20, audio.NOT_AUDIO),
        (bytes(range(256)) * 64, audio.NOT_AUDIO),
    ],
    ids=["empty", "text", "random"],
)
def test_it_refuses_what_is_not_audio(tmp_path, content, message):
    path = tmp_path / "call.mp3"
    path.write_bytes(content)
    with pytest.raises(TranscriptionError, match=message):
        audio.probe(path)
    with pytest.raises(TranscriptionError, match=message):
        audio.decode(path)


def test_it_says_when_a_video_has_no_audio_track(noaudio_video):
    with pytest.raises(TranscriptionError, match=audio.NO_AUDIO_TRACK):
        audio.probe(noaudio_video)


def test_it_keeps_the_readable_part_of_a_truncated_file(tmp_path, speech_sample):
    truncated = tmp_path / "cut.mp3"
    truncated.write_bytes(speech_sample.read_bytes()[:40_000])
    samples = audio.decode(truncated)
    assert 3 < len(samples) / 16_000 < 10


def test_it_stops_decoding_past_the_length_limit(speech_sample):
    with pytest.raises(TranscriptionError, match="longer than"):
        audio.decode(speech_sample, max_seconds=10)


def multitrack_wav(path, speech_sample, channels: int) -> np.ndarray:
    """A multitrack recorder's export: the rep's mic on the first track, the customer's (the
    speech played backwards, quieter) on the last, the others silent. WAV channels with no
    speaker positions, as such recorders write them. Returns the 16-bit samples written."""
    speech = audio.decode(speech_sample)[: 16_000 * 5]
    tracks = np.zeros((len(speech), channels), dtype=np.int16)
    tracks[:, 0] = np.round(speech * 32767)
    tracks[:, -1] = np.round(speech[::-1] * 0.5 * 32767)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(tracks.tobytes())
    return tracks


@pytest.mark.parametrize("channels", [9, 32])
def test_it_mixes_a_multitrack_recording_ffmpeg_cannot_mix(tmp_path, speech_sample, channels):
    # FFmpeg mixes unnamed channels only in counts it has a standard arrangement for (8, 12...):
    # these failed in the worker as "damaged or truncated", after the upload was accepted.
    path = tmp_path / "multitrack.wav"
    tracks = multitrack_wav(path, speech_sample, channels)
    assert audio.probe(path).channels == channels
    expected = tracks.mean(axis=1) / 32768
    mono = audio.decode(path)
    assert mono.shape == expected.shape
    np.testing.assert_allclose(mono, expected, atol=1 / 32768)
    # The worker asks for two channels; unnamed, none is known to be anyone's: all are mixed.
    limits = audio.Limits(seconds=30, memory_mb=512)
    kept = audio.decode(path, mono=False, limits=limits)
    assert kept.shape == (1, len(expected))
    np.testing.assert_allclose(kept[0], expected, atol=1 / 32768)


def test_it_refuses_at_upload_channels_it_cannot_mix(tmp_path, speech_sample, monkeypatch):
    # Should FFmpeg (or our own mix) fail on some arrangement, the upload is refused at once
    # with what to do, never accepted and later called damaged.
    path = tmp_path / "multitrack.wav"
    multitrack_wav(path, speech_sample, 32)
    monkeypatch.setattr(audio, "_ffmpeg_can_mix", lambda codec_context, layout: True)
    message = audio.CANNOT_MIX.format(count=32)
    assert "32 channels" in message and "mono or stereo" in message
    with pytest.raises(TranscriptionError) as refused:
        audio.probe(path)
    assert str(refused.value) == message
    with pytest.raises(TranscriptionError) as failed:
        audio.decode(path, mono=False)
    assert str(failed.value) == message
