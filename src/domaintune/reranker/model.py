"""A trained reranker as a predictor (core.contract, output kind SCORES): (query, text) pairs -> one relevance
score each, through sentence-transformers' CrossEncoder. Not exportable yet (deploy has no SCORES graph)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domaintune.core.contract import OutputKind, Predictor

MARKER = "domaintune_reranker.json"  # written into a reranker run's model folder (registry.model_task)


class Reranker(Predictor):
    output_kind = OutputKind.SCORES
    graph_output = "score"

    def __init__(self, path: str | Path, max_length: int | None = None):
        from domaintune.models import load_cross_encoder

        self.path = str(path)
        self.model = load_cross_encoder(self.path, max_length)
        self.tokenizer, self.max_length = self.model.tokenizer, self.model.max_length

    def predict(self, texts: list, batch_size: int = 64) -> np.ndarray:
        """`texts`: (query, text) pairs; one score each, higher = more relevant."""
        pairs = [tuple(p) for p in texts]
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self.model.predict(pairs, batch_size=batch_size, show_progress_bar=False),
                          dtype=np.float32)

    def rank(self, query: str, texts: list[str], batch_size: int = 64) -> list[dict]:
        """[{"index", "score"}] of `texts` for `query`, best first."""
        scores = self.predict([(query, t) for t in texts], batch_size)
        return [{"index": i, "score": float(scores[i])} for i in sorted(range(len(texts)), key=lambda i: -scores[i])]

    @property
    def metadata(self) -> dict:
        return {"task": "reranker", "path": self.path, "backend": "torch", "precision": "fp32"}
