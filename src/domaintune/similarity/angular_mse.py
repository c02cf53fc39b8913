"""Angular-similarity MSE, as in the Universal Sentence Encoder semantic-similarity tutorial.

sim = 1 - arccos(cos(u, v)) / pi, with cos clipped to +-0.99999 so arccos keeps a finite gradient;
the loss is the mean squared error between sim and the 0-1 score. Angular similarity spreads
near-identical pairs apart better than raw cosine.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from sentence_transformers.base.losses.merged_forward import embed_columns
from torch import Tensor, nn

CLIP = 0.99999


def angular_similarity(a: Tensor, b: Tensor) -> Tensor:
    cos = torch.cosine_similarity(a, b).clamp(-CLIP, CLIP)
    return 1.0 - torch.arccos(cos) / math.pi


class AngularMSELoss(nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        embeddings = embed_columns(self.model, sentence_features)
        return self.compute_loss_from_embeddings(embeddings, labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        sim = angular_similarity(embeddings[0], embeddings[1])
        return nn.functional.mse_loss(sim, labels.float().view(-1))

    @property
    def citation(self) -> str:
        return "Cer et al. 2018, Universal Sentence Encoder (arXiv:1803.11175)"
