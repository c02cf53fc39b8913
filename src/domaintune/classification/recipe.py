"""The classification recipe (task: classification)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from domaintune.core.recipe import AdapterConfig, ModelConfig, RecipeBase, Section, TrainingBase
from domaintune.errors import DomaintuneError


class ClassificationModelConfig(ModelConfig):
    pooling: Literal["mean", "cls", "max", "pooler"] = Field(
        "mean", description="the text vector the head reads: mean/cls/max of the last token states (sentence-"
        "transformers models were trained on the mean), or pooler = transformers' own head ([CLS] through the "
        "pretrained pooler; full and adapters)"
    )
    truncation: Literal["head", "tail", "head+tail"] = Field(
        "head", description="texts longer than max_seq_length keep their start, end, or both (1/4 head, 3/4 tail)"
    )


class LabelColumnsConfig(Section):
    text: str = Field("text", description="column holding the text")
    label: str = Field("label", description="column holding the label (text or int)")


class AugmentationConfig(Section):
    enabled: bool = Field(False, description="add perturbed copies of the training rows (never of eval rows)")
    copies: int = Field(1, ge=1, description="perturbed copies per training row")
    synonym_rate: float = Field(0.1, ge=0, le=1, description="share of words replaced by a synonym")
    insert_rate: float = Field(0.1, ge=0, le=1, description="share of words for which a synonym is inserted")
    swap_rate: float = Field(0.1, ge=0, le=1, description="share of words swapped with another word")
    delete_rate: float = Field(0.1, ge=0, le=1, description="probability of deleting each word")
    synonyms: str | None = Field(
        None, description="CSV of word,synonym rows; null = WordNet when nltk's wordnet data is installed, else none"
    )
    seed: int = Field(0, description="seed of the perturbations")


class ClassificationDataConfig(Section):
    train: str | None = Field(None, description="training file (csv/tsv/jsonl/parquet/datasets folder)")
    validation: str | None = Field(None, description="validation file; null = stratified split of the training file")
    test: str | None = Field(None, description="test file, evaluated before and after (optional)")
    columns: LabelColumnsConfig = Field(default_factory=LabelColumnsConfig, description="column mapping")
    multi_label: bool = Field(False, description="rows may carry several labels")
    label_separator: str = Field("|", description="multi-label: separator inside a label cell (JSON lists work too)")
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="share split off for validation (stratified)")
    split_seed: int = Field(13, description="seed of that validation split and of the row caps")
    on_bad_rows: Literal["error", "skip"] = Field("error", description="bad rows: stop with an error, or skip")
    max_train_rows: int | None = Field(None, description="cap on training rows, stratified sample (null = all)")
    max_validation_rows: int | None = Field(None, description="cap on validation rows (null = all)")
    max_test_rows: int | None = Field(None, description="cap on test rows (null = all)")
    augmentation: AugmentationConfig = Field(default_factory=AugmentationConfig, description="EDA augmentation")


class FrozenConfig(Section):
    head: Literal["logistic", "mlp"] = Field("logistic", description="logistic regression or the tutorial's MLP")
    layers: int = Field(1, ge=1, description="features = mean-pooled last k hidden layers, concatenated")
    noisy_passes: int = Field(0, ge=0, description="extra feature passes of the training rows with dropout on")
    C: float | None = Field(None, gt=0, description="logistic: inverse regularisation; null = best of C_grid")
    C_grid: list[float] = Field([0.01, 0.1, 1.0, 10.0], description="logistic: C values tried on validation")
    mlp_hidden: int = Field(512, ge=1, description="MLP: hidden units (hidden -> 512 -> classes)")
    mlp_dropout: float = Field(0.1, ge=0, lt=1, description="MLP: dropout")
    mlp_epochs: int = Field(5, ge=1, description="MLP: epochs over the cached features")
    mlp_learning_rate: float = Field(1e-3, gt=0, description="MLP: Adam learning rate")
    cache_dir: str | None = Field(
        None, description="feature cache; null = $XDG_CACHE_HOME/domaintune/features (~/.cache/...)"
    )

class ClassificationTrainingConfig(TrainingBase):
    learning_rate: float = Field(5e-5, gt=0, description="peak AdamW learning rate (full fine-tuning)")
    class_weights: bool = Field(False, description="weight the loss by inverse class frequency (imbalance)")
    validation_metric: Literal["accuracy", "macro_f1", "loss"] = Field(
        "accuracy", description="picks the best checkpoint and drives early stopping"
    )


class ClassificationEvaluationConfig(Section):
    batch_size: int = Field(64, ge=1, description="batch size when encoding for evaluation and prediction")
    linear_probe: bool = Field(True, description="'before' = untouched encoder + logistic regression")
    probe_max_rows: int = Field(5000, ge=10, description="training rows the linear probe sees (stratified)")
    threshold: float = Field(0.5, gt=0, lt=1, description="multi-label: a label is predicted above this")


class ClassificationOutputConfig(Section):
    dir: str = Field("runs/classification", description="run folder: model, checkpoints, metrics, report")


class ClassificationRecipe(RecipeBase):
    """A classification recipe (task: classification)."""

    task: Literal["classification"] = Field("classification", description="what to train")
    strategy: Literal["frozen", "full", "lora", "ia3", "loha", "lokr"] = Field(
        "frozen", description="frozen | full | lora | ia3 | loha | lokr (adapters: PEFT methods)"
    )
    model: ClassificationModelConfig = Field(default_factory=ClassificationModelConfig, description="the encoder")
    data: ClassificationDataConfig = Field(default_factory=ClassificationDataConfig, description="the data")
    frozen: FrozenConfig = Field(default_factory=FrozenConfig, description="strategy frozen: features + head")
    adapter: AdapterConfig = Field(default_factory=AdapterConfig, description="adapter strategies (lora, ...)")
    training: ClassificationTrainingConfig = Field(
        default_factory=ClassificationTrainingConfig, description="the optimisation (full and adapters)"
    )
    evaluation: ClassificationEvaluationConfig = Field(
        default_factory=ClassificationEvaluationConfig, description="before/after evaluation"
    )
    output: ClassificationOutputConfig = Field(default_factory=ClassificationOutputConfig,
                                               description="where results go")

    @model_validator(mode="after")
    def _settings_fit_the_strategy(self):
        if self.adapter.dora and self.strategy != "lora":
            raise DomaintuneError(f"recipe: 'adapter.dora': DoRA is a LoRA variant; strategy is {self.strategy!r}")
        if self.model.pooling == "pooler" and self.strategy == "frozen":
            raise DomaintuneError("recipe: 'model.pooling': pooler is transformers' own sequence-classification "
                                  "head, for full and adapter strategies; frozen features use mean, cls or max")
        return self

    def hash(self) -> str:
        """As RecipeBase.hash, without the sections this strategy ignores: editing `adapter` does not change a
        `full` run's hash, so `compare` reuses it and `--resume` accepts it."""
        data = self.model_dump(mode="json")
        data.pop("output", None)
        if self.strategy != "frozen":
            data.pop("frozen", None)
        if self.strategy in ("frozen", "full"):
            data.pop("adapter", None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def trains_encoder(self) -> bool:
        return self.strategy != "frozen"

    def multi_process(self) -> bool:
        return True  # frozen: the feature pass is sharded across ranks (features.py)

    def as_ran(self, run_dir: Path) -> ClassificationRecipe:
        """A run from before the pooled head (session 7) trained transformers' [CLS] -> pooler head whatever its
        model.pooling said, so it reads as model.pooling: pooler: neither --resume nor compare takes it for a
        pooled-head run."""
        if self.strategy == "frozen" or self.model.pooling == "pooler":
            return self
        from domaintune.classification.model import META, checkpoint_head_pooling, saved_head_pooling

        meta = run_dir / "model" / META
        checkpoint = next((run_dir / "checkpoints").glob("checkpoint-*"), None)  # any: all hold the same head
        if meta.exists():
            self.model.pooling = saved_head_pooling(json.loads(meta.read_text()))
        elif checkpoint is not None:
            self.model.pooling = checkpoint_head_pooling(checkpoint) or self.model.pooling
        return self
