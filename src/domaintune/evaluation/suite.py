"""The before/after evaluation suite of a similarity run."""

from __future__ import annotations

import logging
import time

import pandas as pd

from domaintune.data.resources import load_stsb, load_stsb_multi
from domaintune.evaluation.pairs import PairSimilarityEvaluator
from domaintune.evaluation.retrieval import RetrievalEvaluator

log = logging.getLogger("domaintune")


def build_suite(recipe, domain_test: pd.DataFrame | None = None, retrieval: dict[str, tuple] | None = None) -> list:
    """STSb dev/test (English), STSb test in `evaluation.stsb_languages`, domain pairs, and one retrieval
    evaluator per task ({name: (queries, corpus, relevant)}: monolingual and cross-lingual)."""
    ev = recipe.evaluation
    suite = []
    if ev.stsb:
        suite.append(PairSimilarityEvaluator(load_stsb("dev"), "stsb_dev", ev.batch_size))
        suite.append(PairSimilarityEvaluator(load_stsb("test"), "stsb_test", ev.batch_size))
    for lang in ev.stsb_languages:
        if lang != "en" or not ev.stsb:
            suite.append(PairSimilarityEvaluator(load_stsb_multi(lang, ev.stsb_multi_mt_dir), f"stsb_test_{lang}",
                                                 ev.batch_size))
    if domain_test is not None and len(domain_test):
        suite.append(PairSimilarityEvaluator(domain_test, "domain_test", ev.batch_size))
    for name, task in (retrieval or {}).items():
        suite.append(RetrievalEvaluator(*task, name=name, batch_size=ev.batch_size))
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
