"""The TSDAE recipe (task: tsdae): denoising auto-encoder on raw domain text."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domaintune.core.recipe import Section, TrainingBase
from domaintune.unsupervised.recipe import UnsupervisedOutputConfig, UnsupervisedRecipe


class TSDAEConfig(Section):
    deletion_ratio: float = Field(0.6, gt=0, lt=1, description="share of words deleted from the input (the "
                                  "TSDAE paper's best); the decoder rebuilds the whole text from the embedding")
    tie_decoder: bool = Field(True, description="the decoder shares the encoder's weights (only its "
                              "cross-attention and LM head are its own): the paper's setting, and half the memory")


class TSDAETrainingConfig(TrainingBase):
    learning_rate: float = Field(3e-5, gt=0, description="peak AdamW learning rate (the TSDAE paper's)")
    batch_size: int = Field(8, ge=1, description="texts per step and device (the TSDAE paper's)")
    epochs: float = Field(1, gt=0, description="passes over the corpus")


class TSDAERecipe(UnsupervisedRecipe):
    """Denoising auto-encoder on raw domain text (task: tsdae; sentence-transformers' DenoisingAutoEncoderLoss)."""

    task: Literal["tsdae"] = Field("tsdae", description="what to train")
    tsdae: TSDAEConfig = Field(default_factory=TSDAEConfig, description="the noise and the decoder")
    training: TSDAETrainingConfig = Field(default_factory=TSDAETrainingConfig, description="the optimisation")
    output: UnsupervisedOutputConfig = Field(
        default_factory=lambda: UnsupervisedOutputConfig(dir="runs/tsdae"), description="where results go")
