"""Word error rate with Whisper's English text normalizer, as Whisper's own papers score it."""

from functools import lru_cache

import jiwer


@lru_cache(maxsize=1)
def _normalizer():
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    return _normalizer()(text)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Edits turning the hypothesis into the reference, per reference word (0.0 is perfect)."""
    reference, hypothesis = normalize(reference), normalize(hypothesis)
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return jiwer.wer(reference, hypothesis or "")
