"""Evaluators. All share one contract (as in sentence-transformers):

    evaluator.name               e.g. "stsb_test"
    evaluator.primary_metric     e.g. "spearman"
    evaluator.greater_is_better  True
    evaluator(model) -> {metric: value}

The same evaluators run before and after training, so the two columns of the report are comparable.
"""

from domaintune.evaluation.pairs import PairSimilarityEvaluator
from domaintune.evaluation.retrieval import RetrievalEvaluator
from domaintune.evaluation.suite import build_suite, run_suite

__all__ = ["PairSimilarityEvaluator", "RetrievalEvaluator", "build_suite", "run_suite"]
