"""Retrieval judged on the user's own data, as an evaluator of the shared contract (core/evaluator.py), and the
side-by-side table of `domaintune evaluate MODEL --retrieval DIR`: BM25, the model, and their hybrid."""

from __future__ import annotations

import logging

from domaintune.core.evaluator import EvalResult, Evaluator
from domaintune.retrieval import search
from domaintune.retrieval.data import RetrievalData

log = logging.getLogger("domaintune")


class JudgedRetrievalEvaluator(Evaluator):
    """nDCG@10 (primary), MAP@100, MRR@10, Recall@10 / @100 of a model's dense run on one split's judged queries."""

    primary_metric = search.PRIMARY
    greater_is_better = True

    def __init__(self, data: RetrievalData, split: str, name: str | None = None, batch_size: int = 32,
                 query_prompt: str | None = None, document_prompt: str | None = None):
        self.data, self.split, self.name = data, split, name or f"retrieval_{split}"
        self.qrels = data.split(split)
        self.query_ids = sorted(self.qrels)
        self.batch_size, self.query_prompt, self.document_prompt = batch_size, query_prompt, document_prompt

    def evaluate(self, model) -> EvalResult:
        run, timing = search.dense_run(model, self.data, self.query_ids, batch_size=self.batch_size,
                                       query_prompt=self.query_prompt, document_prompt=self.document_prompt)
        return EvalResult(search.score(self.qrels, run), {"run": run, "timing": timing})


def compare_systems(data: RetrievalData, split: str, models: dict, hybrid: bool = True, batch_size: int = 32,
                    query_prompt: str | None = None, document_prompt: str | None = None) -> dict[str, dict]:
    """{system: {metric: value, "seconds": to index and search, "query_ms": per query}}: BM25, each model, and
    (with `hybrid`) BM25 fused with each model by reciprocal rank, all on the same judged queries of `split`."""
    qrels = data.split(split)
    query_ids = sorted(qrels)
    row = lambda run, t: {**search.score(qrels, run), "seconds": round(t["total"], 2),  # noqa: E731
                          "query_ms": round(1000 * t["queries"] / max(1, len(query_ids)), 2)}
    bm25, t_bm25 = search.bm25_run(data, query_ids)
    table = {"bm25": row(bm25, t_bm25)}
    log.info("bm25: %s", table["bm25"])
    for name, model in models.items():
        run, t_dense = search.dense_run(model, data, query_ids, batch_size=batch_size, query_prompt=query_prompt,
                                        document_prompt=document_prompt)
        table[name] = row(run, t_dense)
        log.info("%s: %s", name, table[name])
        if hybrid:
            fused, t_fuse = search.fuse([bm25, run])
            both = {k: t_bm25[k] + t_dense[k] + (t_fuse if k != "index" else 0) for k in ("index", "queries", "total")}
            table[f"hybrid (bm25 + {name})"] = row(fused, both)
    return table
