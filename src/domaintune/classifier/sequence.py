"""Strategies that train the encoder: `full` (optionally with the lower k layers frozen) and adapters (`lora`,
`ia3`, `loha`, `lokr`: PEFT, with the head trained and saved inside the adapter). The head reads
`model.pooling`: the mean (cls, max) of the last token states (classifier/pooled.py), or `pooler`:
transformers' AutoModelForSequenceClassification ([CLS] through the pretrained pooler, trained with the head).
Training is transformers' Trainer with the mechanics every task shares (training/common.py) and length-grouped
batches.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from domaintune.classifier.model import Classifier, base_record, label_config
from domaintune.errors import DomaintuneError
from domaintune.training.common import (
    callbacks,
    prepare_trainer,
    resume_checkpoint,
    run_statistics,
    training_arguments,
)

log = logging.getLogger("domaintune")

ADAPTERS = {"lora": "LoraConfig", "ia3": "IA3Config", "loha": "LoHaConfig", "lokr": "LoKrConfig"}
VALIDATION_KEYS = {"accuracy": ("eval_accuracy", True), "macro_f1": ("eval_macro_f1", True),
                   "loss": ("eval_loss", False)}


def check_strategy(strategy: str) -> None:
    if strategy not in ("frozen", "full", *ADAPTERS):
        raise DomaintuneError(f"recipe: 'strategy': unknown strategy {strategy!r}; expected frozen, full or one of "
                              f"the adapters {', '.join(ADAPTERS)}")


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
    from domaintune.classifier.pooled import PooledSequenceClassifier

    return PooledSequenceClassifier.from_encoder(encoder_dir, len(labels), multi_label, pooling, head)


def head_config(recipe) -> dict:
    """What a saved full or adapter classifier records about its head (load_classifier rebuilds from it)."""
    out = {"peft": recipe.strategy} if recipe.strategy != "full" else {}
    if recipe.model.pooling != "pooler":
        out["sequence_head"] = "pooled"
    return out


def wrap_adapter(model, strategy: str, a, task_type: str, heads: tuple[str, ...]):
    """A PEFT adapter of the named method around `model`; the task head (and pooler) modules present are trained
    and saved with the adapter (modules_to_save), so a reloaded adapter predicts like the trained one."""
    import peft

    kw = {"task_type": getattr(peft.TaskType, task_type), "target_modules": a.target_modules,
          "modules_to_save": [n for n in heads if _has_module(model, n)]}
    if strategy == "lora":
        kw.update(r=a.r, lora_alpha=a.alpha, lora_dropout=a.dropout, use_dora=a.dora)
    elif strategy in ("loha", "lokr"):
        kw.update(r=a.r, alpha=a.alpha, module_dropout=a.dropout)
    elif strategy == "ia3" and a.target_modules == "all-linear":
        kw["feedforward_modules"] = "all-linear"
    return peft.get_peft_model(model, getattr(peft, ADAPTERS[strategy])(**kw))


def _has_module(model, name: str) -> bool:
    return any(n.split(".")[-1] == name for n, _ in model.named_modules())


def _dataset(ids: list[list[int]], y: np.ndarray):
    from datasets import Dataset

    return Dataset.from_dict({"input_ids": ids, "labels": y.tolist(), "length": [len(x) for x in ids]})


def train_sequence(recipe, labels: list[str], train_ids, y_train, val_ids, y_val, run_dir: Path,
                   class_weights: np.ndarray | None, resume: bool = False,
                   show_progress: bool = True) -> tuple[Classifier, dict]:
    """Train a full or adapter classifier; the best checkpoint by the validation metric is loaded at the end."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from domaintune.evaluation.classification import classification_metrics

    model, tokenizer, base = build_model(recipe, labels)
    t, multi = recipe.training, recipe.data.multi_label
    metric_key, greater = VALIDATION_KEYS[t.validation_metric]
    checkpoint_dir = Path(run_dir) / "checkpoints"

    def compute_metrics(pred):
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        from domaintune.classifier.heads import probabilities

        summary, _, _ = classification_metrics(pred.label_ids, probabilities(logits, multi), labels, multi,
                                               recipe.evaluation.threshold)
        return summary

    compute_loss = None
    if class_weights is not None:
        weight = torch.tensor(class_weights, dtype=torch.float32)

        def compute_loss(outputs, targets, num_items_in_batch=None):
            logits = outputs.logits
            if multi:
                return torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, targets.float(), pos_weight=weight.to(logits.device))
            return torch.nn.functional.cross_entropy(logits, targets, weight=weight.to(logits.device))

    if recipe.strategy != "full":
        t = recipe.adapter.training(t)
    args = TrainingArguments(
        **training_arguments(t, checkpoint_dir, metric_key, greater, recipe.evaluation.batch_size),
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        length_column_name="length",
    )
    trainer = Trainer(model=model, args=args, train_dataset=_dataset(train_ids, y_train),
                      eval_dataset=_dataset(val_ids, y_val), data_collator=DataCollatorWithPadding(tokenizer),
                      processing_class=tokenizer, compute_metrics=compute_metrics, compute_loss_func=compute_loss,
                      callbacks=callbacks(t, run_dir, metric_key, show_progress))
    prepare_trainer(trainer)
    resume_from = resume_checkpoint(checkpoint_dir, resume)
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)
    stats = run_statistics(trainer, result, time.perf_counter() - start, resume_from, len(train_ids), t, metric_key)
    clf = Classifier(recipe.strategy, tokenizer, labels, multi, recipe.model.max_seq_length, recipe.model.truncation,
                     recipe.evaluation.threshold, model=trainer.model.eval(), pooling=recipe.model.pooling, base=base,
                     head_config=head_config(recipe))
    return clf, stats
