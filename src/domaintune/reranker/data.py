"""A reranker's data, from your search judgments (a BEIR folder, domaintune.retrieval.data): the train queries
with hard negatives from the first stage's candidates, the validation queries (dev, else a seeded share of the
train queries), the judged split the run is scored on, and the first stage's ranking of all of them."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from domaintune.errors import DomaintuneError
from domaintune.retrieval.data import RetrievalData, load_retrieval
from domaintune.retrieval.judged import split_queries
from domaintune.retrieval.search import DEPTH, bm25_run, dense_run

log = logging.getLogger("domaintune")


@dataclass
class RerankerData:
    data: RetrievalData
    train: dict[str, dict[str, int]]  # query -> {document: grade}
    validation: dict[str, dict[str, int]]
    test: dict[str, dict[str, int]]
    held_out: str  # where the validation queries come from, for the log and the metrics
    rows: dict[str, list] | None = None  # training rows from data.train (a pairs file), else built from `train`


def load_data(recipe) -> RerankerData:
    """The judgments, read and checked (one-line errors naming file, line and column) before the run starts."""
    d, ev = recipe.data, recipe.evaluation
    if d.retrieval is None:
        raise DomaintuneError("recipe: set data.retrieval (your search judgments: a BEIR folder with corpus.jsonl, "
                              "queries.jsonl and qrels/train.tsv, qrels/test.tsv)")
    data = load_retrieval(d.retrieval, on_bad_rows=d.on_bad_rows)
    for path, n in data.skipped.items():
        log.warning("%s: %d bad row(s) skipped (data.on_bad_rows: skip)", path, n)
    train, test = data.split("train"), data.split(ev.split)
    if "dev" in data.qrels and ev.split != "dev":
        validation, held = data.split("dev"), "the dev judgments"
    else:
        train, validation = split_queries(train, d.validation_fraction, d.split_seed)
        held = f"{len(validation)} train queries held out (data.validation_fraction {d.validation_fraction}, seeded)"
    if ev.max_queries and len(test) > ev.max_queries:
        keep = random.Random(recipe.training.seed).sample(sorted(test), ev.max_queries)
        test = {q: test[q] for q in sorted(keep)}
    rows = file_rows(recipe) if d.train else None
    return RerankerData(data, {} if rows else train, validation, test, held, rows)


def file_rows(recipe) -> dict[str, list]:
    """Training rows from data.train. Graded pairs (a score column) train as they are, the score (normalised to
    0-1) as the target; positive pairs (no score column) each get `negatives_per_query` negatives drawn (seeded)
    from BM25's top `negative_pool` among the file's second texts, never one the file pairs with that first text."""
    from domaintune.core.pairs import load_pairs, read_positive_pairs
    from domaintune.core.tables import read_table

    d = recipe.data
    if "score" in read_table(d.train).columns:
        pairs = load_pairs(d.train, "text_a", "text_b", "score", "auto", d.on_bad_rows)[0]
        return loss_rows(recipe, [(a, b, float(s)) for a, b, s in zip(pairs.text_a, pairs.text_b, pairs.score,
                                                                         strict=True)])
    pairs = read_positive_pairs(d.train)
    firsts, seconds = sorted(set(pairs.text_a)), sorted(set(pairs.text_b))
    pool = RetrievalData({f"q{k}": t for k, t in enumerate(firsts)}, {f"d{k}": ("", t) for k, t in
                                                                     enumerate(seconds)}, {}, d.train)
    run, _ = bm25_run(pool, list(pool.queries), d.negative_pool + 1)
    paired = pairs.groupby("text_a")["text_b"].apply(set).to_dict()
    rng, rows = random.Random(recipe.training.seed), []
    for q, text in pool.queries.items():
        negatives = [pool.corpus[doc][1] for doc in top(run, q, d.negative_pool)
                     if pool.corpus[doc][1] not in paired[text]]
        rows += [(text, b, 1.0) for b in sorted(paired[text])]
        rows += [(text, b, 0.0) for b in rng.sample(negatives, min(d.negatives_per_query, len(negatives)))]
    log.info("%s: %d positive pairs, %d BM25 negatives drawn among its texts", d.train, len(pairs),
             len(rows) - len(pairs))
    return loss_rows(recipe, rows)


def loss_rows(recipe, rows: list[tuple[str, str, float]]) -> dict[str, list]:
    """(query, document, target) rows as the loss reads them: bce one row each; lambda one list per query."""
    if recipe.training.loss == "bce":
        return {"query": [q for q, _, _ in rows], "document": [d for _, d, _ in rows],
                "label": [y for _, _, y in rows]}
    grouped: dict[str, list] = {}
    for q, doc, y in rows:
        grouped.setdefault(q, []).append((doc, y))
    return {"query": list(grouped), "documents": [[doc for doc, _ in v] for v in grouped.values()],
            "labels": [[y for _, y in v] for v in grouped.values()]}


def first_stage_runs(recipe, rd: RerankerData, ids: list[str] | None = None) -> tuple[dict, dict]:
    """The first stage's top documents of every train, validation and test query (or of `ids`), in one pass (a
    bi-encoder encodes the corpus once); (run, timing)."""
    ids = ids if ids is not None else sorted({*rd.train, *rd.validation, *rd.test})
    depth = max(DEPTH, recipe.evaluation.top_k, recipe.data.negative_pool)
    if recipe.data.first_stage == "bm25":
        return bm25_run(rd.data, ids, depth)
    from domaintune.models import load_sentence_model

    return dense_run(load_sentence_model(recipe.data.first_stage), rd.data, ids, depth,
                     batch_size=recipe.evaluation.batch_size)


def top(run: dict, q: str, k: int) -> list[str]:
    return [d for d, _ in sorted(run.get(q, {}).items(), key=lambda x: -x[1])[:k]]


def training_rows(recipe, rd: RerankerData, run: dict) -> dict[str, list]:
    """The training dataset's columns. Each train query's relevant documents (grade >= 1) are positives; its
    negatives are drawn (seeded) from the first stage's top `negative_pool`, never a document judged relevant to
    that query in any split. bce: (query, document, 1.0 | 0.0) rows; lambda: (query, [documents], [grades])."""
    d = recipe.data
    relevant = {}
    for split in rd.data.qrels.values():
        for q, docs in split.items():
            relevant.setdefault(q, set()).update(doc for doc, r in docs.items() if r > 0)
    rng = random.Random(recipe.training.seed)
    rows = {"query": [], "document": [], "label": []} if recipe.training.loss == "bce" else {
        "query": [], "documents": [], "labels": []}
    for q in sorted(rd.train):
        pos = {doc: r for doc, r in rd.train[q].items() if r > 0}
        pool = [doc for doc in top(run, q, d.negative_pool) if doc not in relevant[q]]
        neg = rng.sample(pool, min(d.negatives_per_query, len(pool)))
        docs, grades = [*sorted(pos), *neg], [*(float(pos[doc]) for doc in sorted(pos)), *(0.0 for _ in neg)]
        text = rd.data.queries[q]
        if "document" in rows:
            rows["query"] += [text] * len(docs)
            rows["document"] += [rd.data.document(doc) for doc in docs]
            rows["label"] += [min(1.0, g) for g in grades]  # bce: relevant or not
        else:
            rows["query"].append(text)
            rows["documents"].append([rd.data.document(doc) for doc in docs])
            rows["labels"].append(grades)
    return rows


def validation_samples(rd: RerankerData, run: dict, k: int) -> list[dict]:
    """sentence-transformers' CrossEncoderRerankingEvaluator samples: each validation query, its relevant
    documents, and the first stage's top k (relevant ones outside it stay unfound, as in use). A query with fewer
    than 2 candidates has no order to judge (sklearn's nDCG refuses it): left out, and counted in the log."""
    samples = [{"query": rd.data.queries[q], "positive": [rd.data.document(doc) for doc, r in
                                                          sorted(rd.validation[q].items()) if r > 0],
                "documents": [rd.data.document(doc) for doc in top(run, q, k)]} for q in sorted(rd.validation)]
    kept = [s for s in samples if len(s["documents"]) >= 2]
    if len(kept) < len(samples):
        log.warning("reranker validation: %d of %d queries have fewer than 2 first-stage candidates and are left "
                    "out", len(samples) - len(kept), len(samples))
    if not kept:
        raise DomaintuneError("reranker validation: no validation query has 2 or more first-stage candidates")
    return kept
