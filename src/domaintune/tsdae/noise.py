"""TSDAE's input noise: word deletion.

Written here rather than taken from sentence-transformers' `DenoisingAutoEncoderDataset.delete` because that one
tokenises with nltk's `word_tokenize`, which needs the punkt model downloaded at run time (no network here, and
nltk is not otherwise a dependency). Words are split on whitespace instead; the deletion itself is the original's:
each word is deleted with probability `ratio` (0.6 in the TSDAE paper), and at least one word is always kept.
(The example in sentence-transformers' loss docstring keeps each word with probability `ratio`, i.e. deletes 40%
at ratio 0.6; the paper and the original dataset class delete 60%.)
"""

from __future__ import annotations

import random


def delete_words(text: str, ratio: float, rng: random.Random) -> str:
    words = text.split()
    if not words:
        return text
    kept = [w for w in words if rng.random() >= ratio]
    return " ".join(kept) if kept else rng.choice(words)


def noisy_copies(texts: list[str], ratio: float, seed: int) -> list[str]:
    """One damaged copy of each text, seeded: the same noise on every process and on a resumed run."""
    rng = random.Random(seed)
    return [delete_words(t, ratio, rng) for t in texts]
