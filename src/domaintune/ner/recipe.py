"""The token-classification recipe (task: ner)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from domaintune.core.recipe import AdapterConfig, ModelConfig, RecipeBase, Section, TrainingBase


class NERDataConfig(Section):
    train: str | None = Field(None, description="CoNLL-style file (token ... tag per line) or JSONL with spans")
    validation: str | None = Field(None, description="validation file; null = split off train by sentence")
    test: str | None = Field(None, description="test file (optional)")
    format: Literal["auto", "conll", "jsonl"] = Field("auto", description="auto: .jsonl/.json = spans, else CoNLL")
    scheme: Literal["auto", "iob1", "iob2", "bioes"] = Field(
        "auto", description="tag scheme of the files; all are normalised to IOB2"
    )
    strip_language_prefix: bool = Field(True, description="CoNLL: drop an 'xx:' prefix on tokens (WikiANN)")
    validation_fraction: float = Field(0.1, gt=0, lt=1, description="share of sentences split off for validation")
    split_seed: int = Field(13, description="seed of that split and of the caps")
    max_train_sentences: int | None = Field(None, description="cap on training sentences (null = all)")
    max_validation_sentences: int | None = Field(2000, description="cap on validation sentences (null = all)")

    @field_validator("scheme", "format", mode="before")
    @classmethod
    def _any_case(cls, value):  # IOB2, BIOES, CoNLL: names are accepted in any case
        return value.lower() if isinstance(value, str) else value


class NERTrainingConfig(TrainingBase):
    learning_rate: float = Field(5e-5, gt=0, description="peak AdamW learning rate (full fine-tuning)")
    validation_metric: Literal["f1", "loss"] = Field("f1", description="entity-level F1 (seqeval) or loss")


class NEREvaluationConfig(Section):
    batch_size: int = Field(64, ge=1, description="batch size for evaluation and prediction")


class NEROutputConfig(Section):
    dir: str = Field("runs/ner", description="run folder: model, checkpoints, metrics, report")


class NERRecipe(RecipeBase):
    """A token-classification recipe (task: ner)."""

    task: Literal["ner"] = Field("ner", description="what to train")
    strategy: Literal["full", "lora", "ia3", "loha", "lokr"] = Field(
        "full", description="full | lora | ia3 | loha | lokr"
    )
    model: ModelConfig = Field(default_factory=ModelConfig, description="the encoder")
    data: NERDataConfig = Field(default_factory=NERDataConfig, description="the data")
    adapter: AdapterConfig = Field(default_factory=AdapterConfig, description="adapter strategies (lora, ...)")
    training: NERTrainingConfig = Field(default_factory=NERTrainingConfig, description="the optimisation")
    evaluation: NEREvaluationConfig = Field(default_factory=NEREvaluationConfig, description="evaluation")
    output: NEROutputConfig = Field(default_factory=NEROutputConfig, description="where results go")

    def multi_process(self) -> bool:
        return True
