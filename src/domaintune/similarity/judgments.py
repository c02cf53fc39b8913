"""Training pairs from search judgments (data.retrieval, a BEIR folder): each (query, relevant document) of the
train split is a positive pair for in-batch negatives; the dev split, or a seeded share of the train queries
when there is none, is the validation retrieval task that picks the best checkpoint by nDCG@10."""

from __future__ import annotations

import logging
import random

import pandas as pd

from domaintune.errors import DomaintuneError
from domaintune.retrieval.judged import judged_task, split_queries
from domaintune.similarity.evaluation import judged_retrieval

log = logging.getLogger("domaintune")


def positive_pairs(data, judgments: dict) -> pd.DataFrame:
    rows = [(data.queries[q], data.document(doc)) for q in sorted(judgments)
            for doc, rel in sorted(judgments[q].items()) if rel > 0]
    return pd.DataFrame({"text_a": [a for a, _ in rows], "text_b": [b for _, b in rows], "score": 1.0})


def judged_splits(recipe):
    """(the judged data, gold train judgments, validation judgments, where validation comes from, the train query
    ids left out by data.max_train_queries)."""
    d = recipe.data
    data = judged_retrieval(d.retrieval, "train", recipe.evaluation.retrieval_on_bad_rows)
    train = data.split("train")
    if "dev" in data.qrels:
        val, held = data.qrels["dev"], "the dev judgments"
    else:
        train, val = split_queries(train, d.validation_fraction, d.split_seed)
        held = f"{len(val)} train queries held out (data.validation_fraction {d.validation_fraction}, seeded)"
    left_out = []
    if d.max_train_queries and len(train) > d.max_train_queries:
        keep = set(random.Random(d.split_seed).sample(sorted(train), d.max_train_queries))
        left_out = sorted(q for q in train if q not in keep)
        train = {q: docs for q, docs in train.items() if q in keep}
    return data, train, val, held, left_out


def pairs_from_judgments(recipe):
    """(train pairs, validation pairs, validation retrieval task, description)."""
    d = recipe.data
    if recipe.training.loss != "in_batch_negatives":
        raise DomaintuneError(f"data.retrieval trains on positive (query, document) pairs: set training.loss="
                              f"in_batch_negatives (not {recipe.training.loss!r})")
    data, train, val, held, left_out = judged_splits(recipe)
    if left_out:
        held += f"; {len(train)} of {len(train) + len(left_out)} train queries kept (data.max_train_queries)"
    task = judged_task(data, val)
    train_df, val_df = positive_pairs(data, train), positive_pairs(data, val)
    log.info("judgments %s: %d training pairs from %d queries; validation: %s, nDCG@10 over all %d documents",
             d.retrieval, len(train_df), len(train), held, len(task[1]))
    return train_df, val_df, task, f"query / relevant-document pairs of {d.retrieval} (train judgments)"


def mining_pool(recipe) -> tuple[list[str], set[tuple[str, str]]]:
    """For hard-negative mining from judgments: every document as a candidate, and every judged (query,
    relevant document) pair of every split, which must never come back as a negative."""
    data = judged_retrieval(recipe.data.retrieval, "train", recipe.evaluation.retrieval_on_bad_rows)
    judged = {(data.queries[q], data.document(doc)) for split in data.qrels.values() for q, docs in split.items()
              for doc, r in docs.items() if r > 0}
    return [data.document(doc) for doc in data.corpus], judged
