"""The unsupervised SimCSE recipe (task: simcse): dropout positives, in-batch negatives, raw domain text."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domaintune.core.recipe import TrainingBase
from domaintune.embedding.matryoshka import MatryoshkaTraining
from domaintune.unsupervised.recipe import UnsupervisedOutputConfig, UnsupervisedRecipe


class SimCSETrainingConfig(TrainingBase, MatryoshkaTraining):
    learning_rate: float = Field(3e-5, gt=0, description="peak AdamW learning rate (SimCSE's for BERT-base)")
    batch_size: int = Field(64, ge=2, description="texts per step and device; the other texts of the batch are "
                            "the negatives")
    epochs: float = Field(1, gt=0, description="passes over the corpus")
    scale: float = Field(20.0, gt=0, description="1 / temperature of the contrastive softmax (SimCSE: 0.05)")
    gather_across_devices: bool = Field(
        True, description="several processes: every process's texts are negatives for every text"
    )


class SimCSERecipe(UnsupervisedRecipe):
    """Unsupervised SimCSE (task: simcse): each text is its own positive under dropout noise, the rest of the batch
    are negatives (sentence-transformers' MultipleNegativesRankingLoss on (text, text) pairs)."""

    task: Literal["simcse"] = Field("simcse", description="what to train")
    training: SimCSETrainingConfig = Field(default_factory=SimCSETrainingConfig, description="the optimisation")
    output: UnsupervisedOutputConfig = Field(
        default_factory=lambda: UnsupervisedOutputConfig(dir="runs/simcse"), description="where results go")
