"""Shorter embeddings on request (`dimensions`: OpenAI's parameter, TEI's, `embed --dimensions`), one rule for
every place that takes it: a model trained with Matryoshka dims (embedding/matryoshka.py) is cut to the first d
numbers and renormalised; any other model is refused, since its first d numbers are not an embedding."""

from __future__ import annotations

import numpy as np

from domaintune.errors import DomaintuneError


def check_dimensions(requested: int | None, full: int, trained: list[int], model: str) -> int | None:
    """None when the full embedding is wanted; else the dimension to cut to. Refused (DomaintuneError) beyond the
    model's dimension, below 1, or on a model not trained for shorter embeddings."""
    if requested is None or requested == full:
        return None
    if requested < 1 or requested > full:
        raise DomaintuneError(f"dimensions: {requested} is outside 1-{full} (model '{model}' gives {full})")
    if not trained:
        raise DomaintuneError(f"dimensions: model '{model}' was not trained for shorter embeddings (train it with "
                              f"training.matryoshka_dims); ask for {full} or leave dimensions out")
    return requested


def cut_embeddings(embeddings: np.ndarray, dims: int) -> np.ndarray:
    """The first `dims` numbers of each embedding, renormalised to unit length."""
    cut = np.asarray(embeddings, dtype=np.float32)[:, :dims]
    return cut / np.maximum(np.linalg.norm(cut, axis=1, keepdims=True), 1e-12)
