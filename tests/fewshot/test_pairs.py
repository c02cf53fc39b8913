import itertools
import tracemalloc

import numpy as np
import pytest

from domaintune.fewshot.pairs import ContrastivePairs


@pytest.mark.parametrize("sizes", [[3, 4], [1, 5, 2], [4, 4, 4]])
def test_unique_enumerates_every_pair_exactly_once(sizes):
    cls = np.repeat(np.arange(len(sizes)), sizes)
    np.random.default_rng(0).shuffle(cls)
    pairs = ContrastivePairs(cls, "unique", seed=3)
    got = list(pairs.epoch())
    seen = {frozenset((i, j)) for i, j, _ in got}
    expected = {frozenset(p) for p in itertools.combinations(range(len(cls)), 2)}
    assert len(got) == len(expected) == len(seen) and seen == expected
    for i, j, label in got:
        assert label == float(cls[i] == cls[j])


def test_oversampling_balances_and_undersampling_trims():
    cls = [0] * 3 + [1] * 5  # P = 3 + 10 = 13 positives, N = 15 negatives
    over = list(ContrastivePairs(cls, "oversampling", seed=0).epoch())
    assert len(over) == 30 and sum(lab for *_, lab in over) == 15
    assert len({frozenset((i, j)) for i, j, lab in over if lab == 0}) == 15  # the larger kind: each once
    under = list(ContrastivePairs(cls, "undersampling", seed=0).epoch())
    assert len(under) == 26 and sum(lab for *_, lab in under) == 13
    capped = ContrastivePairs(cls, "oversampling", max_pairs=7)
    assert len(capped) == 7 and sum(len(b) for b in capped.batches(3)) == 7


def test_seeded_and_epochs_differ():
    cls = [0] * 10 + [1] * 10
    a = list(ContrastivePairs(cls, seed=1).epoch(0))
    assert a == list(ContrastivePairs(cls, seed=1).epoch(0))
    assert a != list(ContrastivePairs(cls, seed=1).epoch(1))


def test_memory_stays_bounded_by_the_batch_at_20000_examples_50_classes():
    """20,000 examples x 50 classes have 2 x 10^8 pairs (GBs as a list); generating batches holds O(examples)."""
    peaks = {}
    for n in (2_000, 20_000):
        cls = np.arange(n) % 50
        tracemalloc.start()
        pairs = ContrastivePairs(cls, "oversampling", seed=0)
        for k, _batch in enumerate(pairs.batches(64)):
            if k == 200:
                break
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(pairs) >= n * (n - 1) // 2 * 0.98
    assert len(ContrastivePairs(np.arange(20_000) % 50)) > 3 * 10**8
    assert peaks[20_000] < 4 * 2**20  # under 4 MiB for 3 x 10^8 pairs
    assert peaks[20_000] < peaks[2_000] + 2 * 2**20  # flat: 10x the examples, about the same memory
