"""Similarity losses by name. One loss per file; the rest come from sentence-transformers.

- cosine_mse: MSE between cosine similarity and the 0-1 score (sentence-transformers CosineSimilarityLoss)
- angular_mse: MSE between 1 - arccos(cos)/pi and the score, the USE tutorial's (domaintune.similarity.angular_mse)
- cosent: pair cosines ranked consistently with the scores (sentence-transformers CoSENTLoss)
- angle: CoSENT on angle differences in complex space (sentence-transformers AnglELoss)
- in_batch_negatives: positive pairs; the other rows of the batch are negatives
  (sentence-transformers MultipleNegativesRankingLoss; with a mini-batch size, its GradCache variant
  CachedMultipleNegativesRankingLoss: the same loss and gradients in memory bounded by the mini-batch)
"""

from __future__ import annotations

from domaintune.similarity.angular_mse import AngularMSELoss

POSITIVE_ONLY = {"in_batch_negatives"}


def build_loss(name: str, model, in_batch_directions: tuple[str, ...] = ("query_to_doc",),
               gather_across_devices: bool = False, cached_mini_batch_size: int | None = None):
    from sentence_transformers.sentence_transformer import losses as st_losses

    if name == "cosine_mse":
        return st_losses.CosineSimilarityLoss(model)
    if name == "angular_mse":
        return AngularMSELoss(model)
    if name == "cosent":
        return st_losses.CoSENTLoss(model)
    if name == "angle":
        return st_losses.AnglELoss(model)
    if name == "in_batch_negatives":
        common = {"directions": tuple(in_batch_directions), "gather_across_devices": gather_across_devices}
        if cached_mini_batch_size:
            return st_losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=cached_mini_batch_size,
                                                                **common)
        return st_losses.MultipleNegativesRankingLoss(model, **common)
    if cached_mini_batch_size:
        raise ValueError(f"training.cached_mini_batch_size is for in_batch_negatives, not {name!r}")
    raise ValueError(f"unknown loss {name!r}")


__all__ = ["AngularMSELoss", "build_loss", "POSITIVE_ONLY"]
