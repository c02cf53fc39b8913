"""A reranker as a predictor of the task contract (core/contract.py, output kind SCORES): (query, text) pairs ->
one raw relevance score each (the cross-encoder's logit; higher = more relevant; `activation` in served_info says
what turns it into a 0-1 score). `Reranker` runs sentence-transformers' CrossEncoder; `ExportedReranker` runs an
exported graph (deploy/runtime.py) and imports no torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domaintune.core.contract import OutputKind, Predictor

MARKER = "domaintune_reranker.json"  # written into a reranker run's model folder (registry.model_task)


class RerankerPredictor(Predictor):
    """What both rerankers share: the output kind, ranking, what /models shows, and the export agreement."""

    output_kind = OutputKind.SCORES
    graph_output = "`score` [batch]: the raw relevance score (logit) of each (query, text) pair"
    activation: str  # "sigmoid" or "identity": what turns a raw score into the model's own 0-1 (or raw) score

    def rank(self, query: str, texts: list[str], batch_size: int = 64) -> list[dict]:
        """[{"index", "score"}] of `texts` for `query`, best first (raw scores)."""
        scores = self.predict([(query, t) for t in texts], batch_size)
        return [{"index": i, "score": float(scores[i])} for i in sorted(range(len(texts)), key=lambda i: -scores[i])]

    def served_info(self) -> dict:
        return {"activation": self.activation}

    def agreement(self, exported: RerankerPredictor, texts: list[str]) -> dict:
        """Raw scores of text pairs (the first half of `texts` against the second: the STS benchmark's pairs),
        torch vs export: the largest and the mean absolute difference, and the Spearman correlation of the two."""
        from scipy.stats import spearmanr

        half = len(texts) // 2
        pairs = list(zip(texts[:half], texts[half:2 * half], strict=True))
        a, b = self.predict(pairs, 32), exported.predict(pairs, 32)
        diff = np.abs(a - b)
        return {"pairs": len(pairs), "max_abs_diff": round(float(diff.max()), 5),
                "mean_abs_diff": round(float(diff.mean()), 6), "spearman": round(float(spearmanr(a, b)[0]), 6)}

    @classmethod
    def from_export(cls, graph, tokenizer, meta: dict, info: dict) -> ExportedReranker:
        return ExportedReranker(graph, tokenizer, meta, info)


class Reranker(RerankerPredictor):
    """A saved reranker (or any cross-encoder) through sentence-transformers' CrossEncoder."""

    def __init__(self, path: str | Path, max_length: int | None = None):
        import torch

        from domaintune.models import load_cross_encoder

        self.path = str(path)
        self.model = load_cross_encoder(self.path, max_length)
        self.tokenizer, self.max_length = self.model.tokenizer, self.model.max_length
        self.activation = "sigmoid" if isinstance(self.model.activation_fn, torch.nn.Sigmoid) else "identity"
        self._identity = torch.nn.Identity()

    def predict(self, texts: list, batch_size: int = 64, **_) -> np.ndarray:
        """`texts`: (query, text) pairs; one raw score each."""
        pairs = [tuple(p) for p in texts]
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self.model.predict(pairs, batch_size=batch_size, show_progress_bar=False,
                                             activation_fn=self._identity), dtype=np.float32).reshape(-1)

    @property
    def metadata(self) -> dict:
        return {"task": "reranker", "path": self.path, "backend": "torch", "precision": "fp32"}

    # ------------------------------------------------------------------ export (deploy/export.py)
    def export_graph(self):
        from domaintune.reranker.graph import PairScoreGraph

        hf = self.model.model
        types = "token_type_ids" in self.tokenizer.model_input_names and getattr(hf.config, "type_vocab_size", 1) > 1
        return PairScoreGraph(hf, self.tokenizer.sep_token_id if types else None)

    def export_meta(self) -> dict:
        return {"max_length": self.max_length, "activation": self.activation, "truncation": "longest_first"}


class ExportedReranker(RerankerPredictor):
    """(query, text) pairs -> raw scores through an exported graph: the CrossEncoder's tokenising (pairs,
    longest-first truncation), no torch."""

    def __init__(self, graph, tokenizer, meta: dict, info: dict):
        self.graph, self.tokenizer, self.info = graph, tokenizer, info
        self.max_length, self.activation = meta["max_length"], meta.get("activation", "sigmoid")

    def predict(self, texts: list, batch_size: int = 32, **_) -> np.ndarray:
        pairs = [tuple(p) for p in texts]
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        ids = self.tokenizer([q for q, _ in pairs], [t for _, t in pairs], truncation=True,
                             max_length=self.max_length)["input_ids"]
        return self.graph.run_batches(ids, batch_size, self.tokenizer.pad_token_id or 0).reshape(-1)

    @property
    def metadata(self) -> dict:
        return {**self.info, "max_length": self.max_length}
