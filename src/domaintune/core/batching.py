"""Padded batches of token ids, in numpy: rows sorted by length so a batch carries little padding. The torch
models wrap the arrays as tensors (classification/features.padded_batches); the exported graphs take them as is."""

from __future__ import annotations

import numpy as np


def padded_arrays(ids: list[list[int]], batch_size: int, pad_id: int, sort: bool = True):
    """Yield (row indices, input_ids int64 [b, width], attention_mask int64 [b, width]); `sort=False`: in the
    given order."""
    order = np.argsort([-len(x) for x in ids], kind="stable") if sort else np.arange(len(ids))
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = max(1, max(len(ids[r]) for r in rows))
        input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for k, r in enumerate(rows):
            input_ids[k, :len(ids[r])] = ids[r]
            mask[k, :len(ids[r])] = 1
        yield rows, input_ids, mask
