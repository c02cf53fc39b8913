"""Bi-encoder training on (text_a, text_b, score) pairs with sentence-transformers' trainer.

What domaintune adds around it: length-grouped batches (far less padding), a rich progress bar, checkpoints
marked complete for safe resume after a kill, early stopping and best-checkpoint selection on the
validation metric, and TensorBoard logs in the run folder.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import pandas as pd
from datasets import Dataset

from domaintune.errors import DomaintuneError
from domaintune.losses import POSITIVE_ONLY, build_loss
from domaintune.training.callbacks import (
    CheckpointCompleteCallback,
    RichProgressCallback,
    latest_complete_checkpoint,
    remove_incomplete_checkpoints,
)
from domaintune.training.sampler import LengthGroupedBatchSampler, row_lengths

log = logging.getLogger("domaintune")

VALIDATION_METRICS = {"spearman": "eval_validation_spearman_cosine", "mrr@10": "eval_validation_cosine_mrr@10"}


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
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    from transformers import EarlyStoppingCallback
    from transformers.integrations import TensorBoardCallback

    t = recipe.training
    checkpoint_dir = Path(run_dir) / "checkpoints"
    if t.loss in POSITIVE_ONLY:
        n_before = len(train_df)
        train_df = train_df[train_df["score"] >= t.positive_min_score - 1e-6].reset_index(drop=True)
        log.info("loss %s uses positive pairs only: %d of %d training pairs have score >= %s",
                 t.loss, len(train_df), n_before, t.positive_min_score)
        if len(train_df) < 2:
            raise DomaintuneError(f"loss {t.loss}: fewer than 2 positive pairs (score >= "
                                  f"{t.positive_min_score}) to train on; see training.positive_min_score")
    train_ds = to_dataset(train_df, t.loss)
    loss = build_loss(t.loss, model, tuple(t.in_batch_directions))

    batch_sampler = "batch_sampler"
    # For in_batch_negatives, sentence-transformers' no-duplicates sampler was measured on the job-title demo:
    # no better (MRR@10 0.704 vs 0.707) and 1.7x slower than length grouping, so length grouping is used for all.
    if t.group_by_length:
        text_columns = [c for c in ("text_a", "text_b", "negative") if c in train_df.columns]
        lengths = row_lengths(model.tokenizer, [train_df[c].tolist() for c in text_columns], model.max_seq_length)
        batch_sampler = functools.partial(LengthGroupedBatchSampler, lengths=lengths)
    metric = t.validation_metric
    if metric == "auto":
        metric = "mrr@10" if (t.loss in POSITIVE_ONLY and validation_retrieval is not None) else "spearman"
    if metric == "mrr@10":
        if validation_retrieval is None:
            raise DomaintuneError("training.validation_metric=mrr@10 needs a taxonomy (data.taxonomy) to build "
                                  "retrieval queries from validation concepts")
        from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

        queries, corpus, relevant = validation_retrieval
        validator = InformationRetrievalEvaluator(
            queries, corpus, relevant, name="validation", batch_size=recipe.evaluation.batch_size,
            show_progress_bar=False, mrr_at_k=[10], ndcg_at_k=[10], accuracy_at_k=[1], precision_recall_at_k=[1],
            map_at_k=[100])
    else:
        validator = EmbeddingSimilarityEvaluator(
            val_df["text_a"].tolist(), val_df["text_b"].tolist(), val_df["score"].astype(float).tolist(),
            batch_size=recipe.evaluation.batch_size, name="validation", show_progress_bar=False,
        )
    metric_key = VALIDATION_METRICS[metric]
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoint_dir),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=recipe.evaluation.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_steps=float(t.warmup_ratio),  # transformers 5: a float < 1 is a ratio of all steps
        lr_scheduler_type=t.scheduler,
        max_grad_norm=t.max_grad_norm,
        optim="adamw_torch",
        eval_strategy="steps",
        eval_steps=t.eval_steps,
        save_strategy="steps",
        save_steps=t.eval_steps,
        save_total_limit=t.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model=metric_key,
        greater_is_better=True,
        logging_steps=max(1, min(10, t.eval_steps)),
        report_to="none",
        seed=t.seed,
        data_seed=t.seed,
        disable_tqdm=True,
        batch_sampler=batch_sampler,
        dataloader_num_workers=0,
        use_cpu=None if _has_accelerator() else True,
    )
    callbacks = [RichProgressCallback(metric_key, enabled=show_progress), CheckpointCompleteCallback()]
    if t.early_stopping.patience > 0:
        callbacks.append(EarlyStoppingCallback(t.early_stopping.patience, t.early_stopping.min_delta))
    if t.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        callbacks.append(TensorBoardCallback(tb_writer=SummaryWriter(str(Path(run_dir) / "tensorboard"))))
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train_ds, loss=loss, evaluator=validator, callbacks=callbacks,
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the rich progress bar replaces the raw log dicts
    resume_from = None
    if resume:
        moved = remove_incomplete_checkpoints(checkpoint_dir)
        if moved:
            log.warning("set aside half-written checkpoint(s) from the interrupted run: %s", ", ".join(moved))
        latest = latest_complete_checkpoint(checkpoint_dir)
        if latest is not None:
            resume_from = str(latest)
            log.info("resuming from %s", latest)
        else:
            log.info("no complete checkpoint yet: training starts from the beginning")
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - start
    state = trainer.state
    steps_run = state.global_step - (int(Path(resume_from).name.split("-")[1]) if resume_from else 0)
    pairs_seen = steps_run * t.batch_size * t.gradient_accumulation_steps
    return {
        "seconds": round(seconds, 2),
        "global_step": state.global_step,
        "epochs": round(state.epoch or 0.0, 3),
        "train_pairs": len(train_df),
        "pairs_per_second": round(min(pairs_seen, len(train_df) * max(1, t.epochs)) / seconds, 2)
        if seconds > 0 else None,
        "best_step": state.best_global_step,
        "validation_metric": metric,
        "validation_metric_key": metric_key,
        "best_validation_metric": state.best_metric,
        "stopped_early": bool(t.early_stopping.patience > 0 and state.global_step < state.max_steps),
        "resumed_from": resume_from,
        "train_loss": result.training_loss,
        "log_history": state.log_history,
    }


@functools.cache
def _has_accelerator() -> bool:
    import torch

    return torch.cuda.is_available() or (hasattr(torch.backends, "mps") and torch.backends.mps.is_available())
