"""The recipes of adaptation without labels (task: tsdae, task: simcse). Both read a raw domain corpus and are
judged like a similarity run: STS benchmark (general ability kept?) and, given a taxonomy or domain pairs, the
domain itself."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domaintune.core.recipe import ModelConfig, RecipeBase, Section, TrainingBase
from domaintune.similarity.recipe import EvaluationConfig, TaxonomyConfig


class CorpusConfig(Section):
    train: str | None = Field(None, description="domain text: .txt (see document_split), a folder of .txt, or a "
                              "table (csv/tsv/jsonl/parquet) with a text column")
    column: str = Field("text", description="text column of a table")
    document_split: Literal["line", "blank_line"] = Field(
        "line", description=".txt files: one text per line, or texts separated by blank lines"
    )
    deduplicate: bool = Field(True, description="drop repeated texts (a repeat in a batch is a false negative)")
    max_texts: int | None = Field(None, ge=2, description="cap on training texts, sampled with training.seed "
                                  "(null = all)")
    taxonomy: TaxonomyConfig | None = Field(
        None, description="evaluation only: held-out concepts of this taxonomy as a retrieval task (alternative "
        "label -> preferred label), whose validation concepts also pick the best checkpoint; null = none"
    )
    test: str | None = Field(None, description="evaluation only: graded domain pairs (text_a, text_b, score)")


class TSDAEConfig(Section):
    deletion_ratio: float = Field(0.6, gt=0, lt=1, description="share of words deleted from the input (the "
                                  "TSDAE paper's best); the decoder rebuilds the whole text from the embedding")
    tie_decoder: bool = Field(True, description="the decoder shares the encoder's weights (only its "
                              "cross-attention and LM head are its own): the paper's setting, and half the memory")


class TSDAETrainingConfig(TrainingBase):
    learning_rate: float = Field(3e-5, gt=0, description="peak AdamW learning rate (the TSDAE paper's)")
    batch_size: int = Field(8, ge=1, description="texts per step and device (the TSDAE paper's)")
    epochs: float = Field(1, gt=0, description="passes over the corpus")


class SimCSETrainingConfig(TrainingBase):
    learning_rate: float = Field(3e-5, gt=0, description="peak AdamW learning rate (SimCSE's for BERT-base)")
    batch_size: int = Field(64, ge=2, description="texts per step and device; the other texts of the batch are "
                            "the negatives")
    epochs: float = Field(1, gt=0, description="passes over the corpus")
    scale: float = Field(20.0, gt=0, description="1 / temperature of the contrastive softmax (SimCSE: 0.05)")
    gather_across_devices: bool = Field(
        True, description="several processes: every process's texts are negatives for every text"
    )


class UnsupervisedOutputConfig(Section):
    dir: str = Field("runs/unsupervised", description="run folder: model, checkpoints, metrics, report")


class UnsupervisedRecipe(RecipeBase):
    model: ModelConfig = Field(default_factory=ModelConfig, description="the encoder")
    data: CorpusConfig = Field(default_factory=CorpusConfig, description="the raw domain text")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig, description="before/after evaluation")

    def multi_process(self) -> bool:
        return True


class TSDAERecipe(UnsupervisedRecipe):
    """Denoising auto-encoder on raw domain text (task: tsdae; sentence-transformers' DenoisingAutoEncoderLoss)."""

    task: Literal["tsdae"] = Field("tsdae", description="what to train")
    tsdae: TSDAEConfig = Field(default_factory=TSDAEConfig, description="the noise and the decoder")
    training: TSDAETrainingConfig = Field(default_factory=TSDAETrainingConfig, description="the optimisation")
    output: UnsupervisedOutputConfig = Field(
        default_factory=lambda: UnsupervisedOutputConfig(dir="runs/tsdae"), description="where results go")

    def multi_process(self) -> bool:
        # the decoder's own weights (cross-attention, LM head) live in the loss, outside the DDP-wrapped model:
        # their gradients would not be averaged across processes; one process until that is handled and tested
        return False


class SimCSERecipe(UnsupervisedRecipe):
    """Unsupervised SimCSE (task: simcse): each text is its own positive under dropout noise, the rest of the batch
    are negatives (sentence-transformers' MultipleNegativesRankingLoss on (text, text) pairs)."""

    task: Literal["simcse"] = Field("simcse", description="what to train")
    training: SimCSETrainingConfig = Field(default_factory=SimCSETrainingConfig, description="the optimisation")
    output: UnsupervisedOutputConfig = Field(
        default_factory=lambda: UnsupervisedOutputConfig(dir="runs/simcse"), description="where results go")
