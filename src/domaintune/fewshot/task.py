"""Few-shot classification (SetFit-style), top to bottom, for each seed:

1. sample `n_per_class` examples per class;
2. "before": the untouched encoder's embeddings + logistic regression (the linear probe) on those examples;
3. phase 1: contrastive fine-tuning of the encoder on pairs of the examples (same label 1.0, else 0.0), generated
   lazily (fewshot/pairs.py) and scored with a similarity loss (cosine MSE by default, as SetFit);
4. phase 2: a head (logistic regression or an MLP) on the tuned embeddings;
5. optional phase 3: encoder and head trained together;
6. evaluate on the test rows; save the first seed's model; report mean +- std over seeds.

Built on sentence-transformers directly rather than the `setfit` library: setfit 1.2.0 installs beside
sentence-transformers 6 only with --no-deps, its pair generation materialises O(n^2) pairs, and its trainer
re-encodes each text once per pair it appears in; here each distinct text of a batch is encoded once.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from domaintune.classification import data as labelled
from domaintune.classification.evaluation import ClassificationEvaluator
from domaintune.classification.fewshot import FewShotClassifier
from domaintune.classification.heads import fit_logistic, train_mlp
from domaintune.classification.loading import load_classifier
from domaintune.classification.report import card, confident_mistakes
from domaintune.classification.report import write_report as classification_report
from domaintune.core import distributed
from domaintune.core.contract import metrics_envelope
from domaintune.core.evaluator import default_direction
from domaintune.core.io import atomic_write_json, save_folder_atomically, set_seed
from domaintune.core.run import Run
from domaintune.core.trainer import fit
from domaintune.core.truncation import encode_texts
from domaintune.features import padded_batches
from domaintune.fewshot.pairs import ContrastivePairs
from domaintune.fewshot.recipe import FewShotRecipe

log = logging.getLogger("domaintune")


def load_data(recipe: FewShotRecipe):
    """(pool to sample from, test rows, labels). Without a test file, 20% of the file (stratified) is the test."""
    d = recipe.data
    pool, labels, read = labelled.read_training_file(d)  # the file's classes, before any split takes some of its rows
    if d.test:
        test = read(d.test)
    else:
        pool, test = labelled.split_keeping_classes(pool, labels, 0.2, 13, "the test split (20% of the file, as no "
                                                                  "data.test is given)")
    labelled.check_known_labels(test, labels, "test data")
    return pool, labelled.stratified_sample(test, d.max_test_rows, 13), labels


def sample_per_class(pool: pd.DataFrame, labels: list[str], n: int | None, seed: int) -> pd.DataFrame:
    """n examples of each label (all of a rarer one), seeded; multi-label rows count for each of their labels."""
    if n is None:
        return pool
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for lab in labels:
        rows = [i for i, labs in enumerate(pool["labels"]) if lab in labs and i not in chosen]
        chosen += rng.choice(rows, size=min(n, len(rows)), replace=False).tolist() if rows else []
    out = pool.iloc[sorted(set(chosen))].reset_index(drop=True)
    out.attrs.update(pool.attrs)
    return out


def pair_classes(df: pd.DataFrame) -> np.ndarray:
    """The class each example pairs by: its label, or its whole label set for multi-label rows."""
    keys = df["labels"].map(lambda labs: "|".join(labs))
    return pd.factorize(keys)[0]


class PairCollator:
    """A batch of (i, j, label) pairs -> the distinct texts' token ids, padded once, and where each pair's two texts
    sit among them: every distinct text of a batch is encoded once (not once per pair it appears in)."""

    def __init__(self, ids: list[list[int]], pad_id: int):
        self.ids, self.pad_id = ids, pad_id

    def __call__(self, rows: list[dict]) -> dict:
        distinct = sorted({r["a"] for r in rows} | {r["b"] for r in rows})
        where = {u: k for k, u in enumerate(distinct)}
        _, input_ids, mask = next(padded_batches([self.ids[u] for u in distinct], len(distinct), self.pad_id,
                                                 sort=False))
        return {"input_ids": input_ids, "attention_mask": mask,
                "a": torch.tensor([where[r["a"]] for r in rows]), "b": torch.tensor([where[r["b"]] for r in rows]),
                "labels": torch.tensor([float(r["labels"]) for r in rows])}


class ContrastiveBody(torch.nn.Module):
    """The sentence encoder and the pair loss as one module for transformers' Trainer."""

    def __init__(self, body, loss_fn):
        super().__init__()
        self.body = body
        self.__dict__["loss_fn"] = loss_fn  # not a submodule: the loss holds the body itself (no second copy saved)

    def forward(self, input_ids, attention_mask, a, b, labels):
        emb = self.body({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]
        return {"loss": self.loss_fn.compute_loss_from_embeddings([emb[a], emb[b]], labels)}


def train_body(model, ids: list[list[int]], class_of: np.ndarray, recipe: FewShotRecipe, seed: int,
               seed_dir: Path, resume: bool, show_progress: bool) -> dict:
    """Phase 1: contrastive fine-tuning on the shared trainer path (core.trainer.fit: warm-up and decay, clipping,
    weight decay, checkpoints every `body_checkpoint_steps` in RUN/seeds/<seed>/checkpoints, resume in the middle
    of a seed)."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from domaintune.core.recipe import TrainingBase
    from domaintune.similarity.losses import build_loss

    t = recipe.training
    pairs = ContrastivePairs(class_of, recipe.pairs.sampling, recipe.pairs.max_pairs, seed)
    if len(pairs) == 0 or t.body_epochs == 0:
        return {"pairs": len(pairs), "steps": 0, "seconds": 0.0}
    rows = [(i, j, lab) for epoch in range(t.body_epochs)  # every epoch's pair order, batched as it comes
            for batch in pairs.batches(t.body_batch_size, epoch) for i, j, lab in batch]
    schedule = TrainingBase(epochs=1, batch_size=t.body_batch_size, learning_rate=t.body_learning_rate,
                            weight_decay=t.body_weight_decay, warmup_ratio=t.warmup_ratio,
                            max_grad_norm=t.body_max_grad_norm, eval_steps=t.body_checkpoint_steps,
                            save_total_limit=1, group_by_length=False, seed=seed, tensorboard=False)
    extra = {"train_sampling_strategy": "sequential", "remove_unused_columns": False, "logging_steps": 1}
    trainer, stats = fit(Trainer, TrainingArguments, schedule, seed_dir, None, True, 1, len(rows), resume,
                         show_progress, extra, model=ContrastiveBody(model, build_loss(t.body_loss, model)),
                         train_dataset=Dataset.from_dict({"a": [r[0] for r in rows], "b": [r[1] for r in rows],
                                                          "labels": [r[2] for r in rows]}),
                         data_collator=PairCollator(ids, model.tokenizer.pad_token_id or 0))
    model.eval()
    losses = [h["loss"] for h in stats["log_history"] if "loss" in h]
    return {"pairs": len(pairs), "steps": stats["global_step"], "seconds": stats["seconds"],
            "first_loss": round(losses[0], 4), "last_loss": round(float(np.mean(losses[-10:])), 4),
            "resumed_from": stats["resumed_from"]}


def train_end_to_end(clf: FewShotClassifier, ids: list[list[int]], y: np.ndarray, recipe: FewShotRecipe,
                     seed: int) -> dict:
    """Phase 3: encoder and head together on the examples (cross-entropy, or BCE for multi-label)."""
    t = recipe.training
    torch.manual_seed(seed)
    opt = torch.optim.AdamW([{"params": clf.model.parameters(), "lr": t.end_to_end_learning_rate},
                             {"params": clf.head.parameters(), "lr": t.head_learning_rate}], weight_decay=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss() if clf.multi_label else torch.nn.CrossEntropyLoss()
    pad, target = clf.tokenizer.pad_token_id or 0, torch.tensor(y)
    start = time.perf_counter()
    clf.model.train()
    clf.head.train()
    g = torch.Generator().manual_seed(seed)
    for _ in range(t.end_to_end_epochs):
        for chunk in torch.randperm(len(ids), generator=g).split(t.end_to_end_batch_size):
            rows, input_ids, mask = next(padded_batches([ids[int(i)] for i in chunk], len(chunk), pad))
            emb = clf.model({"input_ids": input_ids, "attention_mask": mask})["sentence_embedding"]
            loss = loss_fn(clf.head(emb), target[chunk[torch.as_tensor(rows)]])
            loss.backward()
            opt.step()
            opt.zero_grad()
    clf.model.eval()
    clf.head.eval()
    return {"seconds": round(time.perf_counter() - start, 2)}


def fit_head(clf_embed: np.ndarray, y: np.ndarray, labels: list[str], recipe: FewShotRecipe, seed: int):
    t, multi = recipe.training, recipe.data.multi_label
    if t.head == "mlp":
        head, _ = train_mlp(clf_embed, y, None, None, len(labels), multi, 512, 0.1, t.head_epochs,
                            t.head_learning_rate, t.head_batch_size, None, recipe.evaluation.threshold, seed)
        return head, {"kind": "mlp", "in_features": clf_embed.shape[1], "hidden": 512, "dropout": 0.1}
    head, _ = fit_logistic(clf_embed, y, None, None, len(labels), multi, t.head_C, [], False,
                           recipe.evaluation.threshold, seed)
    return head, {"kind": "logistic", "in_features": clf_embed.shape[1]}


def run_seed(recipe: FewShotRecipe, seed: int, pool, labels, base_model, evaluator, seed_dir: Path,
             resume: bool, show_progress: bool):
    from domaintune.models import freeze, load_sentence_model

    m, multi = recipe.model, recipe.data.multi_label
    sample = sample_per_class(pool, labels, recipe.data.n_per_class, seed)
    ids, _ = encode_texts(base_model.tokenizer, sample["text"].tolist(), m.max_seq_length, m.truncation)
    y = labelled.encode_labels(sample, labels, multi)
    common = dict(labels=labels, multi_label=multi, max_length=m.max_seq_length, truncation=m.truncation,
                  threshold=recipe.evaluation.threshold)

    # before: the untouched encoder + logistic regression on the same examples
    t0 = time.perf_counter()
    probe = FewShotClassifier(base_model.tokenizer, model=base_model, **common)
    head, _ = fit_logistic(probe.embed_ids(ids), y, None, None, len(labels), multi, recipe.training.head_C, [],
                           False, recipe.evaluation.threshold, seed)
    probe.head = head
    probe_seconds = time.perf_counter() - t0
    before = evaluator(probe)

    # phases 1-3 on a fresh copy of the encoder
    set_seed(seed)
    model = load_sentence_model(m.name, m.max_seq_length, m.pooling)
    freeze(model, m.freeze_embeddings, m.freeze_layers)
    t0 = time.perf_counter()
    body = train_body(model, ids, pair_classes(sample), recipe, seed, seed_dir, resume, show_progress)
    clf = FewShotClassifier(model.tokenizer, model=model, **common)
    clf.head, clf.head_config = fit_head(clf.embed_ids(ids), y, labels, recipe, seed)
    e2e = train_end_to_end(clf, ids, y, recipe, seed) if recipe.training.end_to_end else None
    train_seconds = time.perf_counter() - t0
    result = evaluator.evaluate(clf)
    return clf, {"seed": seed, "examples": len(sample), "before": before, "after": result.metrics,
                 "per_class": result.details["per_class"], "confusion_matrix": result.details["confusion_matrix"],
                 "mistakes": result.details.get("mistakes"),
                 "body": body, "end_to_end": e2e, "train_seconds": round(train_seconds, 2),
                 "probe_seconds": round(probe_seconds, 2)}


def _mean_std(values: list[dict]) -> tuple[dict, dict]:
    keys = values[0].keys()
    return ({k: float(np.mean([v[k] for v in values])) for k in keys},
            {k: float(np.std([v[k] for v in values])) for k in keys})


def run(recipe: FewShotRecipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    from domaintune.models import load_sentence_model

    run = Run(recipe, resume, overwrite)
    with run.timed("data"):
        pool, test, labels = load_data(recipe)
    run.start()
    m, multi = recipe.model, recipe.data.multi_label
    base_model = load_sentence_model(m.name, m.max_seq_length, m.pooling)
    test_ids, _ = encode_texts(base_model.tokenizer, test["text"].tolist(), m.max_seq_length, m.truncation)
    evaluator = ClassificationEvaluator("test", test_ids, labelled.encode_labels(test, labels, multi), labels, multi,
                                        recipe.evaluation.threshold, recipe.evaluation.batch_size,
                                        texts=test["text"].tolist())
    log.info("few-shot: %s per class from %d rows, %d labels, %d test rows, seeds %s", recipe.data.n_per_class,
             len(pool), len(labels), len(test), recipe.training.seeds)
    seeds, first = [], None
    for seed in recipe.training.seeds:  # each seed's result is saved as it finishes: --resume skips it
        done = run.dir / "seeds" / f"{seed}.json"
        if resume and distributed.from_main(done.exists):  # several processes: rank 0's folder decides
            log.info("seed %d already finished: reused", seed)
            seeds.append(distributed.from_main(lambda: json.loads(done.read_text())))  # noqa: B023
            continue
        # several processes: phase 1 runs data-parallel (DDP through the Trainer); phases 2-3 and the evaluation
        # are seconds, repeated on every rank from the same weights and seed; rank 0 alone writes
        clf, result = run_seed(recipe, seed, pool, labels, base_model, evaluator,
                               run.dir / "seeds" / str(seed), resume, show_progress)
        log.info("seed %d: linear probe %.4f -> few-shot %.4f (accuracy, test)", seed,
                 result["before"]["accuracy"], result["after"]["accuracy"])
        if seed == recipe.training.seeds[0]:
            first = clf
        if distributed.is_main():
            if seed == recipe.training.seeds[0]:
                save_folder_atomically(run.dir / "seeds" / str(seed) / "model", clf.save)  # kept for --resume
            atomic_write_json(done, result)
        distributed.barrier()
        seeds.append(result)
    if (finished := run.rank_done({"seeds": len(seeds)})) is not None:
        return finished
    if first is None:  # resumed after the first seed: its model from the run folder
        first = load_classifier(run.dir / "seeds" / str(recipe.training.seeds[0]) / "model")
    first.base = {"name": m.name}
    run.timings.update(train_mean_per_seed=round(float(np.mean([s["train_seconds"] for s in seeds])), 2),
                       probe_mean_per_seed=round(float(np.mean([s["probe_seconds"] for s in seeds])), 2))
    return run.finish(summary(recipe, seeds, labels, len(test)), first.save, lambda mt: card(mt, recipe),
                      write_report)


def summary(recipe: FewShotRecipe, seeds: list[dict], labels: list[str], test_rows: int) -> dict:
    """Mean +- std over seeds; per-class figures, confusion matrix and mistakes of the first seed."""
    before_mean, before_std = _mean_std([s["before"] for s in seeds])
    after_mean, after_std = _mean_std([s["after"] for s in seeds])
    return metrics_envelope(
        "fewshot", {"test": before_mean}, {"test": after_mean}, {"test": {k: default_direction(k) for k in after_mean}},
        training={"seeds": [s["body"] for s in seeds]},
        std={"before": {"test": before_std}, "after": {"test": after_std}},
        labels=labels,
        seeds=seeds,
        per_class={"after": {"test": seeds[0]["per_class"]}},
        confusion_matrix={"after": {"test": seeds[0]["confusion_matrix"]}},
        run={"base_model": recipe.model.name, "strategy": "fewshot", "n_per_class": recipe.data.n_per_class,
             "examples_per_seed": seeds[0]["examples"], "seeds": len(seeds), "test_rows": test_rows,
             "data": recipe.data.train, "multi_label": recipe.data.multi_label,
             "body_loss": recipe.training.body_loss, "pairs_per_seed": seeds[0]["body"]["pairs"],
             "test_accuracy_before": f"{before_mean['accuracy']:.4f} ± {before_std['accuracy']:.4f}",
             "test_accuracy_after": f"{after_mean['accuracy']:.4f} ± {after_std['accuracy']:.4f}"},
        examples=confident_mistakes({"test": {"mistakes": seeds[0].get("mistakes")}}),
    )


def load(path: str | Path):
    return load_classifier(path)


def write_report(run_dir: Path, metrics: dict, log_history: list | None = None) -> dict[str, Path]:
    return classification_report(run_dir, metrics, [])
