"""The evaluator contract every task shares (as sentence-transformers' evaluators):

    evaluator.name               e.g. "stsb_test"
    evaluator.primary_metric     e.g. "spearman"
    evaluator.greater_is_better  True (perplexity: False)
    evaluator.evaluate(model) -> EvalResult(metrics={metric: value}, details={...})
    evaluator(model)          -> the metrics alone

The same evaluator objects run before training, during validation (where the task's trainer allows) and after,
so the columns of a report are comparable. `direction(metric)` says which way a metric improves; the report and
the terminal colour a delta green when it moved the good way.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

log = logging.getLogger("domaintune")

# metrics that improve downward, whatever evaluator reported them (for metrics.json written before directions)
LOWER_IS_BETTER = frozenset({"perplexity", "loss"})
NEUTRAL = frozenset({"masked_tokens", "support"})


@dataclass
class EvalResult:
    metrics: dict[str, float]
    details: dict = field(default_factory=dict)


class Evaluator(ABC):
    name: str
    primary_metric: str
    greater_is_better: bool = True

    @abstractmethod
    def evaluate(self, model) -> EvalResult: ...

    def __call__(self, model) -> dict[str, float]:
        return self.evaluate(model).metrics

    def direction(self, metric: str) -> str | None:
        """'higher' or 'lower' (is better), or None for a count that is neither."""
        if metric in NEUTRAL:
            return None
        if metric == self.primary_metric:
            return "higher" if self.greater_is_better else "lower"
        return default_direction(metric)


def default_direction(metric: str) -> str | None:
    if metric in NEUTRAL:
        return None
    return "lower" if metric in LOWER_IS_BETTER else "higher"


def directions(evaluators, results: dict) -> dict[str, dict[str, str | None]]:
    """{eval name: {metric: direction}} for the results these evaluators gave: saved in metrics.json, read by the
    report and the terminal table."""
    return {ev.name: {m: ev.direction(m) for m in results.get(ev.name, {})} for ev in evaluators}


def run_evaluators(model, evaluators: list[Evaluator], label: str = "") -> tuple[dict, dict]:
    """Run each evaluator; ({eval: {metric: value}}, {eval: details}), logged one line per evaluator."""
    results, details = {}, {}
    for ev in evaluators:
        t = time.perf_counter()
        res = ev.evaluate(model)
        results[ev.name], details[ev.name] = res.metrics, res.details
        log.info("%s %s: %s (%.1f s)", label, ev.name, ", ".join(f"{k}={v:.4f}" for k, v in res.metrics.items()),
                 time.perf_counter() - t)
    return results, details
