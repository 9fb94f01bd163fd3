"""Which words Whisper was unsure of: marked in the transcript and in the JSON export.

Plain Python with no Django import, shared by the transcript page and the exports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# A word below this probability is marked. tiny.en gives most correctly heard words 0.8 or more;
# under 0.5 it is wrong about as often as right on the benchmark corpus.
LOW_PROBABILITY = 0.5


def _field(word: Any, key: str) -> Any:
    return word.get(key) if isinstance(word, Mapping) else getattr(word, key, None)


def is_low(word: Any) -> bool:
    probability = _field(word, "probability")
    return probability is not None and float(probability) < LOW_PROBABILITY


def marked_pieces(text: str, words: Sequence[Any]) -> list[tuple[str, float | None]]:
    """`text` cut into pieces, each with the probability of the low-confidence word it is, or
    None for the text between them. Words are found in the text in order, so the text is shown
    exactly as it is ("$50,000" stays whole); a word not found is not marked."""
    pieces: list[tuple[str, float | None]] = []
    position = 0
    for word in words:
        spelled = str(_field(word, "word") or "").strip()
        if not spelled or not is_low(word):
            continue
        found = text.find(spelled, position)
        if found < 0:
            continue
        if found > position:
            pieces.append((text[position:found], None))
        pieces.append((spelled, float(_field(word, "probability"))))
        position = found + len(spelled)
    if position < len(text):
        pieces.append((text[position:], None))
    return pieces
