"""Entity-level evaluation (seqeval): precision, recall, F1 overall (micro) and per type, plus token accuracy.

`NEREvaluator` follows the evaluators' contract and takes a `Tagger`; its `compute_metrics` scores the trainer's
validation predictions with the same code, so the F1 that picks the best checkpoint is the F1 reported.
"""

from __future__ import annotations

import numpy as np

from domaintune.core.evaluator import EvalResult, Evaluator


class NEREvaluator(Evaluator):
    primary_metric = "f1"
    greater_is_better = True

    def __init__(self, name: str, sentences, tags: list[str], batch_size: int = 64):
        self.name, self.sentences, self.tags, self.batch_size = name, sentences, tags, batch_size

    def evaluate(self, tagger) -> EvalResult:
        pred = tagger.predict_words([s.words for s in self.sentences], self.batch_size)
        gold = [s.tags for s in self.sentences]
        overall, per_type = entity_metrics(gold, pred)
        overall["token_accuracy"] = words_accuracy(gold, pred)
        return EvalResult(overall, {"per_class": per_type})

    def compute_metrics(self, pred) -> dict:
        """transformers' compute_metrics: first-sub-token predictions of the validation windows -> entity scores."""
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        gold, guess = [], []
        for p_row, l_row in zip(logits.argmax(-1), pred.label_ids, strict=True):
            keep = l_row != -100
            gold.append([self.tags[i] for i in l_row[keep]])
            guess.append([self.tags[i] for i in p_row[keep]])
        return entity_metrics(gold, guess)[0]


def entity_metrics(gold: list[list[str]], pred: list[list[str]]) -> tuple[dict, dict]:
    """seqeval entity-level precision, recall, F1: overall (micro) and per type."""
    from seqeval.metrics import classification_report

    rep = classification_report(gold, pred, output_dict=True, zero_division=0)
    overall = rep["micro avg"]
    per_type = {k: {"precision": round(float(v["precision"]), 4), "recall": round(float(v["recall"]), 4),
                    "f1": round(float(v["f1-score"]), 4), "support": int(v["support"])}
                for k, v in rep.items() if not k.endswith(" avg")}
    return ({"precision": float(overall["precision"]), "recall": float(overall["recall"]),
             "f1": float(overall["f1-score"])}, per_type)


def words_accuracy(gold: list[list[str]], pred: list[list[str]]) -> float:
    g = np.concatenate([np.array(x) for x in gold])
    p = np.concatenate([np.array(x) for x in pred])
    return float((g == p).mean())
