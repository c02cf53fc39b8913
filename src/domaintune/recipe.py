"""The recipe: one YAML file that describes a whole job.

The pydantic models below are the single source of truth: validation, defaults, the comments that
`domaintune init` writes, and command-line overrides (`--set training.epochs=2`) all come from them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domaintune.errors import DomaintuneError

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


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    name: str = Field("all-MiniLM-L6-v2", description="base encoder: a name, a local folder or a hub id")
    max_seq_length: int = Field(128, ge=8, description="longer texts are truncated to this many tokens")
    pooling: Literal["mean", "cls", "max"] = Field(
        "mean", description="pooling for plain transformers encoders (sentence-transformers keep theirs)"
    )
    freeze_embeddings: bool = Field(False, description="keep the token embedding matrix fixed")
    freeze_layers: int = Field(0, ge=0, description="keep the lowest k transformer layers fixed")
    prefix: str | None = Field(
        None, description="text prefix for every text in training and evaluation (e5: 'query: '); null = the "
        "model's own default prompt, if it has one"
    )


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
        description="build graded pairs from a taxonomy (used when train is null); null to disable",
    )
    max_train_pairs: int | None = Field(
        None, description="cap on training pairs, sampled with split_seed (null = all)"
    )
    max_validation_pairs: int | None = Field(
        1000, description="cap on validation pairs: validation runs every eval_steps (null = all)"
    )


class EarlyStoppingConfig(Section):
    patience: int = Field(0, ge=0, description="evaluations without improvement before stopping; 0 = off")
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as an improvement")


class TrainingBase(Section):
    """The optimisation settings every task shares (the same trainer mechanics for all: training/common.py)."""

    epochs: float = Field(1.0, gt=0, description="passes over the training data")
    max_steps: int = Field(-1, description="stop after this many optimiser steps (-1 = use epochs)")
    batch_size: int = Field(32, ge=1, description="rows per step and device")
    gradient_accumulation_steps: int = Field(1, ge=1, description="steps accumulated per optimiser update")
    learning_rate: float = Field(2e-5, gt=0, description="peak AdamW learning rate")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="share of steps spent warming up linearly")
    scheduler: Literal["linear", "cosine", "constant_with_warmup"] = Field(
        "linear", description="decay after warm-up"
    )
    max_grad_norm: float = Field(1.0, ge=0, description="gradient clipping norm (0 = off)")
    eval_steps: int = Field(100, ge=1, description="validate (and checkpoint) every N optimiser steps")
    save_total_limit: int = Field(2, ge=1, description="checkpoints kept besides the best one")
    group_by_length: bool = Field(True, description="batch rows of similar length: far less padding")
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig, description="early stopping")
    seed: int = Field(42, description="one seed for python, numpy and torch")
    tensorboard: bool = Field(True, description="write TensorBoard logs to RUN/tensorboard")


class TrainingConfig(TrainingBase):
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
    hard_negatives: bool = Field(
        True, description="in_batch_negatives on a taxonomy: add a sibling concept's label to each pair"
    )
    validation_metric: Literal["auto", "spearman", "mrr@10"] = Field(
        "auto", description="picks the best checkpoint; auto = mrr@10 (held-out concept retrieval) for "
        "in_batch_negatives on a taxonomy, else spearman on validation pairs"
    )
    interpolate_base: float = Field(
        0.0, ge=0, lt=1, description="WiSE-FT: the saved model = (1 - x) * tuned + x * base weights, keeping "
        "more general ability (STSb); applied to the best checkpoint; 0 = off"
    )


class EvaluationConfig(Section):
    stsb: bool = Field(True, description="STS benchmark dev and test (shipped), Pearson and Spearman")
    retrieval: bool = Field(True, description="held-out concepts: alternative label -> preferred label")
    retrieval_max_queries: int = Field(2000, ge=1, description="cap on retrieval queries (sampled, seeded)")
    cross_lingual_retrieval: bool = Field(
        True, description="with taxonomy translations: queries in one language, concepts in another (both ways "
        "between the base language and each translation)"
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


class RecipeBase(Section):
    def hash(self) -> str:
        """A short, stable hash of the resolved recipe (output folder excluded)."""
        data = self.model_dump(mode="json")
        data.pop("output", None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class Recipe(RecipeBase):
    """A similarity recipe (task: similarity)."""

    task: Literal["similarity"] = Field("similarity", description="what to train")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the encoder")
    data: DataConfig = Field(default_factory=DataConfig, description="the data")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="the optimisation")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig, description="before/after evaluation")
    output: OutputConfig = Field(default_factory=OutputConfig, description="where results go")


SimilarityRecipe = Recipe


# ---------------------------------------------------------------- classification (task: classification)


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


class AdapterConfig(Section):
    r: int = Field(16, ge=1, description="LoRA/LoHa/LoKr rank (16: 2.9% of MiniLM's weights trainable)")
    alpha: int = Field(16, ge=1, description="LoRA/LoHa/LoKr scaling alpha (update scale = alpha / r)")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout on the adapter input")
    target_modules: list[str] | str = Field(
        "all-linear", description="layers to adapt: all-linear, or names such as [query, value]"
    )
    learning_rate: float | None = Field(
        1e-3, gt=0, description="adapters want a higher rate than full fine-tuning (SST-2: r 16, alpha 16, 1e-3 beat "
        "r 8, alpha 16 at 2e-3 or 5e-4 by 1.5-1.6 test points); null = training's"
    )
    epochs: float | None = Field(
        None, gt=0, description="adapters often want more passes than full fine-tuning; null = training's"
    )
    dora: bool = Field(False, description="lora only: weight-decomposed LoRA (DoRA: a trained magnitude per output)")

    def training(self, training):
        """The training section an adapter run uses: its own learning rate and epochs where set."""
        update = {k: v for k, v in (("learning_rate", self.learning_rate), ("epochs", self.epochs)) if v}
        return training.model_copy(update=update) if update else training


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
    strategy: str = Field(
        "frozen", description="frozen | full | lora | ia3 | loha | lokr (adapters: any PEFT method listed)"
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


# ---------------------------------------------------------------- few-shot (task: fewshot, SetFit-style)


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


# ---------------------------------------------------------------- continued MLM pretraining (task: mlm)


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


# ---------------------------------------------------------------- named-entity recognition (task: ner)


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
    strategy: str = Field("full", description="full | lora | ia3 | loha | lokr")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the encoder")
    data: NERDataConfig = Field(default_factory=NERDataConfig, description="the data")
    adapter: AdapterConfig = Field(default_factory=AdapterConfig, description="adapter strategies (lora, ...)")
    training: NERTrainingConfig = Field(default_factory=NERTrainingConfig, description="the optimisation")
    evaluation: NEREvaluationConfig = Field(default_factory=NEREvaluationConfig, description="evaluation")
    output: NEROutputConfig = Field(default_factory=NEROutputConfig, description="where results go")




# ---------------------------------------------------------------- multi-stage recipes (task: pipeline)


class PipelineOutputConfig(Section):
    dir: str = Field("runs/pipeline", description="run folder: one sub-folder per stage, the baseline, the report")


class PipelineRecipe(RecipeBase):
    """Stages run in order; each stage's model is the next stage's base (e.g. mlm -> similarity)."""

    task: Literal["pipeline"] = Field("pipeline", description="what to train")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the first stage's base encoder")
    stages: list[dict[str, Any]] = Field(
        [{"task": "mlm"}, {"task": "similarity"}],
        description="each a recipe of its task (model.name and output.dir are set by the pipeline)",
    )
    compare_last_stage_alone: bool = Field(
        True, description="also run the last stage alone on the original base model, to show what earlier stages bought"
    )
    output: PipelineOutputConfig = Field(default_factory=PipelineOutputConfig, description="where results go")

    @model_validator(mode="after")
    def _stages_are_valid_recipes(self):
        self.stage_recipes()  # a bad stage is refused when the recipe is read, not halfway through a run
        return self

    def stage_recipes(self) -> list[RecipeBase]:
        """Each stage validated as a recipe of its own task; errors name the stage ('stages.1.training.epocs')."""
        out = []
        for k, stage in enumerate(self.stages):
            if not isinstance(stage, dict) or stage.get("task") not in RECIPES or stage.get("task") == "pipeline":
                raise DomaintuneError(f"recipe: 'stages.{k}': each stage needs task: one of "
                                      f"{', '.join(t for t in RECIPES if t != 'pipeline')}")
            try:
                out.append(RECIPES[stage["task"]].model_validate(stage))
            except ValidationError as e:
                raise DomaintuneError(_format_validation_error(e, "recipe", prefix=f"stages.{k}.")) from None
        return out


RECIPES: dict[str, type[RecipeBase]] = {"similarity": Recipe, "classification": ClassificationRecipe,
                                        "fewshot": FewShotRecipe, "mlm": MLMRecipe, "ner": NERRecipe,
                                        "pipeline": PipelineRecipe}


def _format_validation_error(err: ValidationError, source: str, prefix: str = "") -> str:
    problems = []
    for e in err.errors():
        key = prefix + ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            problems.append(f"unknown key '{key}'")
        else:
            problems.append(f"'{key}': {e['msg']} (got {e.get('input')!r})")
    return f"{source}: invalid recipe: " + "; ".join(problems)


def parse_override(text: str) -> tuple[list[str], Any]:
    """'training.epochs=2' -> (['training', 'epochs'], 2). The value is parsed as YAML."""
    if "=" not in text:
        raise DomaintuneError(f"override '{text}': expected KEY=VALUE, e.g. training.epochs=2")
    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value != "" else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            if node.get(k) is None:
                node[k] = {}
            node = node[k]
            if not isinstance(node, dict):
                raise DomaintuneError(f"override '{text}': '{k}' is not a section")
        node[keys[-1]] = value
    return data


def load_recipe(path: str | Path | None = None, overrides: list[str] | None = None,
                task: str | None = None) -> RecipeBase:
    """Read a YAML recipe (or start from defaults when path is None) and apply KEY=VALUE overrides.
    The recipe's `task:` (or `task` when there is no file) picks the recipe class."""
    source = str(path) if path else "<defaults>"
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise DomaintuneError(f"{p}: recipe file not found")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as e:
            raise DomaintuneError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        except yaml.YAMLError as e:
            raise DomaintuneError(f"{p}: not valid YAML: {e}".replace("\n", " ")) from None
        if not isinstance(data, dict):
            raise DomaintuneError(f"{p}: a recipe is a mapping of sections (task, model, data, ...)")
    data = apply_overrides(data, overrides or [])
    if task and "task" not in data:
        data["task"] = task
    name = data.get("task", "similarity")
    if name not in RECIPES:
        raise DomaintuneError(f"{source}: 'task': unknown task {name!r}; expected one of {', '.join(RECIPES)}")
    try:
        return RECIPES[name].model_validate(data)
    except ValidationError as e:
        raise DomaintuneError(_format_validation_error(e, source)) from None


def save_recipe(recipe: RecipeBase, path: Path) -> None:
    from domaintune.utils import atomic_write_text

    atomic_write_text(path, recipe_to_yaml(recipe, comments=True))


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, str) and ("\n" in value or "\t" in value):
        return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip().removesuffix(
        "\n..."
    ).strip()


def _emit(model: BaseModel, indent: int, lines: list[str], comments: bool) -> None:
    pad = "  " * indent
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        comment = f"  # {field.description}" if comments and field.description else ""
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:{comment}")
            _emit(value, indent + 1, lines, comments)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            lines.append(f"{pad}{name}:{comment}")
            for v in value:
                lines.append(f"{pad}  - {_yaml_scalar(v)}")
        else:
            if isinstance(value, list):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            lines.append(f"{pad}{name}: {_yaml_scalar(value)}{comment}")


def recipe_to_yaml(recipe: RecipeBase, comments: bool = True) -> str:
    """Every field, with its value and (optionally) a one-line comment: what `domaintune init` writes."""
    lines = ["# domaintune recipe: every default is shown; change what you need, delete nothing you keep."]
    _emit(recipe, 0, lines, comments)
    return "\n".join(lines) + "\n"
