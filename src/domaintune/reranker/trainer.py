"""Training a cross-encoder on judgments with sentence-transformers' CrossEncoderTrainer, through the trainer
set-up every task shares (core.trainer.fit). Used by task: reranker, and by similarity's silver pairs (Augmented
SBERT), which trains one on the gold judgments first."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from domaintune.core.sampler import LengthGroupedBatchSampler
from domaintune.core.trainer import fit
from domaintune.reranker.data import RerankerData, training_rows, validation_samples
from domaintune.reranker.recipe import RerankerRecipe

log = logging.getLogger("domaintune")


def train(model, recipe: RerankerRecipe, rd: RerankerData, first: dict, run_dir: Path, resume: bool,
          show_progress: bool) -> dict:
    """Train `model` in place (core.trainer.fit: checkpoints, resume, progress, TensorBoard as every task); the
    best checkpoint by nDCG@10 of the validation queries' first-stage top `validation_top_k` is loaded at the end
    (sentence-transformers' CrossEncoderRerankingEvaluator)."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, LambdaLoss

    t, ev = recipe.training, recipe.evaluation
    rows = rd.rows or training_rows(recipe, rd, first)
    log.info("reranker: %d training rows (%s) from %s", len(rows["query"]), t.loss,
             recipe.data.train or f"{len(rd.train)} judged queries")
    loss = BinaryCrossEntropyLoss(model) if t.loss == "bce" else LambdaLoss(model)
    validator = CrossEncoderRerankingEvaluator(validation_samples(rd, first, ev.validation_top_k), at_k=10,
                                               always_rerank_positives=False, name="validation",
                                               batch_size=ev.batch_size, write_csv=False)
    # every weight takes part in each score, so DDP has no unused ones to find; with that search on (transformers'
    # default for a model that is not a PreTrainedModel) it marked the head's bias ready twice per step and failed
    # (two-process test, tests/reranker)
    extra = {"ddp_find_unused_parameters": False}
    if t.group_by_length and t.loss == "bce":  # a list per row (lambda) has no one length
        lengths = [len(x) for x in model.tokenizer(rows["query"], rows["document"], truncation=True,
                                                   max_length=model.max_length)["input_ids"]]
        extra["batch_sampler"] = functools.partial(LengthGroupedBatchSampler, lengths=lengths)
    _, stats = fit(CrossEncoderTrainer, CrossEncoderTrainingArguments, t, run_dir, "eval_validation_ndcg@10", True,
                   ev.batch_size, len(rows["query"]), resume, show_progress, extra, model=model,
                   train_dataset=Dataset.from_dict(rows), loss=loss, evaluator=validator)
    return {**stats, "train_rows": len(rows["query"]), "loss": t.loss}
