"""Contrastive pairs from labelled examples (SetFit's first phase), generated lazily.

Two examples with the same label are a positive pair (1.0), with different labels a negative pair (0.0).
n examples have n(n-1)/2 pairs: 20,000 examples give 2 * 10^8, which the reference library materialises as a
list and runs out of memory. Here pair number k is *decoded* into its two examples on demand:

- examples are sorted by class; for each example p, `pos_start[p]` counts the same-class pairs (p, q > p) of
  the examples before it, and `neg_start[p]` the cross-class pairs (p, q after p's class) before it, so the
  k-th positive or negative pair is one binary search away (O(examples) memory, O(log n) per pair);
- the order is shuffled by an affine permutation k -> (a k + b) mod M with gcd(a, M) = 1, seeded, which needs
  no index array.

Sampling strategies, as in SetFit: `oversampling` (positives and negatives alternate, the smaller kind is
cycled until the larger is used up: 2 * max(P, N) pairs), `undersampling` (2 * min(P, N)), `unique` (every
pair once, P + N), each optionally capped by `max_pairs`. Multi-label rows pair by their whole label set.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import numpy as np


class _AffinePermutation:
    """A seeded bijection on range(m) that needs no memory: k -> (a k + b) mod m."""

    def __init__(self, m: int, rng: random.Random):
        self.m = m
        if m <= 1:
            self.a, self.b = 1, 0
            return
        a = rng.randrange(1, m)
        while math.gcd(a, m) != 1:
            a = rng.randrange(1, m)
        self.a, self.b = a, rng.randrange(m)

    def __call__(self, k: int) -> int:
        return (self.a * k + self.b) % self.m


class ContrastivePairs:
    def __init__(self, class_of: list[int] | np.ndarray, sampling: str = "oversampling", max_pairs: int | None = None,
                 seed: int = 0):
        if sampling not in ("oversampling", "undersampling", "unique"):
            raise ValueError(f"unknown sampling {sampling!r}")
        class_of = np.asarray(class_of)
        self.order = np.argsort(class_of, kind="stable")  # sorted position -> example index
        sorted_cls = class_of[self.order]
        n = len(sorted_cls)
        ends = np.searchsorted(sorted_cls, sorted_cls, side="right")
        self.class_end = ends
        pos_after = ends - np.arange(n) - 1  # same-class partners after p
        neg_after = n - ends  # partners in later classes
        self.pos_start = np.concatenate([[0], np.cumsum(pos_after)]).astype(np.int64)
        self.neg_start = np.concatenate([[0], np.cumsum(neg_after)]).astype(np.int64)
        self.n_pos, self.n_neg = int(self.pos_start[-1]), int(self.neg_start[-1])
        self.sampling, self.seed = sampling, seed
        if sampling == "oversampling":
            total = 2 * max(self.n_pos, self.n_neg) if self.n_pos and self.n_neg else self.n_pos + self.n_neg
        elif sampling == "undersampling":
            total = 2 * min(self.n_pos, self.n_neg) if self.n_pos and self.n_neg else self.n_pos + self.n_neg
        else:
            total = self.n_pos + self.n_neg
        self.total = min(total, max_pairs) if max_pairs else total

    def __len__(self) -> int:
        return self.total

    def _positive(self, k: int) -> tuple[int, int]:
        p = int(np.searchsorted(self.pos_start, k, side="right")) - 1
        q = p + 1 + (k - int(self.pos_start[p]))
        return int(self.order[p]), int(self.order[q])

    def _negative(self, k: int) -> tuple[int, int]:
        p = int(np.searchsorted(self.neg_start, k, side="right")) - 1
        q = int(self.class_end[p]) + (k - int(self.neg_start[p]))
        return int(self.order[p]), int(self.order[q])

    def epoch(self, epoch: int = 0) -> Iterator[tuple[int, int, float]]:
        """Every pair of one epoch as (example i, example j, label), in a seeded order."""
        rng = random.Random(f"{self.seed}:{epoch}")
        perm_pos, perm_neg = _AffinePermutation(self.n_pos, rng), _AffinePermutation(self.n_neg, rng)
        swap = rng.random() < 0.5
        if self.sampling == "unique" or not (self.n_pos and self.n_neg):
            perm = _AffinePermutation(self.n_pos + self.n_neg, rng)
            for t in range(self.total):
                k = perm(t)
                i, j = self._positive(perm_pos(k)) if k < self.n_pos else self._negative(perm_neg(k - self.n_pos))
                yield (j, i, float(k < self.n_pos)) if swap else (i, j, float(k < self.n_pos))
            return
        for t in range(self.total):  # alternate positive / negative; the smaller kind cycles
            r = t // 2
            if t % 2 == 0:
                i, j = self._positive(perm_pos(r % self.n_pos))
                label = 1.0
            else:
                i, j = self._negative(perm_neg(r % self.n_neg))
                label = 0.0
            yield (j, i, label) if (t // 2 + swap) % 2 else (i, j, label)

    def batches(self, batch_size: int, epoch: int = 0) -> Iterator[list[tuple[int, int, float]]]:
        batch: list[tuple[int, int, float]] = []
        for pair in self.epoch(epoch):
            batch.append(pair)
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch
