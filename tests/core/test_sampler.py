import random

from datasets import Dataset

from domaintune.core.sampler import LengthGroupedBatchSampler


def make(n=1000, bs=16, seed=0):
    rng = random.Random(0)
    lengths = [rng.randint(3, 60) for _ in range(n)]
    ds = Dataset.from_dict({"x": list(range(n))})
    return LengthGroupedBatchSampler(ds, batch_size=bs, drop_last=False, seed=seed, lengths=lengths), lengths


def padded(batches, lengths):
    return sum(max(lengths[i] for i in b) * len(b) for b in batches)


def test_every_index_once_and_far_less_padding():
    s, lengths = make()
    batches = list(s)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000)) and len(batches) == len(s)
    rng = random.Random(1)
    order = list(range(1000))
    rng.shuffle(order)
    random_batches = [order[i:i + 16] for i in range(0, 1000, 16)]
    real = sum(lengths)
    assert padded(batches, lengths) < 1.1 * real < padded(random_batches, lengths)


def test_deterministic_per_epoch_and_different_across_epochs():
    s1, _ = make()
    s2, _ = make()
    s1.set_epoch(3)
    s2.set_epoch(3)
    assert list(s1) == list(s2)
    s2.set_epoch(4)
    assert list(s1) != list(s2)
