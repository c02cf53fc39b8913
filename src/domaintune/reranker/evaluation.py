"""The reranker's evaluation: rerank the first stage's top k of each judged query and score the new order with
the same code as every retrieval table (domaintune.retrieval.search.score: nDCG@10, MAP@100, MRR@10, Recall@10,
Recall@100; graded relevance as linear gains)."""

from __future__ import annotations

from domaintune.core.evaluator import EvalResult, Evaluator
from domaintune.retrieval import search


class RerankingEvaluator(Evaluator):
    """nDCG@10 (primary) and the rest of the first stage's top `top_k` reranked by a cross-encoder; details: the
    run and the milliseconds per query (query by query, as a service reranks)."""

    primary_metric = search.PRIMARY
    greater_is_better = True

    def __init__(self, data, qrels: dict, first_run: dict, top_k: int, name: str, batch_size: int = 64):
        self.data, self.qrels, self.first_run, self.top_k = data, qrels, first_run, top_k
        self.name, self.batch_size = name, batch_size
        self.query_ids = sorted(qrels)

    def evaluate(self, model) -> EvalResult:
        run, timing = search.rerank_run(model, self.data, self.first_run, self.query_ids, self.top_k,
                                        self.batch_size)
        ms = round(1000 * timing["queries"] / max(1, len(self.query_ids)), 2)
        return EvalResult(search.score(self.qrels, run), {"run": run, "ms_per_query": ms})

    def first_stage(self) -> dict[str, float]:
        """The first stage alone on the same queries: the baseline the reranker must beat."""
        return search.score(self.qrels, {q: self.first_run.get(q, {}) for q in self.query_ids})

    def fused(self, run: dict) -> dict[str, float]:
        """Reciprocal-rank fusion (ranx) of the first stage's top `top_k` and their reranked order `run`, on the
        same queries: whether the reranker adds to the first stage, where it does not beat it alone."""
        first = {q: dict(sorted(self.first_run.get(q, {}).items(), key=lambda x: -x[1])[:self.top_k])
                 for q in self.query_ids}
        fused, _ = search.fuse([first, {q: run.get(q, {}) for q in self.query_ids}])
        return search.score(self.qrels, fused)
