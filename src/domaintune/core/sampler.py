"""Length-grouped batches: pairs of similar token length share a batch, so little compute goes to padding.

sentence-transformers has no length-grouping sampler, and transformers' `group_by_length` is bypassed by
its trainer's own batch samplers, so this one plugs into `SentenceTransformerTrainingArguments.batch_sampler`.
Like transformers' LengthGroupedSampler: shuffle, cut into mega-batches of `mega_batch_factor` batches,
sort each mega-batch by length, cut into batches, shuffle the batches. Randomness comes from
(seed, epoch) alone, so a resumed run sees exactly the batches an uninterrupted run would.

Under several processes each global batch (batch_size x processes rows, built exactly as one process with that
batch size builds it) is cut into one consecutive piece per process, in rank order; Accelerate's batch-sampler
shard hands batch i to process i % processes, so each optimiser step covers the same rows as one process would.
"""

from __future__ import annotations

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler

from domaintune.core import distributed


class LengthGroupedBatchSampler(DefaultBatchSampler):
    def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None, generator=None,
                 seed: int = 0, lengths: list[int] | None = None, mega_batch_factor: int = 50):
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last,
                         valid_label_columns=valid_label_columns, generator=generator, seed=seed)
        if lengths is None or len(lengths) != len(dataset):
            raise ValueError("LengthGroupedBatchSampler needs one length per row")
        self.lengths = torch.as_tensor(lengths)
        self.n = len(dataset)
        self.processes = distributed.world_size()
        self.mega = batch_size * self.processes * mega_batch_factor

    def _batches(self) -> list[list[int]]:
        if self.processes == 1:
            return self._global_batches(self.batch_size)
        per_process, size = self.batch_size, self.batch_size * self.processes
        # a short global batch (the epoch's remainder) is dropped: every process must get a piece of each step
        return [batch[k * per_process:(k + 1) * per_process] for batch in self._global_batches(size)
                if len(batch) == size for k in range(self.processes)]

    def _global_batches(self, batch_size: int) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        perm = torch.randperm(self.n, generator=g)
        batches = []
        for start in range(0, self.n, self.mega):
            chunk = perm[start:start + self.mega]
            chunk = chunk[torch.argsort(self.lengths[chunk], descending=True, stable=True)]
            for b in range(0, len(chunk), batch_size):
                batches.append(chunk[b:b + batch_size].tolist())
        if self.drop_last:
            batches = [b for b in batches if len(b) == batch_size]
        order = torch.randperm(len(batches), generator=g).tolist()
        return [batches[i] for i in order]

    def __iter__(self):
        yield from self._batches()

    def __len__(self) -> int:
        return len(self._batches())


def row_lengths(tokenizer, columns: list[list[str]], max_length: int) -> list[int]:
    """Token length a row is padded to when all its texts share one forward pass: the longest of them."""
    per_column = [[len(x) for x in tokenizer(col, truncation=True, max_length=max_length)["input_ids"]]
                  for col in columns]
    return [max(lens) for lens in zip(*per_column, strict=True)]
