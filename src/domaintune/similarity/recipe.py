"""The similarity recipe (task: similarity)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from domaintune.core.recipe import ModelConfig, RecipeBase, Section, TrainingBase
from domaintune.embedding.matryoshka import MatryoshkaTraining
from domaintune.errors import DomaintuneError
from domaintune.reranker.recipe import RerankerTrainingConfig

DEFAULT_PROBES = [
    "Data Scientist",
    "Data Analyst",
    "Data Engineer",
    "Nurse Practitioner",
    "Registered Nurse",
    "Medical Assistant",
    "Social Media Manager",
    "Marketing Strategist",
    "Product Marketing Manager",
]

class ColumnsConfig(Section):
    text_a: str = Field("text_a", description="column holding the first text")
    text_b: str = Field("text_b", description="column holding the second text")
    score: str = Field("score", description="column holding the similarity score")


class TaxonomyConfig(Section):
    path: str = Field("builtin:esco_en", description="taxonomy table, or builtin:esco_en / esco_de / esco_es")
    id_column: str = Field("concept_id", description="column with the concept id")
    preferred_column: str = Field("preferred_label", description="column with the preferred label")
    alternatives_column: str = Field("alt_labels", description="column with alternative labels")
    alternatives_separator: str = Field("\n", description="separator between alternative labels in a cell")
    code_column: str = Field("isco_group", description="column with the hierarchical code (e.g. ISCO-08)")
    same_concept_score: float = Field(1.0, description="score of two labels of the same concept")
    levels: list[tuple[int, float]] = Field(
        [(4, 0.7), (2, 0.4), (1, 0.2)],
        description="[code prefix length, score]: concepts sharing that prefix, most specific first",
    )
    different_top_score: float = Field(0.0, description="score of concepts in different top-level groups")
    pairs_per_concept: int = Field(4, ge=1, description="pairs sampled per concept and per level")
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="share of concepts held out for validation")
    test_fraction: float = Field(0.2, ge=0, lt=1, description="share of concepts held out for test/retrieval")
    seed: int = Field(13, description="seed of the concept split and the pair sampling")
    translations: list[str] = Field(
        [], description="the same taxonomy in other languages (same concept ids), e.g. [builtin:esco_de, "
        "builtin:esco_es]: pairs in each language and across every two, split by concept for all"
    )
    cross_lingual: bool = Field(True, description="with translations: also pairs whose two texts differ in language")


class SilverConfig(Section):
    enabled: bool = Field(False, description="train a cross-encoder on the gold judgments, let it label the "
                          "unlabelled queries' BM25 candidates, and add its confident positives to the gold pairs")
    queries: str | None = Field(None, description="the unlabelled queries: .txt (one per line) or a table with a "
                                "text column; null = the train queries left out by data.max_train_queries")
    candidates: int = Field(10, ge=1, description="BM25 candidates per unlabelled query scored by the cross-encoder")
    min_score: float = Field(0.8, ge=0, le=1, description="a query's best candidate is a silver positive when the "
                             "cross-encoder's 0-1 score reaches this")
    max_seq_length: int = Field(256, ge=8, description="tokens per (query, document) pair for the cross-encoder")
    negatives_per_query: int = Field(7, ge=1, description="BM25 hard negatives per gold query for the "
                                     "cross-encoder (never a judged relevant document)")
    training: RerankerTrainingConfig = Field(default_factory=RerankerTrainingConfig,
                                             description="the cross-encoder's optimisation (as task: reranker's)")


class DataConfig(Section):
    train: str | None = Field(None, description="training pairs file (csv/tsv/jsonl/parquet/datasets folder)")
    validation: str | None = Field(None, description="validation pairs file; null = split off the training file")
    test: str | None = Field(None, description="domain test pairs file (optional)")
    columns: ColumnsConfig = Field(default_factory=ColumnsConfig, description="column mapping")
    score_range: Literal["auto", "0-1", "0-5", "-1-1"] = Field(
        "auto", description="range of the raw scores, normalised to 0-1; auto infers it"
    )
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="share split off for validation")
    split_seed: int = Field(13, description="seed of that validation split")
    on_bad_rows: Literal["error", "skip"] = Field(
        "error", description="bad rows: stop with an error, or skip and report"
    )
    taxonomy: TaxonomyConfig | None = Field(
        default_factory=TaxonomyConfig,
        description="build graded pairs from a taxonomy (used when train and retrieval are null); null to disable",
    )
    retrieval: str | None = Field(
        None, description="train from your search judgments (a BEIR folder): (query, relevant document) pairs of "
        "its train split; its dev split (else validation_fraction of the train queries, seeded) picks the best "
        "checkpoint by nDCG@10; its test split is judged before and after (evaluation.retrieval_data)"
    )
    max_train_queries: int | None = Field(
        None, ge=1, description="data.retrieval: train on the judgments of this many train queries (sampled with "
        "split_seed; null = all); the others are silver.queries' default pool"
    )
    silver: SilverConfig = Field(default_factory=SilverConfig, description="data.retrieval: silver pairs "
                                 "labelled by a cross-encoder trained on the gold judgments (Augmented SBERT)")
    max_train_pairs: int | None = Field(
        None, description="cap on training pairs, sampled with split_seed (null = all)"
    )
    max_validation_pairs: int | None = Field(
        1000, description="cap on validation pairs: validation runs every eval_steps (null = all)"
    )

class MiningConfig(Section):
    num_negatives: int = Field(1, ge=1, description="negatives mined per positive pair (one training row each)")
    range_min: int = Field(10, ge=0, description="skip the closest candidates (ranks 0..range_min-1): there sit "
                           "the unlabelled positives")
    range_max: int = Field(50, ge=1, description="take negatives from ranks up to this one")
    relative_margin: float = Field(0.05, ge=0, lt=1, description="a negative scores at most (1 - this) x the "
                                   "positive's similarity; 0 = no margin")
    sampling: Literal["top", "random"] = Field("top", description="the closest qualifying candidates, or random "
                                               "ones within the range")
    batch_size: int = Field(64, ge=1, description="texts per encoding batch")
    query_batch_size: int = Field(512, ge=1, description="queries scored against the corpus at once: memory is "
                                  "query_batch_size x corpus, linear in the corpus")


class TrainingConfig(TrainingBase, MatryoshkaTraining):
    loss: Literal["cosine_mse", "angular_mse", "cosent", "angle", "in_batch_negatives"] = Field(
        "cosent", description="cosine_mse | angular_mse | cosent | angle | in_batch_negatives"
    )
    positive_min_score: float = Field(
        0.8, ge=0, le=1, description="in_batch_negatives trains on pairs scoring at least this (0-1 scale)"
    )
    in_batch_directions: list[Literal["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"]] = Field(
        ["query_to_doc"], description="in_batch_negatives: which in-batch similarities act as negatives "
        "(all four = GTE's improved contrastive loss)"
    )
    gather_across_devices: bool = Field(
        True, description="in_batch_negatives under several processes: every process's pairs are negatives for "
        "every anchor (the same negatives as one process with the global batch); off = each process's own only"
    )
    cached_mini_batch_size: int | None = Field(
        None, ge=1, description="in_batch_negatives: GradCache (sentence-transformers' "
        "CachedMultipleNegativesRankingLoss) in mini-batches of this size, so batch_size sets the negatives, not "
        "the memory; null = off"
    )
    mine_hard_negatives: bool = Field(
        False, description="in_batch_negatives: mine a hard negative for each positive pair with the base model "
        "before training (replacing any negative column; cached in RUN/data/mined_negatives.csv)"
    )
    mining: MiningConfig = Field(default_factory=MiningConfig, description="hard-negative mining (see above)")
    hard_negatives: bool = Field(
        True, description="in_batch_negatives on a taxonomy: add a sibling concept's label to each pair"
    )
    validation_metric: Literal["auto", "spearman", "mrr@10", "ndcg@10"] = Field(
        "auto", description="picks the best checkpoint; auto = ndcg@10 on judged validation queries with "
        "data.retrieval, mrr@10 (held-out concept retrieval) for in_batch_negatives on a taxonomy, else spearman "
        "on validation pairs"
    )
    interpolate_base: float = Field(
        0.0, ge=0, lt=1, description="WiSE-FT: the saved model = (1 - x) * tuned + x * base weights, keeping "
        "more general ability (STSb); applied to the best checkpoint; 0 = off"
    )

    @model_validator(mode="after")
    def _in_batch_negatives_settings(self):
        for name in ("cached_mini_batch_size", "mine_hard_negatives"):
            if getattr(self, name) and self.loss != "in_batch_negatives":
                raise DomaintuneError(f"recipe: 'training.{name}' is for loss in_batch_negatives, not {self.loss!r}")
        if self.mining.range_min >= self.mining.range_max:
            raise DomaintuneError("recipe: 'training.mining.range_min' must be below range_max")
        return self


class EvaluationConfig(Section):
    stsb: bool = Field(True, description="STS benchmark dev and test (shipped), Pearson and Spearman")
    retrieval: bool = Field(True, description="held-out concepts: alternative label -> preferred label")
    retrieval_max_queries: int = Field(2000, ge=1, description="cap on retrieval queries (sampled, seeded)")
    cross_lingual_retrieval: bool = Field(
        True, description="with taxonomy translations: queries in one language, concepts in another (both ways "
        "between the base language and each translation)"
    )
    retrieval_data: str | None = Field(
        None, description="your judged retrieval data (a BEIR folder: corpus.jsonl, queries.jsonl, qrels/): "
        "nDCG@10, MAP@100, MRR@10, Recall@10/100 before and after"
    )
    retrieval_split: str = Field("test", description="the judgments of retrieval_data scored before and after")
    retrieval_on_bad_rows: Literal["error", "skip"] = Field(
        "error", description="bad rows of retrieval_data and data.retrieval: stop with the file, line and column, "
        "or skip them (counted in the log and in metrics.json: run.retrieval_skipped_rows)"
    )
    stsb_languages: list[str] = Field(
        [], description="STS benchmark test in these languages too (stsb_multi_mt; de, es, ja, zh shipped)"
    )
    stsb_multi_mt_dir: str | None = Field(None, description="folder with stsb-<lang>-test.csv for other languages")
    baselines: list[str] = Field(
        [], description="other encoders evaluated by the same suite, shown as columns beside before/after "
        "(e.g. use-multilingual-v3); one whose package is missing is skipped with the pip command"
    )
    max_domain_test_pairs: int | None = Field(
        5000, description="cap on domain test pairs, sampled with data.split_seed (null = all)"
    )
    retention_tolerance: float = Field(
        1.0, ge=0, description="warn when STSb test Spearman drops by more than this many points"
    )
    batch_size: int = Field(64, ge=1, description="batch size when encoding for evaluation")
    probes: list[str] = Field(DEFAULT_PROBES, description="texts shown in the similarity heat-maps")



class OutputConfig(Section):
    dir: str = Field("runs/similarity", description="run folder: model, checkpoints, metrics, report")


class SimilarityRecipe(RecipeBase):
    """A similarity recipe (task: similarity)."""

    task: Literal["similarity"] = Field("similarity", description="what to train")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the encoder")
    data: DataConfig = Field(default_factory=DataConfig, description="the data")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="the optimisation")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig, description="before/after evaluation")
    output: OutputConfig = Field(default_factory=OutputConfig, description="where results go")

    @model_validator(mode="after")
    def _judged_retrieval_is_evaluated(self):
        # training from judgments: the same data's test split is what the run is judged by, before and after
        if self.data.retrieval and self.evaluation.retrieval_data is None:
            self.evaluation.retrieval_data = self.data.retrieval
        return self

    def multi_process(self) -> bool:
        return True
