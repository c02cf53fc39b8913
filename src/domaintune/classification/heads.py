"""Heads on frozen features: logistic regression (scikit-learn, C picked on validation) or the tutorial's MLP
(hidden -> 512 -> classes, ReLU, dropout 0.1). Both end as a small torch module, so saving, loading and
prediction are one code path: logits = head(features).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from domaintune.classification.scores import probabilities

log = logging.getLogger("domaintune")


class LinearHead(nn.Module):
    def __init__(self, in_features: int, classes: int):
        super().__init__()
        self.linear = nn.Linear(in_features, classes)

    def forward(self, x):
        return self.linear(x)


class MLPHead(nn.Module):
    def __init__(self, in_features: int, classes: int, hidden: int = 512, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, classes))

    def forward(self, x):
        return self.net(x)


def build_head(kind: str, in_features: int, classes: int, hidden: int = 512, dropout: float = 0.1) -> nn.Module:
    return MLPHead(in_features, classes, hidden, dropout) if kind == "mlp" else LinearHead(in_features, classes)


def _score(y_true: np.ndarray, probs: np.ndarray, multi_label: bool, threshold: float) -> float:
    """Validation score used to pick C or the MLP epoch: accuracy (subset accuracy for multi-label)."""
    if multi_label:
        return float(((probs >= threshold) == (y_true > 0.5)).all(axis=1).mean())
    return float((probs.argmax(1) == y_true).mean())


def _logistic_to_head(models: list, classes: int, multi_label: bool, in_features: int) -> LinearHead:
    head = LinearHead(in_features, classes)
    with torch.no_grad():
        if multi_label:  # one binary model per class: its logit is the class's sigmoid input
            head.linear.weight.copy_(torch.tensor(np.stack([m.coef_[0] for m in models])))
            head.linear.bias.copy_(torch.tensor([m.intercept_[0] for m in models]))
        else:
            m = models[0]
            if m.coef_.shape[0] == 1:  # binary: softmax over [0, z] equals sigmoid(z)
                head.linear.weight.copy_(torch.tensor(np.vstack([np.zeros_like(m.coef_[0]), m.coef_[0]])))
                head.linear.bias.copy_(torch.tensor([0.0, m.intercept_[0]]))
            else:
                head.linear.weight.copy_(torch.tensor(m.coef_))
                head.linear.bias.copy_(torch.tensor(m.intercept_))
    return head


def fit_logistic(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray | None, y_val: np.ndarray | None,
                 classes: int, multi_label: bool, C: float | None, C_grid: list[float], class_weight: bool,
                 threshold: float = 0.5, seed: int = 0) -> tuple[LinearHead, dict]:
    """Logistic regression; with C=None every value of C_grid is fitted and the best on validation kept."""
    from sklearn.linear_model import LogisticRegression

    def fit(c: float) -> list:
        kw = dict(C=c, max_iter=2000, class_weight="balanced" if class_weight else None, random_state=seed)
        if multi_label:
            return [LogisticRegression(**kw).fit(x_train, y_train[:, k]) if 0 < y_train[:, k].sum() < len(y_train)
                    else _constant_model(x_train.shape[1], y_train[:, k].mean()) for k in range(classes)]
        return [LogisticRegression(**kw).fit(x_train, y_train)]

    grid = [C] if C is not None else list(C_grid)
    best, scores = None, {}
    for c in grid:
        head = _logistic_to_head(fit(c), classes, multi_label, x_train.shape[1])
        if len(grid) == 1 or x_val is None:
            best = (head, c)
            break
        with torch.no_grad():
            s = _score(y_val, probabilities(head(torch.tensor(x_val)), multi_label), multi_label, threshold)
        scores[c] = round(s, 4)
        if best is None or s > scores[best[1]]:
            best = (head, c)
    return best[0], {"C": best[1], "validation_score_by_C": scores}


class _constant_model:  # noqa: N801 (stands in for a LogisticRegression when a class never/always occurs)
    def __init__(self, d: int, p: float):
        p = min(max(p, 1e-4), 1 - 1e-4)
        self.coef_ = np.zeros((1, d))
        self.intercept_ = np.array([np.log(p / (1 - p))])


def train_mlp(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray | None, y_val: np.ndarray | None,
              classes: int, multi_label: bool, hidden: int, dropout: float, epochs: int, learning_rate: float,
              batch_size: int, class_weights: np.ndarray | None, threshold: float = 0.5,
              seed: int = 0) -> tuple[MLPHead, dict]:
    """The tutorial's head on cached features; the epoch with the best validation score is kept."""
    torch.manual_seed(seed)
    head = MLPHead(x_train.shape[1], classes, hidden, dropout)
    opt = torch.optim.Adam(head.parameters(), lr=learning_rate)
    weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=weight) if multi_label else nn.CrossEntropyLoss(weight=weight)
    x, y = torch.tensor(x_train), torch.tensor(y_train)
    g = torch.Generator().manual_seed(seed)
    best_state, best_score, history = None, -1.0, []
    for _epoch in range(epochs):
        head.train()
        for idx in torch.randperm(len(x), generator=g).split(batch_size):
            opt.zero_grad()
            loss = loss_fn(head(x[idx]), y[idx])
            loss.backward()
            opt.step()
        head.eval()
        if x_val is not None:
            with torch.no_grad():
                s = _score(y_val, probabilities(head(torch.tensor(x_val)), multi_label), multi_label, threshold)
            history.append(round(s, 4))
            if s > best_score:
                best_score, best_state = s, {k: v.clone() for k, v in head.state_dict().items()}
    if best_state is not None:
        head.load_state_dict(best_state)
    return head, {"validation_score_by_epoch": history}
