"""What a classifier's run reports, shared by the tasks that train one (classification, few-shot, NER): the
before/after part of its metrics, its most confident mistakes, its model card, and its report with confusion
matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domaintune.core import plots
from domaintune.core.report import model_card, write_run_report


def classifier_outcome(before_details: dict, after_details: dict, labels: list[str]) -> dict:
    """What a classifier's metrics add to the envelope (core.contract.metrics_envelope): labels, per-class figures
    and confusion matrices, before and after."""
    return {"labels": labels,
            "per_class": {"before": {k: v["per_class"] for k, v in before_details.items()},
                          "after": {k: v["per_class"] for k, v in after_details.items()}},
            "confusion_matrix": {"before": {k: v["confusion_matrix"] for k, v in before_details.items()},
                                 "after": {k: v["confusion_matrix"] for k, v in after_details.items()}}}


def confident_mistakes(details: dict, split: str = "test") -> list[dict]:
    """The most confident wrong predictions on the test rows (validation when there is no test file)."""
    found = details.get(split) or details.get("validation") or {}
    rows = found.get("mistakes")
    if not rows:
        return []
    return [{"title": "Most confident mistakes", "columns": ["text", "true label", "predicted", "confidence"],
             "note": "The rows the trained model got wrong with the highest probability: often label noise, or "
                     "classes the data does not tell apart.", "rows": rows}]


def card(metrics: dict, recipe) -> str:
    info = metrics["run"]
    strategy = info["strategy"]
    how = {"frozen": "a head trained on frozen encoder features (this folder holds the head; the encoder is named "
                     "in domaintune_classifier.json)",
           "full": "full fine-tuning (a standard transformers encoder folder and the head in head.safetensors)",
           "fewshot": "SetFit-style few-shot training: contrastive tuning of the encoder (body/), then a head"}.get(
        strategy, f"a {strategy} adapter (PEFT) with the classification head saved inside it")
    labels = ", ".join(map(str, metrics.get("labels", []))) + (" (multi-label)" if info.get("multi_label") else "")
    rows = info.get("train_rows", info.get("examples_per_seed"))
    return model_card(
        metrics, recipe, "Text classifier (domaintune)",
        f"Trained from `{info['base_model']}` by {how}, on {rows} rows of `{info['data']}`.\nLabels: {labels}.",
        "Predict with `domaintune predict THIS_FOLDER --input FILE`, or in Python: `from domaintune import "
        "registry; registry.load_model(path).predict(texts)`.\n",
        "transformers" if strategy == "full" else "domaintune", ["text-classification", "domaintune"],
        before_means="untouched encoder + logistic regression")


def write_report(run_dir: Path, metrics: dict, log_history: list | None = None) -> dict[str, Path]:
    figures = {}
    for split, matrix in metrics.get("confusion_matrix", {}).get("after", {}).items():
        if matrix:
            rel = f"plots/confusion_{split}.png"
            plots.confusion_matrix(metrics["labels"], np.array(matrix), Path(run_dir) / rel,
                                   f"confusion matrix, {split}")
            figures[f"Confusion matrix ({split}, after)"] = rel
    return write_run_report(run_dir, metrics, log_history, figures)
