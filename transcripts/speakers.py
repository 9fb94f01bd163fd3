"""The two speakers of a dual-channel call. Which channel holds whom is found by
transcripts.speech.channels; these are the names the portal gives them."""

from __future__ import annotations

REP = "Rep"
CUSTOMER = "Customer"
ROLES = (REP, CUSTOMER)


def role(channel: int | None, rep_channel: int) -> str:
    """The role of a channel of a dual-channel call ("Rep" or "Customer"); "" for none."""
    if channel is None:
        return ""
    return REP if channel == rep_channel else CUSTOMER


# Speakers told apart by voice on a mono call (speech/diarization.py): at most this many.
MAX_SPEAKERS = 6


def voice_label(voice: int, *, rep_voice: int | None, voices: int, rep_name: str = "") -> str:
    """The default name of voice `voice` (0-based, numbered by first appearance) on a call whose
    speakers were told apart by voice: the rep (by name when known), then "Customer" or
    "Customer 1", "Customer 2"...; "Speaker 1", "Speaker 2"... when no voice is the rep's."""
    if rep_voice is None:
        return f"Speaker {voice + 1}"
    if voice == rep_voice:
        return rep_name or REP
    if voices <= 2:
        return CUSTOMER
    # Customers numbered 1, 2... in the order they were first heard, the rep left out.
    return f"{CUSTOMER} {voice + (voice < rep_voice)}"


def person_name(user) -> str:
    """How the portal names a team member in a transcript."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()
