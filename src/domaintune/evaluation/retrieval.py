"""Retrieval: each query should find its relevant document among the whole corpus.

For job titles: an alternative label of a held-out concept is the query; its preferred label, among the
preferred labels of all concepts, is the answer. Metrics: MRR@10, Recall@1, Recall@10, MAP.
"""

from __future__ import annotations

from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator


class RetrievalEvaluator:
    primary_metric = "mrr@10"
    greater_is_better = True

    def __init__(self, queries: dict, corpus: dict, relevant: dict, name: str = "retrieval", batch_size: int = 64):
        self.name = name
        self.n_queries, self.n_corpus = len(queries), len(corpus)
        self._st = InformationRetrievalEvaluator(
            queries, corpus, relevant, name=name, batch_size=batch_size, show_progress_bar=False,
            mrr_at_k=[10], ndcg_at_k=[10], accuracy_at_k=[1, 10], precision_recall_at_k=[1, 10],
            map_at_k=[100], score_functions=None,
        )

    def __call__(self, model) -> dict[str, float]:
        out = self._st(model)
        pick = lambda key: float(next(v for k, v in out.items() if k.endswith(key)))  # noqa: E731
        return {"mrr@10": pick("_mrr@10"), "recall@1": pick("_recall@1"), "recall@10": pick("_recall@10"),
                "map": pick("_map@100")}
