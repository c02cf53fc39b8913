"""What the recipes of adaptation without labels share (tasks tsdae and simcse): the raw domain corpus, the
evaluation (a similarity run's: STS benchmark for general ability and, given a taxonomy or domain pairs, the
domain itself) and the output."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domaintune.core.recipe import ModelConfig, RecipeBase, Section
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


class UnsupervisedOutputConfig(Section):
    dir: str = Field("runs/unsupervised", description="run folder: model, checkpoints, metrics, report")


class UnsupervisedRecipe(RecipeBase):
    model: ModelConfig = Field(default_factory=ModelConfig, description="the encoder")
    data: CorpusConfig = Field(default_factory=CorpusConfig, description="the raw domain text")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig, description="before/after evaluation")

    def multi_process(self) -> bool:
        return True
