"""Classification metrics: accuracy, macro-F1, per-class precision / recall / F1, confusion matrix.

`ClassificationEvaluator` follows the evaluators' contract (name, primary_metric, greater_is_better,
__call__) and takes a `Classifier`; `classification_metrics` also serves transformers' compute_metrics.
Multi-label: accuracy is subset accuracy (every label of a row right), F1s are per label.
"""

from __future__ import annotations

import numpy as np

from domaintune.core.evaluator import EvalResult, Evaluator


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, labels: list[str], multi_label: bool,
                           threshold: float = 0.5) -> tuple[dict, dict, list[list[int]] | None]:
    """Returns ({accuracy, macro_f1}, {label: {precision, recall, f1, support}}, confusion matrix or None)."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    if multi_label:
        y_pred = (probs >= threshold).astype(int)
        y = (np.asarray(y_true) > 0.5).astype(int)
        acc = float((y_pred == y).all(axis=1).mean())
        matrix = None
    else:
        y_pred = probs.argmax(axis=1)
        y = np.asarray(y_true).astype(int)
        acc = float((y_pred == y).mean())
        matrix = confusion_matrix(y, y_pred, labels=list(range(len(labels)))).tolist()
    kw = {"labels": list(range(len(labels)))} if not multi_label else {}
    macro = float(f1_score(y, y_pred, average="macro", zero_division=0, **kw))
    p, r, f, s = precision_recall_fscore_support(y, y_pred, average=None, zero_division=0, **kw)
    per_class = {lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                       "f1": round(float(f[i]), 4), "support": int(s[i])} for i, lab in enumerate(labels)}
    return {"accuracy": acc, "macro_f1": macro}, per_class, matrix


class ClassificationEvaluator(Evaluator):
    primary_metric = "accuracy"
    greater_is_better = True

    def __init__(self, name: str, ids: list[list[int]], y: np.ndarray, labels: list[str], multi_label: bool,
                 threshold: float = 0.5, batch_size: int = 64, texts: list[str] | None = None, mistakes: int = 10):
        self.name, self.ids, self.y, self.labels = name, ids, y, labels
        self.multi_label, self.threshold, self.batch_size = multi_label, threshold, batch_size
        self.texts, self.n_mistakes = texts, mistakes

    def evaluate(self, classifier) -> EvalResult:
        probs = classifier.predict_proba_ids(self.ids, self.batch_size)
        summary, per_class, matrix = self.score(self.y, probs)
        details = {"per_class": per_class, "confusion_matrix": matrix}
        if self.texts is not None and not self.multi_label:
            details["mistakes"] = self.mistakes(probs)
        return EvalResult(summary, details)

    def score(self, y_true: np.ndarray, probs: np.ndarray) -> tuple[dict, dict, list[list[int]] | None]:
        """The metrics of these probabilities: the same numbers for validation during training (transformers'
        compute_metrics) and for the before/after columns."""
        return classification_metrics(y_true, probs, self.labels, self.multi_label, self.threshold)

    def mistakes(self, probs: np.ndarray) -> list[list]:
        """[text, true label, predicted label, probability] of the most confident wrong predictions."""
        pred = probs.argmax(1)
        wrong = np.where(pred != np.asarray(self.y).astype(int))[0]
        wrong = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:self.n_mistakes]
        return [[self.texts[i], self.labels[int(self.y[i])], self.labels[int(pred[i])],
                 round(float(probs[i, pred[i]]), 4)] for i in wrong]
