"""Strategies that train the encoder: `full` (optionally with the lower k layers frozen) and adapters (`lora`,
`ia3`, `loha`, `lokr`: PEFT, with the head trained and saved inside the adapter). The head reads
`model.pooling`: the mean (cls, max) of the last token states (classification/pooled.py), or `pooler`:
transformers' AutoModelForSequenceClassification ([CLS] through the pretrained pooler, trained with the head).
Training is transformers' Trainer with the mechanics every task shares (core/trainer.py) and length-grouped
batches.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from domaintune.adapters import base_folder, base_record, wrap_adapter
from domaintune.classification.model import (
    Classifier,
    common_settings,
    label_config,
    saved_head_pooling,
)
from domaintune.core.trainer import fit
from domaintune.features import padded_batches

log = logging.getLogger("domaintune")

VALIDATION_KEYS = {"accuracy": ("eval_accuracy", True), "macro_f1": ("eval_macro_f1", True),
                   "loss": ("eval_loss", False)}


def build_model(recipe, labels: list[str]):
    """The sequence classifier of a `full` or adapter run, on the recipe's encoder."""
    from transformers import AutoTokenizer

    from domaintune.models import encoder_folder, freeze

    enc = encoder_folder(recipe.model.name)
    model = sequence_model(enc, labels, recipe.data.multi_label, recipe.model.pooling)
    tokenizer = AutoTokenizer.from_pretrained(str(enc))
    strategy = recipe.strategy
    if strategy == "full":
        freeze(model, recipe.model.freeze_embeddings, recipe.model.freeze_layers)
        return model, tokenizer, {}
    model = wrap_adapter(model, strategy, recipe.adapter, "SEQ_CLS", ("classifier", "score", "pooler"))
    return model, tokenizer, base_record(recipe.model.name)


def sequence_model(encoder_dir: Path, labels: list[str], multi_label: bool, pooling: str, head: Path | None = None):
    """A fresh classifier on the encoder in `encoder_dir` (or with the head saved in `head`, pooled heads)."""
    if pooling == "pooler":
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(str(encoder_dir), **label_config(labels, multi_label))
    from domaintune.classification.pooled import PooledSequenceClassifier

    return PooledSequenceClassifier.from_encoder(encoder_dir, len(labels), multi_label, pooling, head)


def head_config(recipe) -> dict:
    """What a saved full or adapter classifier records about its head (load_classifier rebuilds from it)."""
    out = {"peft": recipe.strategy} if recipe.strategy != "full" else {}
    if recipe.model.pooling != "pooler":
        out["sequence_head"] = "pooled"
    return out






def _dataset(ids: list[list[int]], y: np.ndarray):
    from datasets import Dataset

    return Dataset.from_dict({"input_ids": ids, "labels": y.tolist(), "length": [len(x) for x in ids]})


def train_sequence(recipe, labels: list[str], train_ids, y_train, val_ids, y_val, run_dir: Path,
                   class_weights: np.ndarray | None, resume: bool = False,
                   show_progress: bool = True, validator=None) -> tuple[SequenceClassifier, dict]:
    """Train a full or adapter classifier; the best checkpoint by the validation metric is loaded at the end."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from domaintune.classification.evaluation import ClassificationEvaluator
    from domaintune.classification.scores import probabilities

    model, tokenizer, base = build_model(recipe, labels)
    t, multi = recipe.training, recipe.data.multi_label
    metric_key, greater = VALIDATION_KEYS[t.validation_metric]

    if validator is None:  # the validation evaluator's own scoring, also during training
        validator = ClassificationEvaluator("validation", val_ids, y_val, labels, multi, recipe.evaluation.threshold)

    def compute_metrics(pred):
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        return validator.score(pred.label_ids, probabilities(logits, multi))[0]

    if recipe.strategy != "full":
        t = recipe.adapter.training(t)
    extra = {"train_sampling_strategy": "group_by_length" if t.group_by_length else "random",
             "length_column_name": "length"}
    trainer, stats = fit(Trainer, TrainingArguments, t, run_dir, metric_key, greater, recipe.evaluation.batch_size,
                         len(train_ids), resume, show_progress, extra, model=model,
                         train_dataset=_dataset(train_ids, y_train), eval_dataset=_dataset(val_ids, y_val),
                         data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                         compute_metrics=compute_metrics, compute_loss_func=weighted_loss(class_weights, multi))
    clf = SequenceClassifier(tokenizer, labels, multi, recipe.model.max_seq_length, recipe.model.truncation,
                             recipe.evaluation.threshold, model=trainer.model.eval(), strategy=recipe.strategy,
                             pooling=recipe.model.pooling, base=base, head_config=head_config(recipe))
    return clf, stats


def weighted_loss(class_weights: np.ndarray | None, multi: bool):
    """The trainer's loss with class weights (None: the model's own loss)."""
    if class_weights is None:
        return None
    weight = torch.tensor(class_weights, dtype=torch.float32)

    def compute_loss(outputs, targets, num_items_in_batch=None):
        logits = outputs.logits
        if multi:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, targets.float(), pos_weight=weight.to(logits.device))
        else:
            loss = torch.nn.functional.cross_entropy(logits, targets, weight=weight.to(logits.device))
        # the Trainer treats a compute_loss_func's loss as normalised by the step's items over all processes (and
        # multiplies it by their number): this batch's share of them (1 in one process without accumulation)
        return loss * targets.numel() / num_items_in_batch if num_items_in_batch is not None else loss

    return compute_loss


class SequenceClassifier(Classifier):
    """`full` and adapter classifiers: one sequence-classification model (the pooled head, or transformers' own
    with `model.pooling: pooler`), PEFT-wrapped for adapters."""

    def __init__(self, tokenizer, labels, multi_label, max_length, truncation, threshold=0.5, model=None,
                 strategy: str = "full", **common):
        super().__init__(tokenizer, labels, multi_label, max_length, truncation, threshold, **common)
        self.model, self.strategy = model, strategy

    @torch.no_grad()
    def logits_from_ids(self, ids: list[list[int]], batch_size: int = 64) -> np.ndarray:
        self.model.eval()
        out = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        device = next(self.model.parameters()).device
        for rows, input_ids, mask in padded_batches(ids, batch_size, self.tokenizer.pad_token_id or 0):
            out[rows] = self.model(input_ids=input_ids.to(device),
                                   attention_mask=mask.to(device)).logits.float().cpu().numpy()
        return out

    def export_graph(self):
        from domaintune.deploy.graph import LogitsGraph

        return LogitsGraph(self.model).eval()

    def save_weights(self, folder: Path) -> None:
        self.model.save_pretrained(str(folder))
        self.tokenizer.save_pretrained(str(folder))

    def parameters(self) -> dict:
        return {"trainable": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
                "total": sum(p.numel() for p in self.model.parameters())}

    @classmethod
    def load(cls, folder: Path, meta: dict) -> SequenceClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from domaintune.classification.pooled import HEAD_FILE

        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        pooling = saved_head_pooling(meta)
        if meta["strategy"] == "full":
            model = (AutoModelForSequenceClassification.from_pretrained(str(folder)) if pooling == "pooler" else
                     sequence_model(folder, meta["labels"], meta["multi_label"], pooling, head=folder / HEAD_FILE))
        else:
            from peft import PeftModel

            encoder = sequence_model(base_folder(meta["base"], folder), meta["labels"], meta["multi_label"], pooling)
            model = PeftModel.from_pretrained(encoder, str(folder))
        settings = {**common_settings(meta), "pooling": pooling}
        return cls(tokenizer, model=model.eval(), strategy=meta["strategy"], **settings)
