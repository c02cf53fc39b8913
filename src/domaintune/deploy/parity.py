"""The parity check of an export: the task's own evaluators (the same objects a run reports with) on the torch
model and on the exported one, side by side, plus how closely their outputs agree text by text.

Which evaluators is the caller's to say (api.export: the task module's `parity_evaluators(recipe, run_dir,
predictor)`, given the recipe of the run folder the model sits in, so the figures are on the model's own
evaluation data). Agreement is the predictor's own measure (`Predictor.agreement`), on the STS benchmark test
sentences (2,758, shipped), which every model can read.
"""

from __future__ import annotations

import logging
import time

from domaintune.core.evaluator import run_evaluators

log = logging.getLogger("domaintune")


def agreement_texts(limit: int | None = None) -> list[str]:
    from domaintune.core.resources import load_stsb

    df = load_stsb("test")
    texts = df.text_a.tolist() + df.text_b.tolist()
    return texts[:limit] if limit else texts


def check(reference, exported, evaluators: list, data: str, texts_limit: int | None = None) -> dict:
    """{"metrics": {eval: {metric, greater_is_better, torch, exported, delta_points}}, "agreement": {...}}: the
    given evaluators on both models, and the reference predictor's own agreement measure (core/contract.py)."""
    t = time.perf_counter()
    torch_res, _ = run_evaluators(reference, evaluators, "torch")
    export_res, _ = run_evaluators(exported, evaluators, "exported")
    metrics = {}
    for ev in evaluators:
        m = ev.primary_metric
        a, b = torch_res[ev.name][m], export_res[ev.name][m]
        metrics[ev.name] = {"metric": m, "greater_is_better": ev.greater_is_better, "torch": round(a, 4),
                            "exported": round(b, 4),
                            "delta_points": round(100 * (b - a) * (1 if ev.greater_is_better else -1), 3)}
    agreement = reference.agreement(exported, agreement_texts(texts_limit))
    return {"metrics": metrics, "agreement": agreement, "seconds": round(time.perf_counter() - t, 1), "data": data}


def worst_drop(result: dict) -> float:
    """The largest loss of a primary metric, in points (0 when nothing got worse)."""
    return max([0.0] + [-m["delta_points"] for m in result["metrics"].values()])
