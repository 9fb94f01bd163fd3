"""Synthetic voices for the speaker tests: espeak-ng reading a text, and the stereo call's two
voices mixed into one channel, as Zoom, Meet and many dialers record."""

from __future__ import annotations

import subprocess
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
STEREO = FIXTURES / "stereo_call.mp3"

# The stereo call's rep speaks with this voice (tests/fixtures/make_stereo_call.py).
REP_VOICE = ("en-us", 165)
# Someone who is not on the call: a voice unlike both of the call's.
STRANGER_VOICE = ("en-gb-scotland+m3", 140)

ENROLMENT_TEXT = (
    "Hello, this is my voice for the call portal. I usually open a call by asking how the week "
    "is going, then I walk through what the customer told us last time and what we agreed to "
    "look at today. After that I show the product, answer questions about pricing and the "
    "contract, and we close by booking the next step together with a date in the calendar."
)


def speak(path: Path, text: str, voice: tuple[str, int]) -> Path:
    """`text` read by espeak-ng's `voice` (name, words per minute), as a WAV file."""
    name, speed = voice
    subprocess.run(["espeak-ng", "-v", name, "-s", str(speed), "-w", str(path), text], check=True)
    return path


def mix_to_mono(source: Path, path: Path) -> Path:
    """A recording with every channel mixed into one, as an MP3."""
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-ac", "1", "-b:a", "48k"]
        + [str(path)],
        check=True,
    )
    return path
