"""The parity check of an export: the task's own evaluators (the same objects a run reports with) on the torch
model and on the exported one, side by side, plus how closely their outputs agree text by text.

Which evaluators: the task module's `parity_evaluators(recipe, run_dir, predictor)`, given the recipe of the run
folder the model sits in (RUN/model), so the figures are on the model's own evaluation data. Agreement is
measured on the STS benchmark test sentences (2,758, shipped), which every model can read.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from domaintune.core.evaluator import run_evaluators

log = logging.getLogger("domaintune")


def agreement_texts(limit: int | None = None) -> list[str]:
    from domaintune.core.resources import load_stsb

    df = load_stsb("test")
    texts = df.text_a.tolist() + df.text_b.tolist()
    return texts[:limit] if limit else texts


def embedding_agreement(reference, exported, texts: list[str]) -> dict:
    a, b = reference.encode(texts, batch_size=32), exported.encode(texts, batch_size=32)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    cos = (a * b).sum(axis=1) / np.linalg.norm(b, axis=1)
    worst = int(np.argmin(cos))
    return {"texts": len(texts), "worst_cosine": round(float(cos[worst]), 4),
            "mean_cosine": round(float(cos.mean()), 5), "worst_text": texts[worst]}


def label_agreement(reference, exported, texts: list[str]) -> dict:
    p, q = reference.predict_proba(texts)[0], exported.predict_proba(texts)[0]
    same = [x == y for x, y in zip(reference.decide(p), exported.decide(q), strict=True)]
    return {"texts": len(texts), "same_labels": round(float(np.mean(same)), 4),
            "max_probability_difference": round(float(np.abs(p - q).max()), 4)}


def span_agreement(reference, exported, texts: list[str]) -> dict:
    same = [x == y for x, y in zip(reference.predict(texts), exported.predict(texts), strict=True)]
    return {"texts": len(texts), "same_spans": round(float(np.mean(same)), 4)}


AGREEMENT = {"embedding": embedding_agreement, "classification": label_agreement, "ner": span_agreement}


def check(reference, exported, kind: str, task_module, model_dir: Path, texts_limit: int | None = None) -> dict:
    """{"metrics": {eval: {metric, greater_is_better, torch, exported, delta_points}}, "agreement": {...}}"""
    from domaintune.core.rundir import saved_recipe

    t = time.perf_counter()
    run_dir = Path(model_dir).resolve().parent
    recipe = saved_recipe(run_dir) if (run_dir / "recipe.yaml").exists() else None
    evaluators = task_module.parity_evaluators(recipe, run_dir, reference) if hasattr(
        task_module, "parity_evaluators") else []
    torch_res, _ = run_evaluators(reference, evaluators, "torch")
    export_res, _ = run_evaluators(exported, evaluators, "exported")
    metrics = {}
    for ev in evaluators:
        m = ev.primary_metric
        a, b = torch_res[ev.name][m], export_res[ev.name][m]
        metrics[ev.name] = {"metric": m, "greater_is_better": ev.greater_is_better, "torch": round(a, 4),
                            "exported": round(b, 4),
                            "delta_points": round(100 * (b - a) * (1 if ev.greater_is_better else -1), 3)}
    agreement = AGREEMENT[kind](reference, exported, agreement_texts(texts_limit))
    return {"metrics": metrics, "agreement": agreement, "seconds": round(time.perf_counter() - t, 1),
            "data": "the run's own evaluation data" if recipe is not None else "no run folder beside the model: "
                    "STS benchmark test only (embeddings) or agreement only"}


def worst_drop(result: dict) -> float:
    """The largest loss of a primary metric, in points (0 when nothing got worse)."""
    return max([0.0] + [-m["delta_points"] for m in result["metrics"].values()])
