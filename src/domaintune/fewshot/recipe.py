"""The few-shot recipe (task: fewshot, SetFit-style): one arguments section for the three phases."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domaintune.classification.recipe import (
    ClassificationEvaluationConfig,
    ClassificationModelConfig,
    LabelColumnsConfig,
)
from domaintune.core.recipe import RecipeBase, Section


class FewShotDataConfig(Section):
    train: str | None = Field(None, description="labelled file (csv/tsv/jsonl/parquet/datasets folder)")
    test: str | None = Field(None, description="test file, evaluated for the linear probe and the few-shot model")
    columns: LabelColumnsConfig = Field(default_factory=LabelColumnsConfig, description="column mapping")
    multi_label: bool = Field(False, description="rows may carry several labels (pairs by whole label set)")
    label_separator: str = Field("|", description="multi-label: separator inside a label cell (JSON lists work too)")
    n_per_class: int | None = Field(8, ge=1, description="examples sampled per class and seed; null = whole file")
    on_bad_rows: Literal["error", "skip"] = Field("error", description="bad rows: stop with an error, or skip")
    max_test_rows: int | None = Field(None, description="cap on test rows, stratified sample (null = all)")


class PairsConfig(Section):
    sampling: Literal["oversampling", "undersampling", "unique"] = Field(
        "oversampling", description="oversampling: 2*max(pos, neg) pairs, balanced | undersampling | unique"
    )
    max_pairs: int | None = Field(None, ge=1, description="cap on contrastive pairs per epoch (null = no cap)")


class FewShotTrainingConfig(Section):
    seeds: list[int] = Field([0], description="one run per seed (sample, pairs, initialisation); mean +- std reported")
    body_loss: Literal["cosine_mse", "angular_mse", "cosent", "angle"] = Field(
        "cosine_mse", description="phase 1, contrastive fine-tuning of the encoder: the similarity loss (SetFit's)"
    )
    body_epochs: int = Field(1, ge=0, description="phase 1: passes over the pairs (0 = skip: a linear probe)")
    body_batch_size: int = Field(16, ge=1, description="phase 1: pairs per step")
    body_learning_rate: float = Field(2e-5, gt=0, description="phase 1: peak AdamW learning rate")
    body_weight_decay: float = Field(0.01, ge=0, description="phase 1: AdamW weight decay")
    body_max_grad_norm: float = Field(1.0, ge=0, description="phase 1: gradient clipping norm (0 = off)")
    body_checkpoint_steps: int = Field(50, ge=1, description="phase 1: checkpoint every N steps (--resume mid-seed)")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="phase 1 and 3: share of steps warming up")
    head: Literal["logistic", "mlp"] = Field("logistic", description="phase 2: the head on the tuned embeddings")
    head_C: float = Field(1.0, gt=0, description="phase 2, logistic: inverse regularisation")
    head_epochs: int = Field(50, ge=1, description="phase 2, mlp: epochs")
    head_learning_rate: float = Field(1e-3, gt=0, description="phase 2, mlp (and phase 3's head): learning rate")
    head_batch_size: int = Field(16, ge=1, description="phase 2, mlp: batch size")
    end_to_end: bool = Field(False, description="phase 3: train encoder and head together on the examples")
    end_to_end_epochs: int = Field(2, ge=1, description="phase 3: epochs")
    end_to_end_learning_rate: float = Field(1e-5, gt=0, description="phase 3: the encoder's learning rate")
    end_to_end_batch_size: int = Field(16, ge=1, description="phase 3: batch size")


class FewShotOutputConfig(Section):
    dir: str = Field("runs/fewshot", description="run folder: model (first seed), per-seed results, report")


class FewShotModelConfig(ClassificationModelConfig):
    pooling: Literal["mean", "cls", "max"] = Field(
        "mean", description="pooling for plain transformers encoders (sentence-transformers keep theirs)"
    )
    freeze_embeddings: bool = Field(
        True, description="keep the token embedding matrix fixed: same accuracy, 24% less time (bench/RESULTS.md)"
    )


class FewShotRecipe(RecipeBase):
    """A few-shot classification recipe (task: fewshot)."""

    task: Literal["fewshot"] = Field("fewshot", description="what to train")
    model: FewShotModelConfig = Field(default_factory=FewShotModelConfig, description="the encoder")
    data: FewShotDataConfig = Field(default_factory=FewShotDataConfig, description="the data")
    pairs: PairsConfig = Field(default_factory=PairsConfig, description="contrastive pairs (generated lazily)")
    training: FewShotTrainingConfig = Field(default_factory=FewShotTrainingConfig,
                                            description="the three phases: body, head, optional end-to-end")
    evaluation: ClassificationEvaluationConfig = Field(
        default_factory=ClassificationEvaluationConfig, description="evaluation (linear probe = 'before')"
    )
    output: FewShotOutputConfig = Field(default_factory=FewShotOutputConfig, description="where results go")


    def seed(self) -> int | None:
        return None  # one run per entry of training.seeds, each seeded where it starts

    def multi_process(self) -> bool:
        return True  # the contrastive phase data-parallel; the seconds-long phases repeated on every rank
