"""Judged queries split and shaped for training: whole queries held out for validation (seeded), and a split's
judgments as a retrieval task (queries, corpus, relevant documents) for the evaluators that pick checkpoints.
Used by every task that trains from judgments (similarity, tsdae / simcse validation, reranker)."""

from __future__ import annotations

import random

from domaintune.errors import DomaintuneError


def split_queries(train: dict, fraction: float, seed: int) -> tuple[dict, dict]:
    """(train judgments, validation judgments): a seeded share of the queries held out, whole queries only."""
    ids = sorted(train)
    random.Random(seed).shuffle(ids)
    n_val = max(1, round(len(ids) * fraction))
    if n_val >= len(ids):
        raise DomaintuneError(f"data.retrieval: {len(ids)} judged train queries, too few to hold out "
                              f"data.validation_fraction={fraction} of them for validation; add a dev split")
    held = set(ids[:n_val])
    return {q: d for q, d in train.items() if q not in held}, {q: d for q, d in train.items() if q in held}


def judged_task(data, judgments: dict) -> tuple[dict, dict, dict]:
    """(queries, corpus, relevant documents) of the judged queries with a relevant document, over every document
    (the title plus the text): a retrieval task for RetrievalEvaluator, e.g. to pick the best checkpoint."""
    judged = {q: {doc for doc, r in docs.items() if r > 0} for q, docs in judgments.items()}
    judged = {q: docs for q, docs in judged.items() if docs}
    return ({q: data.queries[q] for q in judged}, {doc: data.document(doc) for doc in data.corpus}, judged)
