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
