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
                    query_prompt: str | None = None, document_prompt: str | None = None,
                    rerankers: dict | None = None, rerank_top_k: int = search.DEPTH) -> dict[str, dict]:
    """{system: {metric: value, "seconds": to index and search, "query_ms": per query}}: BM25, each model, (with
    `hybrid`) BM25 fused with each model by reciprocal rank, and each of BM25 and the models with its top
    `rerank_top_k` reranked by each of `rerankers` (cross-encoders), all on the same judged queries of `split`."""
    qrels = data.split(split)
    query_ids = sorted(qrels)
    row = lambda run, t: {**search.score(qrels, run), "seconds": round(t["total"], 2),  # noqa: E731
                          "query_ms": round(1000 * t["queries"] / max(1, len(query_ids)), 2)}
    table = {}

    def add(name: str, run: dict, t: dict) -> None:
        table[name] = row(run, t)
        log.info("%s: %s", name, table[name])
        for r_name, reranker in (rerankers or {}).items():
            reranked, t_rerank = search.rerank_run(reranker, data, run, query_ids, rerank_top_k, batch_size)
            table[f"{name} > rerank {r_name} (top {rerank_top_k})"] = row(reranked, added(t, t_rerank))

    bm25, t_bm25 = search.bm25_run(data, query_ids)
    add("bm25", bm25, t_bm25)
    for name, model in models.items():
        run, t_dense = search.dense_run(model, data, query_ids, batch_size=batch_size, query_prompt=query_prompt,
                                        document_prompt=document_prompt)
        add(name, run, t_dense)
        if hybrid:
            fused, t_fuse = search.fuse([bm25, run])
            table[f"hybrid (bm25 + {name})"] = row(fused, added(t_bm25, t_dense, {"queries": t_fuse,
                                                                                  "total": t_fuse}))
    return table


def added(*timings: dict) -> dict:
    """Seconds of stages run one after the other: index, queries and total, each summed."""
    return {k: sum(t.get(k, 0.0) for t in timings) for k in ("index", "queries", "total")}


def judged_outcome(evaluators: list[JudgedRetrievalEvaluator], before: dict, after: dict, n: int = 10):
    """For each judged evaluation of a run: ({eval: {system: metrics}} with BM25, the base model (before), the
    tuned model (after) and both hybrids, scored alike; report tables of those systems and of the queries whose
    first relevant document rose and fell most, with the top document before and after)."""
    systems, tables = {}, []
    for ev in evaluators:
        bm25, _ = search.bm25_run(ev.data, ev.query_ids)
        runs = {"bm25": bm25, "before (base model)": before.get(ev.name), "after (tuned model)": after[ev.name]}
        runs = {k: v for k, v in runs.items() if v is not None}
        for side in ("before (base model)", "after (tuned model)"):
            if side in runs:
                runs[f"hybrid: bm25 + {side.split(' ')[0]}"] = search.fuse([bm25, runs[side]])[0]
        systems[ev.name] = {name: search.score(ev.qrels, run) for name, run in runs.items()}
        metrics = list(search.METRICS)
        tables.append({"title": f"Search on your data ({ev.name}): BM25, the model and the hybrid",
                       "note": "The same judged queries for every system; hybrid = reciprocal-rank fusion with BM25.",
                       "columns": ["system", *metrics],
                       "rows": [[name, *(f"{row[m]:.4f}" for m in metrics)] for name, row in systems[ev.name].items()]})
        if ev.name in before:
            tables += moved_queries(ev, before[ev.name], after[ev.name], n)
    return systems, tables


def first_relevant(run: dict, relevant: dict) -> int | None:
    ranked = sorted(run, key=lambda d: -run[d])
    return next((k + 1 for k, d in enumerate(ranked) if relevant.get(d, 0) > 0), None)


def moved_queries(ev: JudgedRetrievalEvaluator, before: dict, after: dict, n: int) -> list[dict]:
    """The judged queries whose first relevant document rose most and fell most (by reciprocal rank; not in the
    top 100 counts as 0), with the query and the top document before and after."""
    def rr(run, q):
        rank = first_relevant(run, ev.qrels[q])
        return 1 / rank if rank else 0.0

    def top(run) -> str:
        best = max(run, key=run.get) if run else None
        return "" if best is None else ev.data.document(best)[:120]

    moved = []
    for q in ev.query_ids:
        b, a = before.get(q, {}), after.get(q, {})
        moved.append((rr(a, q) - rr(b, q), q, first_relevant(b, ev.qrels[q]), first_relevant(a, ev.qrels[q]), top(b),
                      top(a)))
    moved.sort(key=lambda x: (-x[0], x[1]))
    columns = ["query", "first relevant: rank before", "rank after", "top document before", "top document after"]
    note = "Rank of the query's first relevant document (- = not in the top 100)."
    rows = lambda items: [[ev.data.queries[q], rb or "-", ra or "-", tb, ta] for _, q, rb, ra, tb, ta in items]  # noqa: E731
    return [{"title": f"{ev.name}: queries whose first relevant document rose most", "note": note,
             "columns": columns, "rows": rows([m for m in moved[:n] if m[0] > 0])},
            {"title": f"{ev.name}: queries whose first relevant document fell most", "note": note,
             "columns": columns, "rows": rows([m for m in reversed(moved[-n:]) if m[0] < 0])}]
