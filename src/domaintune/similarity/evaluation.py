"""The similarity evaluators and the before/after suite of a similarity run.

- `PairSimilarityEvaluator`: Pearson and Spearman correlation of cosine similarity with gold scores (STS-style);
- `RetrievalEvaluator`: each query should find its relevant document among the whole corpus. For job titles: an
  alternative label of a held-out concept is the query; its preferred label, among the preferred labels of all
  concepts, is the answer. Metrics: MRR@10, Recall@1, Recall@10, MAP.

Both wrap sentence-transformers' evaluators (the published MTEB STSb figures come from the same code), and the
same objects validate during training (`st_evaluator`).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import pandas as pd
from sentence_transformers.sentence_transformer.evaluation import (
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
)

from domaintune.core.evaluator import EvalResult, Evaluator
from domaintune.core.resources import load_stsb, load_stsb_multi

log = logging.getLogger("domaintune")


class PairSimilarityEvaluator(Evaluator):
    primary_metric = "spearman"
    greater_is_better = True

    def __init__(self, pairs: pd.DataFrame, name: str, batch_size: int = 64):
        self.name = name
        self.n = len(pairs)
        self.st_evaluator = EmbeddingSimilarityEvaluator(
            pairs["text_a"].tolist(), pairs["text_b"].tolist(), pairs["score"].astype(float).tolist(),
            batch_size=batch_size, name=name, show_progress_bar=False,
        )

    def evaluate(self, model) -> EvalResult:
        out = self.st_evaluator(model)
        return EvalResult({"spearman": float(out[f"{self.name}_spearman_cosine"]),
                           "pearson": float(out[f"{self.name}_pearson_cosine"])})


class _EmbeddingsKept(InformationRetrievalEvaluator):
    """sentence-transformers' retrieval evaluator, keeping the query and corpus embeddings it computed, so the
    per-query ranks of the report come from the same pass (encoding twice cost the demo ~10 s per evaluation)."""

    kept: dict[str, list] | None = None  # a dict while keeping (RetrievalEvaluator.evaluate with keep_ranks)

    def embed_inputs(self, model, sentences, encode_fn_name=None, **kwargs):
        emb = super().embed_inputs(model, sentences, encode_fn_name=encode_fn_name, **kwargs)
        if self.kept is not None:
            self.kept.setdefault(encode_fn_name, []).append(emb)  # the corpus comes in chunks, in corpus order
        return emb


class RetrievalEvaluator(Evaluator):
    primary_metric = "mrr@10"
    greater_is_better = True

    def __init__(self, queries: dict, corpus: dict, relevant: dict, name: str = "retrieval", batch_size: int = 64,
                 validation: bool = False, keep_ranks: bool = False):
        self.name, self.batch_size, self.keep_ranks = name, batch_size, keep_ranks
        self.queries, self.corpus, self.relevant = queries, corpus, relevant
        self.n_queries, self.n_corpus = len(queries), len(corpus)
        at = [1] if validation else [1, 10]  # validation during training: only what picks the best checkpoint
        self.st_evaluator = _EmbeddingsKept(
            queries, corpus, relevant, name=name, batch_size=batch_size, show_progress_bar=False,
            mrr_at_k=[10], ndcg_at_k=[10], accuracy_at_k=at, precision_recall_at_k=at,
            map_at_k=[100], score_functions=None,
        )

    def evaluate(self, model) -> EvalResult:
        self.st_evaluator.kept = {} if self.keep_ranks else None
        try:
            out = self.st_evaluator(model)
            ranks = {"ranks": self.ranks()} if self.keep_ranks else {}
        finally:
            self.st_evaluator.kept = None
        pick = lambda key: float(next(v for k, v in out.items() if k.endswith(key)))  # noqa: E731
        metrics = {"mrr@10": pick("_mrr@10"), "recall@1": pick("_recall@1"), "recall@10": pick("_recall@10"),
                   "map": pick("_map@100")}
        return EvalResult(metrics, ranks)

    def ranks(self) -> dict[str, int]:
        """Each query's rank of its best relevant document (1 = first) by cosine, for the report's 'what changed',
        from the embeddings the evaluation just computed."""
        import torch

        ev = self.st_evaluator
        qids, dids = ev.queries_ids, ev.corpus_ids
        unit = lambda parts: torch.nn.functional.normalize(torch.cat(parts).float(), dim=-1).cpu().numpy()  # noqa: E731
        scores = unit(ev.kept["query"]) @ unit(ev.kept["document"]).T
        col = {doc: k for k, doc in enumerate(dids)}
        out = {}
        for row, qid in enumerate(qids):
            best = max(scores[row, col[doc]] for doc in self.relevant[qid] if doc in col)
            out[qid] = int((scores[row] > best).sum()) + 1
        return out


def build_suite(recipe, domain_test: pd.DataFrame | None = None, retrieval: dict[str, tuple] | None = None) -> list:
    """STSb dev/test (English), STSb test in `evaluation.stsb_languages`, domain pairs, and one retrieval
    evaluator per task ({name: (queries, corpus, relevant)}: monolingual and cross-lingual)."""
    ev = recipe.evaluation
    suite = []
    if ev.stsb:
        suite.append(PairSimilarityEvaluator(load_stsb("dev"), "stsb_dev", ev.batch_size))
        suite.append(PairSimilarityEvaluator(load_stsb("test"), "stsb_test", ev.batch_size))
    for lang in ev.stsb_languages:
        if lang != "en" or not ev.stsb:
            suite.append(PairSimilarityEvaluator(load_stsb_multi(lang, ev.stsb_multi_mt_dir), f"stsb_test_{lang}",
                                                 ev.batch_size))
    if domain_test is not None and len(domain_test):
        suite.append(PairSimilarityEvaluator(domain_test, "domain_test", ev.batch_size))
    for k, (name, task) in enumerate((retrieval or {}).items()):  # the first (monolingual) one keeps its ranks
        suite.append(RetrievalEvaluator(*task, name=name, batch_size=ev.batch_size, keep_ranks=k == 0))
    judged = judged_retrieval(ev.retrieval_data, ev.retrieval_split, ev.retrieval_on_bad_rows)
    if judged is not None:
        from domaintune.retrieval.evaluation import JudgedRetrievalEvaluator

        suite.append(JudgedRetrievalEvaluator(judged, ev.retrieval_split, f"judged_{ev.retrieval_split}",
                                              ev.batch_size))
    return suite


def judged_retrieval(folder: str | None, split: str, on_bad_rows: str = "error"):
    """The user's judged retrieval data (evaluation.retrieval_data), read once per process while its files are
    unchanged: the run's data step calls this first, so bad data is refused before the run folder is written, and
    build_suite then reuses it. With on_bad_rows "skip", bad rows are dropped and counted (RetrievalData.skipped,
    logged here, and in metrics.json under run.retrieval_skipped_rows)."""
    if folder is None:
        return None
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file()) if Path(folder).is_dir() else []
    return _judged(str(folder), split, on_bad_rows, tuple((str(p), p.stat().st_mtime_ns) for p in files))


@functools.lru_cache(maxsize=4)
def _judged(folder: str, split: str, on_bad_rows: str, _files: tuple):
    from domaintune.retrieval.data import load_retrieval

    data = load_retrieval(folder, on_bad_rows=on_bad_rows)
    data.split(split)
    for path, n in data.skipped.items():
        log.warning("%s: %d bad row(s) skipped (evaluation.retrieval_on_bad_rows: skip)", path, n)
    return data


def evaluate_encoder(model, recipe, pairs: str | None = None, taxonomy: str | None = None) -> dict:
    """`domaintune evaluate`: the 'before' column of a similarity run for any encoder: the recipe's STSb
    evaluations, the domain pairs in `pairs`, and retrieval of held-out concepts of `taxonomy`."""
    from domaintune.core.evaluator import run_evaluators
    from domaintune.core.pairs import load_pairs
    from domaintune.similarity.taxonomy import retrieval_tasks

    test = load_pairs(pairs)[0] if pairs else None
    retrieval = None
    if taxonomy:
        recipe.data.taxonomy.path = taxonomy
        retrieval = retrieval_tasks(recipe.data.taxonomy, recipe.evaluation.retrieval_max_queries,
                                    recipe.training.seed, recipe.evaluation.cross_lingual_retrieval)
    results, _ = run_evaluators(model, build_suite(recipe, test, retrieval), "evaluate")
    return results
