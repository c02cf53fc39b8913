"""Several processes of one run (torchrun / accelerate launch), through Accelerate's process state.

Rank 0 alone prepares the run folder, evaluates and writes; the other ranks wait at barriers and train. The
trainers (transformers', sentence-transformers') already wrap the model in DDP and shard the data loader; this
module is what the run template needs around them. In one process every function is a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Callable


def world_size() -> int:
    value = os.environ.get("WORLD_SIZE", "1")
    return int(value) if value.isdigit() else 1


def rank() -> int:
    value = os.environ.get("RANK", "0")
    return int(value) if value.isdigit() else 0


def is_main() -> bool:
    return rank() == 0


def init() -> None:
    """Join the process group (gloo on CPUs, NCCL on GPUs) before the first barrier: Accelerate's PartialState,
    the same state the trainers use later."""
    if world_size() > 1:
        from accelerate import PartialState

        PartialState()


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()


def main_first(fn: Callable):
    """`fn()` on rank 0, then (after it wrote what it writes) on the other ranks, which find it done."""
    if is_main():
        result = fn()
        barrier()
        return result
    barrier()
    return fn()


def from_main(fn: Callable):
    """`fn()` computed on rank 0 and its (picklable) result sent to every rank: one decision, one value for all
    (e.g. whether a cache file exists where rank 0 writes it). Every rank must call it. An exception on rank 0 is
    sent too and raised on every rank, so no rank waits for a value that never comes."""
    if world_size() == 1:
        return fn()
    import torch.distributed as dist

    box = [None]
    if is_main():
        try:
            box = [("value", fn())]
        except Exception as e:  # noqa: BLE001 (re-raised below, on this rank and the others)
            box = [("error", e)]
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise value
    return value


def shard(n: int) -> range:
    """This rank's contiguous share of n rows (ranks in order; the first n % world_size ranks take one more)."""
    size, r = world_size(), rank()
    per, extra = divmod(n, size)
    start = r * per + min(r, extra)
    return range(start, start + per + (1 if r < extra else 0))


def gather_rows(part):
    """Every rank's array of rows (from `shard`), concatenated in rank order, on every rank. Every rank must call
    it; in one process it returns `part`."""
    if world_size() == 1:
        return part
    import numpy as np
    import torch.distributed as dist

    parts = [None] * world_size()
    dist.all_gather_object(parts, part)
    return np.concatenate([p for p in parts if p is not None and len(p)] or [part])
