"""The classification task, top to bottom: data -> token ids -> linear probe ("before") -> train the strategy
(frozen, full or an adapter) -> evaluate ("after") -> save the model -> report.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from domaintune.classifier.frozen import FrozenEncoder, linear_probe, train_frozen
from domaintune.classifier.sequence import check_strategy, train_sequence
from domaintune.data.augment import augment
from domaintune.data.labels import (
    check_known_labels,
    check_label_set,
    encode_labels,
    infer_label_set,
    labelled_reader,
    stratified_indices,
    stratified_sample,
    stratified_split,
)
from domaintune.data.truncation import encode_texts
from domaintune.errors import DomaintuneError
from domaintune.evaluation.classification import ClassificationEvaluator
from domaintune.recipe import ClassificationRecipe, recipe_to_yaml, save_recipe
from domaintune.reporting import plots
from domaintune.reporting.report import classification_model_card, deltas, load_log_history, write_html, write_markdown
from domaintune.tasks.rundir import prepare_run_dir
from domaintune.utils import atomic_write_json, atomic_write_text, package_versions, save_folder_atomically, set_seed

log = logging.getLogger("domaintune")


def load_data(recipe: ClassificationRecipe):
    """Returns (train, validation, test or None, labels). Raises a one-line error for any bad input."""
    d = recipe.data
    if d.train is None:
        raise DomaintuneError("recipe: set data.train (a labelled file with columns "
                              f"'{d.columns.text}' and '{d.columns.label}')")
    read = labelled_reader(d)
    train = read(d.train)
    labels = infer_label_set(train)
    check_label_set(train, labels, d.multi_label)
    if d.validation:
        val = read(d.validation)
    elif d.validation_fraction > 0:
        train, val = stratified_split(train, d.validation_fraction, d.split_seed)
    else:
        raise DomaintuneError("recipe: no validation data: set data.validation or data.validation_fraction > 0")
    test = read(d.test) if d.test else None
    train = stratified_sample(train, d.max_train_rows, d.split_seed)
    val = stratified_sample(val, d.max_validation_rows, d.split_seed)
    if test is not None:
        test = stratified_sample(test, d.max_test_rows, d.split_seed)
    check_known_labels(val, labels, "validation data")
    if test is not None:
        check_known_labels(test, labels, "test data")
    return train, val, test, labels


def class_weights(y: np.ndarray, classes: int, multi_label: bool) -> np.ndarray:
    """Inverse class frequency (n / (classes * count)); multi-label: negatives / positives per label."""
    if multi_label:
        pos = y.sum(0).clip(min=1)
        return ((len(y) - pos) / pos).astype(np.float32)
    counts = np.bincount(y, minlength=classes).clip(min=1)
    return (len(y) / (classes * counts)).astype(np.float32)


def evaluate(classifier, evaluators: list[ClassificationEvaluator]) -> tuple[dict, dict]:
    results, details = {}, {}
    for ev in evaluators:
        results[ev.name] = ev(classifier)
        details[ev.name] = ev.details
        log.info("%s: accuracy=%.4f, macro_f1=%.4f", ev.name, results[ev.name]["accuracy"],
                 results[ev.name]["macro_f1"])
    return results, details


def run(recipe: ClassificationRecipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True,
        frozen_encoder: FrozenEncoder | None = None) -> dict:
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    check_strategy(recipe.strategy)
    run_dir = prepare_run_dir(recipe, resume, overwrite)
    set_seed(recipe.training.seed)
    multi = recipe.data.multi_label

    # 1. data, read and validated before anything is written
    t = time.perf_counter()
    train_df, val_df, test_df, labels = load_data(recipe)
    n_original = len(train_df)
    train_df = augment(train_df, recipe.data.augmentation)
    timings["data"] = round(time.perf_counter() - t, 2)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_recipe(recipe, run_dir / "recipe.yaml")
    log.info("data: %d training rows (%d after augmentation), %d validation, %s test; %d labels", n_original,
             len(train_df), len(val_df), len(test_df) if test_df is not None else 0, len(labels))

    # 2. token ids, cut the same way (head / tail / head+tail) for training, evaluation and prediction
    frozen = frozen_encoder or FrozenEncoder(recipe.model.name, recipe.frozen.cache_dir, recipe.evaluation.batch_size)
    m = recipe.model
    train_ids, train_cut = encode_texts(frozen.tokenizer, train_df["text"].tolist(), m.max_seq_length, m.truncation)
    val_ids, _ = encode_texts(frozen.tokenizer, val_df["text"].tolist(), m.max_seq_length, m.truncation)
    y_train, y_val = encode_labels(train_df, labels, multi), encode_labels(val_df, labels, multi)
    evaluators = [ClassificationEvaluator("validation", val_ids, y_val, labels, multi, recipe.evaluation.threshold,
                                          recipe.evaluation.batch_size)]
    if test_df is not None:
        test_ids, _ = encode_texts(frozen.tokenizer, test_df["text"].tolist(), m.max_seq_length, m.truncation)
        evaluators.append(ClassificationEvaluator("test", test_ids, encode_labels(test_df, labels, multi), labels,
                                                  multi, recipe.evaluation.threshold, recipe.evaluation.batch_size))
    weights = class_weights(y_train, len(labels), multi) if recipe.training.class_weights else None

    # 3. before: the untouched encoder + logistic regression (cached in the run folder for --resume)
    before, before_details = {}, {}
    if recipe.evaluation.linear_probe:
        before_file = run_dir / "before.json"
        if before_file.exists():
            cached = json.loads(before_file.read_text())
            before, before_details, timings["evaluate_before"] = cached["metrics"], cached["details"], cached["seconds"]
        else:
            t = time.perf_counter()
            probe_rows = np.arange(n_original)
            if n_original > recipe.evaluation.probe_max_rows:
                probe_rows = np.sort(stratified_indices(train_df.iloc[:n_original], recipe.evaluation.probe_max_rows
                                                        / n_original, recipe.data.split_seed)[1])
            probe = linear_probe(frozen, recipe, labels, [train_ids[i] for i in probe_rows], y_train[probe_rows],
                                 val_ids, y_val)
            before, before_details = evaluate(probe, evaluators)
            timings["evaluate_before"] = round(time.perf_counter() - t, 2)
            atomic_write_json(before_file, {"metrics": before, "details": before_details,
                                            "seconds": timings["evaluate_before"]})

    # 4. train the strategy
    set_seed(recipe.training.seed)
    t = time.perf_counter()
    log_history: list = []
    if recipe.strategy == "frozen":
        classifier, train_stats = train_frozen(frozen, recipe.frozen, recipe, labels, train_ids, y_train, val_ids,
                                               y_val, weights)
    else:
        classifier, train_stats = train_sequence(recipe, labels, train_ids, y_train, val_ids, y_val, run_dir, weights,
                                                 resume=resume, show_progress=show_progress)
        log_history = train_stats.pop("log_history")
    timings["train"] = round(time.perf_counter() - t, 2)

    # 5. after, by the same evaluators
    t = time.perf_counter()
    after, after_details = evaluate(classifier, evaluators)
    timings["evaluate_after"] = round(time.perf_counter() - t, 2)

    # 6. save the model (atomically) and measure it
    t = time.perf_counter()
    metrics = {
        "task": "classification",
        "before": before,
        "after": after,
        "delta": deltas(before, after),
        "labels": labels,
        "per_class": {"before": {k: v["per_class"] for k, v in before_details.items()},
                      "after": {k: v["per_class"] for k, v in after_details.items()}},
        "confusion_matrix": {"before": {k: v["confusion_matrix"] for k, v in before_details.items()},
                             "after": {k: v["confusion_matrix"] for k, v in after_details.items()}},
        "run": {"base_model": recipe.model.name, "strategy": recipe.strategy, "multi_label": multi,
                "data": recipe.data.train, "train_rows": n_original, "train_rows_augmented": len(train_df),
                "validation_rows": len(val_df), "test_rows": 0 if test_df is None else len(test_df),
                "truncation": m.truncation, "max_seq_length": m.max_seq_length,
                "truncated_training_rows": int(sum(train_cut[:n_original])),
                "parameters": classifier.parameters()},
        "training": train_stats,
        "timings": timings,
        "versions": package_versions(),
        "recipe_hash": recipe.hash(),
    }
    card = classification_model_card(metrics, recipe_to_yaml(recipe, comments=False))

    def write_model(folder: Path) -> None:
        classifier.save(folder)
        atomic_write_text(folder / "README.md", card)

    save_folder_atomically(run_dir / "model", write_model)
    metrics["run"]["size_on_disk_bytes"] = sum(p.stat().st_size for p in (run_dir / "model").rglob("*") if p.is_file())
    timings["save"] = round(time.perf_counter() - t, 2)
    timings["total"] = round(time.perf_counter() - t_all, 2)

    # 7. report
    atomic_write_json(run_dir / "log_history.json", log_history)
    atomic_write_json(run_dir / "metrics.json", metrics)
    write_report(run_dir, metrics, log_history)
    return metrics


def write_report(run_dir: Path, metrics: dict, log_history: list | None = None) -> dict[str, Path]:
    run_dir = Path(run_dir)
    log_history = load_log_history(run_dir, log_history)
    made = {}
    for split, matrix in metrics.get("confusion_matrix", {}).get("after", {}).items():
        if matrix:
            rel = f"plots/confusion_{split}.png"
            plots.confusion_matrix(metrics["labels"], np.array(matrix), run_dir / rel, f"confusion matrix, {split}")
            made[f"Confusion matrix ({split}, after)"] = rel
    key = metrics.get("training", {}).get("validation_metric_key", "eval_accuracy")
    if log_history and plots.learning_curves(log_history, key, run_dir / "plots" / "learning_curves.png"):
        made["Learning curves"] = "plots/learning_curves.png"
    return {"markdown": write_markdown(run_dir, metrics, made), "html": write_html(run_dir, metrics, made)}
