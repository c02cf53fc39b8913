"""The reranker recipe (task: reranker): a cross-encoder trained on your search judgments to rerank the top
candidates of a first stage (BM25 or a bi-encoder)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domaintune.core.recipe import ModelConfig, RecipeBase, Section, TrainingBase


class RerankerDataConfig(Section):
    retrieval: str | None = Field(
        None, description="your search judgments (a BEIR folder: corpus.jsonl, queries.jsonl, qrels/): the train "
        "split trains, the dev split (else validation_fraction of the train queries) picks the best checkpoint"
    )
    train: str | None = Field(
        None, description="train on a pairs file instead of the train judgments: graded (text_a, text_b, score; "
        "scores normalised to 0-1) as they are, or positive (text_a, text_b, no score column) with negatives mined "
        "by BM25 among the file's other text_b; data.retrieval still judges (dev / test)"
    )
    first_stage: str = Field(
        "bm25", description="what finds the candidates, for training negatives and for evaluation: bm25, or a "
        "bi-encoder (name or folder, e.g. a tuned similarity run's model)"
    )
    negatives_per_query: int = Field(
        7, ge=1, description="hard negatives per training query: first-stage candidates never judged relevant in any "
        "split, drawn (seeded) from its top negative_pool"
    )
    negative_pool: int = Field(30, ge=1, description="first-stage ranks the negatives are drawn from")
    validation_fraction: float = Field(0.1, gt=0, lt=1, description="train queries held out for validation when "
                                       "there is no dev split (seeded by split_seed, whole queries)")
    split_seed: int = Field(42, description="seed of the held-out validation queries")
    on_bad_rows: Literal["error", "skip"] = Field(
        "error", description="bad rows of the judged data: stop with file, line and column, or skip them (counted "
        "in the log and in metrics.json)"
    )


class RerankerTrainingConfig(TrainingBase):
    loss: Literal["bce", "lambda"] = Field(
        "bce", description="bce: binary cross-entropy on (query, document, relevant?) rows; lambda: listwise "
        "LambdaLoss on (query, [relevant documents + negatives]) rows, graded relevance as gains"
    )
    batch_size: int = Field(16, ge=1, description="rows per step and device (lambda: queries, each with its list)")
    learning_rate: float = Field(2e-5, gt=0, description="peak AdamW learning rate")
    eval_steps: int = Field(50, ge=1, description="validate (and checkpoint) every N optimiser steps")


class RerankerEvaluationConfig(Section):
    split: str = Field("test", description="the judgments reranked and scored before and after")
    top_k: int = Field(100, ge=1, description="first-stage candidates reranked per query")
    validation_top_k: int = Field(30, ge=1, description="candidates per validation query while training (fewer: "
                                  "each validation scores queries x this many pairs)")
    max_queries: int | None = Field(None, ge=1, description="cap on test queries (sampled with training.seed; "
                                    "null = all)")
    batch_size: int = Field(64, ge=1, description="pairs per forward pass")


class RerankerOutputConfig(Section):
    dir: str = Field("runs/reranker", description="run folder: model, checkpoints, metrics, report")


class RerankerRecipe(RecipeBase):
    """A cross-encoder reranker (task: reranker; sentence-transformers' CrossEncoder and CrossEncoderTrainer)."""

    task: Literal["reranker"] = Field("reranker", description="what to train")
    model: ModelConfig = Field(default_factory=lambda: ModelConfig(max_seq_length=256),
                               description="the encoder that reads (query, document) together: a cross-encoder, "
                               "or a plain encoder that gets a new one-score head")
    data: RerankerDataConfig = Field(default_factory=RerankerDataConfig, description="your judgments")
    training: RerankerTrainingConfig = Field(default_factory=RerankerTrainingConfig, description="the optimisation")
    evaluation: RerankerEvaluationConfig = Field(default_factory=RerankerEvaluationConfig,
                                                 description="rerank the first stage's top k, before and after")
    output: RerankerOutputConfig = Field(default_factory=RerankerOutputConfig, description="where results go")

    def multi_process(self) -> bool:
        return True
