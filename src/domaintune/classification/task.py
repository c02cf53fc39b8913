"""The classification task, top to bottom: data -> token ids -> linear probe ("before") -> train the strategy
(frozen, full or an adapter) -> evaluate ("after") -> save the model -> report.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from domaintune.classification.augment import augment
from domaintune.classification.data import (
    check_known_labels,
    encode_labels,
    labelled_reader,
    read_training_file,
    split_keeping_classes,
    stratified_indices,
    stratified_sample,
)
from domaintune.classification.evaluation import ClassificationEvaluator
from domaintune.classification.frozen import FrozenEncoder, linear_probe, train_frozen
from domaintune.classification.predict import predict_file  # noqa: F401 (the task's `domaintune predict`)
from domaintune.classification.recipe import ClassificationRecipe
from domaintune.classification.report import card, classifier_outcome, confident_mistakes, write_report  # noqa: F401
from domaintune.classification.sequence import train_sequence
from domaintune.core.contract import metrics_envelope
from domaintune.core.evaluator import run_evaluators
from domaintune.core.run import Run
from domaintune.core.truncation import encode_texts
from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")


def load_data(recipe: ClassificationRecipe):
    """Returns (train, validation, test or None, labels). Raises a one-line error for any bad input."""
    d = recipe.data
    train, labels, read = read_training_file(d)
    if d.validation:
        val = read(d.validation)
    elif d.validation_fraction > 0:
        train, val = split_keeping_classes(train, labels, d.validation_fraction, d.split_seed,
                                           f"the validation split (data.validation_fraction={d.validation_fraction})")
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


def run(recipe: ClassificationRecipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True,
        frozen_encoder: FrozenEncoder | None = None) -> dict:
    run = Run(recipe, resume, overwrite)
    multi = recipe.data.multi_label

    # 1. data, read and validated before anything is written
    with run.timed("data"):
        train_df, val_df, test_df, labels = load_data(recipe)
        n_original = len(train_df)
        train_df = augment(train_df, recipe.data.augmentation)
    run.start()
    log.info("data: %d training rows (%d after augmentation), %d validation, %s test; %d labels", n_original,
             len(train_df), len(val_df), len(test_df) if test_df is not None else 0, len(labels))

    # 2. token ids, cut the same way (head / tail / head+tail) for training, evaluation and prediction
    frozen = frozen_encoder or FrozenEncoder(recipe.model.name, recipe.frozen.cache_dir, recipe.evaluation.batch_size)
    (train_ids, train_cut, y_train), evaluators = encode_splits(recipe, frozen.tokenizer, train_df, val_df, test_df,
                                                                labels)
    val_ids, y_val = evaluators[0].ids, evaluators[0].y
    weights = class_weights(y_train, len(labels), multi) if recipe.training.class_weights else None

    # 3. before: the untouched encoder + logistic regression (cached in the run folder for --resume)
    probe = lambda: probe_before(recipe, frozen, labels, train_df.iloc[:n_original], train_ids, y_train,  # noqa: E731
                                 evaluators)
    # (under several processes every rank takes part: the frozen encoder's feature pass is sharded across them)
    before = run.before(probe, everywhere=True) if recipe.evaluation.linear_probe else {"metrics": {}, "details": {}}

    # 4. train the strategy
    run.seed()
    with run.timed("train"):
        if recipe.strategy == "frozen":
            classifier, train_stats = train_frozen(frozen, recipe.frozen, recipe, labels, train_ids, y_train, val_ids,
                                                   y_val, weights)
        else:
            classifier, train_stats = train_sequence(recipe, labels, train_ids, y_train, val_ids, y_val, run.dir,
                                                     weights, resume=resume, show_progress=show_progress,
                                                     validator=evaluators[0])
    log_history = train_stats.pop("log_history", [])

    # 5. after, by the same evaluators (several processes: every rank, frozen features sharded; rank 0 writes)
    with run.timed("evaluate_after"):
        after, after_details = run_evaluators(classifier, evaluators, "after")
    if (done := run.rank_done(train_stats)) is not None:
        return done

    # 6. save the model (atomically, with its card), metrics, report
    metrics = metrics_envelope(
        "classification", before["metrics"], after, evaluators, training=train_stats,
        **classifier_outcome(before["details"], after_details, labels),
        examples=confident_mistakes(after_details),
        run={"base_model": recipe.model.name, "strategy": recipe.strategy, "multi_label": multi,
                "data": recipe.data.train, "train_rows": n_original, "train_rows_augmented": len(train_df),
                "validation_rows": len(val_df), "test_rows": 0 if test_df is None else len(test_df),
                "truncation": recipe.model.truncation, "max_seq_length": recipe.model.max_seq_length,
                "truncated_training_rows": int(sum(train_cut[:n_original])),
                "parameters": classifier.parameters()},
    )
    return run.finish(metrics, classifier.save, lambda mt: card(mt, recipe), write_report, log_history)


def probe_before(recipe: ClassificationRecipe, frozen, labels: list[str], train_df, train_ids, y_train,
                 evaluators: list[ClassificationEvaluator]) -> dict:
    """The linear probe (the untouched encoder's features + logistic regression) through the run's evaluators, on
    at most evaluation.probe_max_rows training rows (stratified)."""
    n = len(train_df)
    rows = np.arange(n)
    if n > recipe.evaluation.probe_max_rows:
        rows = np.sort(stratified_indices(train_df, recipe.evaluation.probe_max_rows / n, recipe.data.split_seed)[1])
    clf = linear_probe(frozen, recipe, labels, [train_ids[i] for i in rows], y_train[rows], evaluators[0].ids,
                       evaluators[0].y)
    results, details = run_evaluators(clf, evaluators, "before")
    return {"metrics": results, "details": details}


def encode_splits(recipe: ClassificationRecipe, tokenizer, train_df, val_df, test_df, labels: list[str]):
    """((training ids, truncated flags, targets), [validation evaluator, test evaluator]): every split's texts cut
    the same way, the evaluators holding their ids and targets."""
    m, e, multi = recipe.model, recipe.evaluation, recipe.data.multi_label
    encode = lambda df: encode_texts(tokenizer, df["text"].tolist(), m.max_seq_length, m.truncation)  # noqa: E731
    train_ids, train_cut = encode(train_df)
    evaluators = [ClassificationEvaluator("validation", encode(val_df)[0], encode_labels(val_df, labels, multi),
                                          labels, multi, e.threshold, e.batch_size)]
    if test_df is not None:
        evaluators.append(ClassificationEvaluator("test", encode(test_df)[0], encode_labels(test_df, labels, multi),
                                                  labels, multi, e.threshold, e.batch_size,
                                                  texts=test_df["text"].tolist()))
    return (train_ids, train_cut, encode_labels(train_df, labels, multi)), evaluators








def load(path: str | Path):
    from domaintune.classification.loading import load_classifier

    return load_classifier(path)




def parity_evaluators(recipe, run_dir: Path | None, predictor) -> list:
    """What an export of a classifier is checked on (deploy/parity.py): the run's test file (classification and
    few-shot recipes name it alike); none without one."""
    d = getattr(recipe, "data", None)
    if d is None or not getattr(d, "test", None) or not hasattr(d, "columns") or not hasattr(d.columns, "label"):
        return []
    test = labelled_reader(d)(d.test)
    labels, multi = predictor.labels, predictor.multi_label
    ids, _ = encode_texts(predictor.tokenizer, test["text"].tolist(), predictor.max_length, predictor.truncation)
    return [ClassificationEvaluator("test", ids, encode_labels(test, labels, multi), labels, multi,
                                    predictor.threshold)]
