"""Bi-encoder training on (text_a, text_b, score) pairs with sentence-transformers' trainer.

What domaintune adds around it: length-grouped batches (far less padding), a rich progress bar, checkpoints
marked complete for safe resume after a kill, early stopping and best-checkpoint selection on the
validation metric, and TensorBoard logs in the run folder.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import pandas as pd
from datasets import Dataset

from domaintune.core.distributed import world_size
from domaintune.core.sampler import LengthGroupedBatchSampler, row_lengths
from domaintune.core.trainer import fit
from domaintune.embedding.matryoshka import wrap_loss
from domaintune.errors import DomaintuneError
from domaintune.models import text_prefix
from domaintune.similarity.losses import POSITIVE_ONLY, build_loss

log = logging.getLogger("domaintune")

VALIDATION_METRICS = {"spearman": "eval_validation_spearman_cosine", "mrr@10": "eval_validation_cosine_mrr@10",
                      "ndcg@10": "eval_validation_cosine_ndcg@10"}


def to_dataset(df: pd.DataFrame, loss_name: str) -> Dataset:
    """Column order is what sentence-transformers' losses read: text columns first, the label last."""
    if loss_name in POSITIVE_ONLY:
        cols = {"anchor": df["text_a"].tolist(), "positive": df["text_b"].tolist()}
        if "negative" in df.columns:
            cols["negative"] = df["negative"].tolist()
        return Dataset.from_dict(cols)
    return Dataset.from_dict({"text_a": df["text_a"].tolist(), "text_b": df["text_b"].tolist(),
                              "score": df["score"].astype("float32").tolist()})


def train_pairs(model, train_df: pd.DataFrame, val_df: pd.DataFrame, recipe, run_dir: Path, resume: bool = False,
                show_progress: bool = True, validation_retrieval: tuple | None = None) -> dict:
    """Train `model` in place (the best checkpoint by validation is loaded at the end). Returns statistics."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    from domaintune.similarity.evaluation import PairSimilarityEvaluator, RetrievalEvaluator

    t = recipe.training
    if t.loss in POSITIVE_ONLY:
        n_before = len(train_df)
        train_df = train_df[train_df["score"] >= t.positive_min_score - 1e-6].reset_index(drop=True)
        log.info("loss %s uses positive pairs only: %d of %d training pairs have score >= %s",
                 t.loss, len(train_df), n_before, t.positive_min_score)
        if len(train_df) < 2:
            raise DomaintuneError(f"loss {t.loss}: fewer than 2 positive pairs (score >= "
                                  f"{t.positive_min_score}) to train on; see training.positive_min_score")
    train_ds = to_dataset(train_df, t.loss)
    gather = t.gather_across_devices and world_size() > 1  # in one process there is nothing to gather
    loss = wrap_loss(build_loss(t.loss, model, tuple(t.in_batch_directions), gather, t.cached_mini_batch_size), model,
                     t.matryoshka_dims)

    batch_sampler = "batch_sampler"
    # For in_batch_negatives, sentence-transformers' no-duplicates sampler was measured on the job-title demo:
    # no better (MRR@10 0.704 vs 0.707) and 1.7x slower than length grouping, so length grouping is used for all.
    if t.group_by_length:
        text_columns = [c for c in ("text_a", "text_b", "negative") if c in train_df.columns]
        lengths = row_lengths(model.tokenizer, [train_df[c].tolist() for c in text_columns], model.max_seq_length)
        batch_sampler = functools.partial(LengthGroupedBatchSampler, lengths=lengths)
    metric = t.validation_metric
    if metric == "auto":
        metric = ("ndcg@10" if recipe.data.retrieval else "mrr@10") if (
            t.loss in POSITIVE_ONLY and validation_retrieval is not None) else "spearman"
    if metric in ("mrr@10", "ndcg@10"):
        if validation_retrieval is None:
            raise DomaintuneError(f"training.validation_metric={metric} needs validation queries: a taxonomy "
                                  "(data.taxonomy) or your judgments (data.retrieval)")
        validator = RetrievalEvaluator(*validation_retrieval, name="validation",
                                       batch_size=recipe.evaluation.batch_size, validation=True)
    else:
        validator = PairSimilarityEvaluator(val_df, "validation", recipe.evaluation.batch_size)
    metric_key = VALIDATION_METRICS[metric]
    extra = {"batch_sampler": batch_sampler,
             "prompts": text_prefix(model)}  # train on the texts as encode() will see them (e5: "query: ...")
    _, stats = fit(SentenceTransformerTrainer, SentenceTransformerTrainingArguments, t, run_dir, metric_key, True,
                   recipe.evaluation.batch_size, len(train_df), resume, show_progress, extra, model=model,
                   train_dataset=train_ds, loss=loss, evaluator=validator.st_evaluator)
    stats["pairs_per_second"] = stats.pop("rows_per_second")
    return {**stats, "train_pairs": len(train_df), "validation_metric": metric}
