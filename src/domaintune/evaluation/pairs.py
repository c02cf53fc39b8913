"""Pearson and Spearman correlation of cosine similarity with gold scores (STS-style)."""

from __future__ import annotations

import pandas as pd
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator


class PairSimilarityEvaluator:
    primary_metric = "spearman"
    greater_is_better = True

    def __init__(self, pairs: pd.DataFrame, name: str, batch_size: int = 64):
        self.name = name
        self.n = len(pairs)
        # sentence-transformers' evaluator: the published MTEB STSb figures come from the same code
        self._st = EmbeddingSimilarityEvaluator(
            pairs["text_a"].tolist(), pairs["text_b"].tolist(), pairs["score"].astype(float).tolist(),
            batch_size=batch_size, name=name, show_progress_bar=False,
        )

    def __call__(self, model) -> dict[str, float]:
        out = self._st(model)
        return {"spearman": float(out[f"{self.name}_spearman_cosine"]),
                "pearson": float(out[f"{self.name}_pearson_cosine"])}

    @property
    def st_evaluator(self):
        """The underlying sentence-transformers evaluator (used for validation during training)."""
        return self._st
