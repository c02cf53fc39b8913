"""Frozen-encoder features, computed once and cached on disk.

The popular "frozen BERT + MLP head" tutorial runs the frozen encoder again on every batch of every epoch.
Here the encoder runs once per text (in eval mode), the pooled features are stored under a key made of
the encoder's content fingerprint, the layers and pooling used and the exact token ids, and every later
run (other heads, other C values, `compare`) reuses them. Optional noisy passes run the encoder with dropout
on, giving the head the "free augmentation" the tutorial got from recomputing in train mode.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch

from domaintune.core import distributed
from domaintune.core.batching import padded_arrays
from domaintune.core.io import atomic_write_bytes

log = logging.getLogger("domaintune")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "domaintune" / "features"


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    if pooling == "max":
        return hidden.masked_fill(m == 0, -1e9).max(dim=1).values
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


def padded_batches(ids: list[list[int]], batch_size: int, pad_id: int, sort: bool = True):
    """Yield (row indices, input_ids, attention_mask) as torch tensors (core/batching.padded_arrays)."""
    for rows, input_ids, mask in padded_arrays(ids, batch_size, pad_id, sort):
        yield rows, torch.from_numpy(input_ids), torch.from_numpy(mask)


class FeatureEncoder(ABC):
    """An untouched encoder that turns token ids into fixed feature vectors: what frozen-feature classification
    and the linear probe read. Two implementations: `TransformerFeatures` (any transformers encoder: pooled
    hidden states of the last k layers) and the Universal Sentence Encoder (use_encoder.UseFeatures: one
    sentence vector, no layers, no dropout)."""

    tokenizer = None
    single_vector = False  # True: one sentence vector only (no `layers` > 1, no noisy dropout passes)

    @abstractmethod
    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: int, pooling: str,
                 noisy: bool = False) -> np.ndarray: ...

    @abstractmethod
    def fingerprint(self) -> str: ...

    @abstractmethod
    def parameter_count(self) -> int: ...


def encode_features(encoder: FeatureEncoder, ids: list[list[int]], pad_id: int, layers: int = 1,
                    pooling: str = "mean", batch_size: int = 64, noisy: bool = False) -> np.ndarray:
    """Features of the last `layers` layers, pooled and concatenated: (rows, features), float32."""
    out = None
    for rows, input_ids, mask in padded_batches(ids, batch_size, pad_id):
        feats = encoder.features(input_ids, mask, layers, pooling, noisy)
        if out is None:
            out = np.zeros((len(ids), feats.shape[1]), dtype=np.float32)
        out[rows] = feats
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def cache_key(model_fingerprint: str, ids: list[list[int]], layers: int, pooling: str, noise_pass: int) -> str:
    h = hashlib.sha256(f"{model_fingerprint}|{layers}|{pooling}|{noise_pass}|".encode())
    for row in ids:
        h.update(np.asarray(row, dtype=np.int32).tobytes())
        h.update(b"\xff\xff\xff\xff")
    return h.hexdigest()[:32]


def cached_features(encoder, model_fingerprint: str, ids: list[list[int]], pad_id: int, cache_dir: Path | None,
                    layers: int = 1, pooling: str = "mean", batch_size: int = 64, noise_pass: int = 0,
                    what: str = "") -> tuple[np.ndarray, bool]:
    """Features for these token ids, from the disk cache when present. Returns (features, was_cached).
    noise_pass > 0 computes a dropout-noised pass, seeded by its number.

    Under several processes every rank calls this together: rank 0's cache decides for all, each rank encodes
    its contiguous share of the rows, the shares are gathered on every rank, and rank 0 writes the cache."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{cache_key(model_fingerprint, ids, layers, pooling, noise_pass)}.npy"
        if distributed.from_main(path.exists):
            return distributed.from_main(lambda: np.load(path)), True
    if noise_pass:
        torch.manual_seed(noise_pass)
    mine = distributed.shard(len(ids))
    log.info("encoding %d %s texts%s (frozen encoder, once)%s", len(ids), what,
             f", noisy pass {noise_pass}" if noise_pass else "",
             f"; this process: rows {mine.start}-{mine.stop - 1}" if distributed.world_size() > 1 else "")
    feats = distributed.gather_rows(encode_features(encoder, [ids[i] for i in mine], pad_id, layers, pooling,
                                                    batch_size, noisy=noise_pass > 0))
    if path is not None and distributed.is_main():
        buf = io.BytesIO()
        np.save(buf, feats)
        atomic_write_bytes(path, buf.getvalue())
    return feats, False
