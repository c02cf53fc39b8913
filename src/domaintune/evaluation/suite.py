"""The before/after evaluation suite of a similarity run."""

from __future__ import annotations

import logging
import time

import pandas as pd

from domaintune.data.resources import load_stsb
from domaintune.evaluation.pairs import PairSimilarityEvaluator
from domaintune.evaluation.retrieval import RetrievalEvaluator

log = logging.getLogger("domaintune")


def build_suite(recipe, domain_test: pd.DataFrame | None = None, retrieval: tuple | None = None) -> list:
    ev = recipe.evaluation
    suite = []
    if ev.stsb:
        suite.append(PairSimilarityEvaluator(load_stsb("dev"), "stsb_dev", ev.batch_size))
        suite.append(PairSimilarityEvaluator(load_stsb("test"), "stsb_test", ev.batch_size))
    if domain_test is not None and len(domain_test):
        suite.append(PairSimilarityEvaluator(domain_test, "domain_test", ev.batch_size))
    if retrieval is not None:
        suite.append(RetrievalEvaluator(*retrieval, name="retrieval", batch_size=ev.batch_size))
    return suite


def run_suite(model, suite: list, label: str = "") -> tuple[dict, dict]:
    """Run every evaluator; return ({eval: {metric: value}}, {eval: seconds})."""
    results, seconds = {}, {}
    model.eval()
    for evaluator in suite:
        t = time.perf_counter()
        results[evaluator.name] = evaluator(model)
        seconds[evaluator.name] = round(time.perf_counter() - t, 2)
        log.info("%s %s: %s", label, evaluator.name,
                 ", ".join(f"{k}={v:.4f}" for k, v in results[evaluator.name].items()))
    return results, seconds
