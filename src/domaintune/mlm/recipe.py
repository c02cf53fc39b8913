"""The continued-pretraining recipe (task: mlm)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domaintune.core.recipe import ModelConfig, RecipeBase, Section, TrainingBase


class MLMDataConfig(Section):
    train: str | None = Field(None, description="domain text: .txt (see document_split), a folder of .txt, or a table")
    validation: str | None = Field(None, description="held-out domain text; null = split off train by document")
    column: str = Field("text", description="text column of a table")
    document_split: Literal["line", "blank_line"] = Field(
        "line", description=".txt files: one document per line, or documents separated by blank lines"
    )
    validation_fraction: float = Field(0.1, gt=0, lt=1, description="share of documents held out for perplexity")
    split_seed: int = Field(13, description="seed of that split")
    max_documents: int | None = Field(None, description="cap on training documents (null = all)")


class MLMConfig(Section):
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="share of tokens masked")
    whole_word_masking: bool = Field(False, description="mask all word pieces of a word together")
    packing: Literal["packed", "line_by_line"] = Field(
        "packed", description="packed: documents concatenated and cut into full blocks; line_by_line: one per row"
    )
    train_head_only: bool = Field(
        False, description="freeze the encoder, train only the MLM head (the baseline for 'did the encoder adapt?')"
    )


class MLMTrainingConfig(TrainingBase):
    learning_rate: float = Field(5e-5, gt=0, description="peak AdamW learning rate")
    batch_size: int = Field(16, ge=1, description="blocks per step and device")


class MLMEvaluationConfig(Section):
    general_text: bool = Field(True, description="also measure perplexity on general English (STSb sentences)")
    max_eval_blocks: int = Field(1000, ge=1, description="cap on held-out blocks for perplexity")
    batch_size: int = Field(32, ge=1, description="batch size for perplexity")


class MLMOutputConfig(Section):
    dir: str = Field("runs/mlm", description="run folder: model (with MLM head), checkpoints, metrics, report")


class MLMRecipe(RecipeBase):
    """A continued-pretraining recipe (task: mlm)."""

    task: Literal["mlm"] = Field("mlm", description="what to train")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the encoder")
    data: MLMDataConfig = Field(default_factory=MLMDataConfig, description="the domain text")
    mlm: MLMConfig = Field(default_factory=MLMConfig, description="masking and blocks")
    training: MLMTrainingConfig = Field(default_factory=MLMTrainingConfig, description="the optimisation")
    evaluation: MLMEvaluationConfig = Field(default_factory=MLMEvaluationConfig, description="held-out perplexity")
    output: MLMOutputConfig = Field(default_factory=MLMOutputConfig, description="where results go")

    def multi_process(self) -> bool:
        return True
