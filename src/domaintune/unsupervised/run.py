"""Adaptation without labels, top to bottom (tasks `tsdae` and `simcse`, each giving its training objective):
raw domain text -> encoder -> evaluate before (STS benchmark, and the domain when a taxonomy or pairs are given) ->
train -> evaluate after -> save a plain sentence-transformers folder -> report (the similarity task's evaluators,
report and card).

An objective is `objective(recipe, model, texts, run_dir) -> Objective`: the training columns, the
sentence-transformers loss, callbacks, and a one-line description for the report and card.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from domaintune.core.pairs import load_pairs
from domaintune.core.report import model_card
from domaintune.core.resources import load_stsb
from domaintune.core.run import Run
from domaintune.core.sampler import LengthGroupedBatchSampler, row_lengths
from domaintune.core.trainer import fit
from domaintune.embedding.matryoshka import check_recipe, save_model
from domaintune.embedding.outcome import evaluate, load_model_of, outcome
from domaintune.embedding.outcome import write_report as similarity_report
from domaintune.embedding.predictor import Embedder
from domaintune.errors import DomaintuneError
from domaintune.mlm.data import read_documents
from domaintune.models import freeze, text_prefix
from domaintune.retrieval.judged import judged_task
from domaintune.similarity.evaluation import PairSimilarityEvaluator, RetrievalEvaluator, build_suite, judged_retrieval
from domaintune.similarity.taxonomy import retrieval_task, retrieval_tasks
from domaintune.similarity.trainer import VALIDATION_METRICS
from domaintune.unsupervised.recipe import UnsupervisedRecipe

log = logging.getLogger("domaintune")

def load_data(recipe: UnsupervisedRecipe):
    """(training texts, texts read, domain test pairs or None, retrieval tasks or None, the Validation that picks
    the best checkpoint)."""
    d, ev = recipe.data, recipe.evaluation
    check_recipe(recipe)  # matryoshka_dims (simcse) within the model's dimension
    if d.train is None:
        raise DomaintuneError(f"recipe: set data.train (raw domain text for {recipe.task}: a .txt file with one text "
                              "per line, a folder of .txt files, or a table with a text column)")
    judged_retrieval(ev.retrieval_data, ev.retrieval_split, ev.retrieval_on_bad_rows)  # refused now if bad
    texts = read_documents(d.train, d.column, d.document_split)
    n_read = len(texts)
    if d.deduplicate:
        texts = list(dict.fromkeys(texts))
    if len(texts) < 2:
        raise DomaintuneError(f"{d.train}: {len(texts)} distinct text; {recipe.task} needs at least 2 (one per line "
                              "of a .txt file, or one per row of data.column)")
    if d.max_texts and len(texts) > d.max_texts:
        texts = random.Random(recipe.training.seed).sample(texts, d.max_texts)
    test = None
    if d.test:
        test = load_pairs(d.test, "text_a", "text_b", "score", "auto", "error")[0]
        cap = ev.max_domain_test_pairs
        if cap and len(test) > cap:
            test = test.sample(n=cap, random_state=recipe.training.seed).reset_index(drop=True)
    retrieval = None
    if d.taxonomy is not None and ev.retrieval:
        retrieval = retrieval_tasks(d.taxonomy, ev.retrieval_max_queries, recipe.training.seed,
                                    ev.cross_lingual_retrieval)
    return texts, n_read, test, retrieval, validation(recipe)


@dataclass
class Validation:
    evaluator: object | None  # a sentence-transformers evaluator, run at each checkpoint; None = keep the last state
    metric_key: str | None  # what it reports that picks the best checkpoint
    choice: str  # for the log, metrics and report: what picked the model that the run hands back
    domain: bool  # judged on the domain itself (else only on general ability)


def validation(recipe: UnsupervisedRecipe) -> Validation:
    """What picks the best checkpoint of a label-free run, in order of preference: your judged retrieval data
    (nDCG@10 on its dev judgments, else its train judgments, which a label-free run never trains on; never the split
    it is judged by before and after), held-out concepts of data.taxonomy (MRR@10), and else STSb dev Spearman: the
    checkpoint that loses least general ability, since nothing on the domain can say which is better."""
    d, ev = recipe.data, recipe.evaluation
    judged = judged_retrieval(ev.retrieval_data, ev.retrieval_split, ev.retrieval_on_bad_rows)
    split = next((s for s in ("dev", "train") if judged and s in judged.qrels and s != ev.retrieval_split), None)
    if split is not None:
        task = judged_task(judged, judged.qrels[split])
        return Validation(RetrievalEvaluator(*task, name="validation", batch_size=ev.batch_size,
                                             validation=True).st_evaluator, VALIDATION_METRICS["ndcg@10"],
                          f"best checkpoint by nDCG@10 on the {split} judgments of {ev.retrieval_data} "
                          f"({len(task[0])} queries)", True)
    if d.taxonomy is not None:
        task = retrieval_task(d.taxonomy, 500, recipe.training.seed, split="validation")
        return Validation(RetrievalEvaluator(*task, name="validation", batch_size=ev.batch_size,
                                             validation=True).st_evaluator, VALIDATION_METRICS["mrr@10"],
                          f"best checkpoint by MRR@10 on held-out validation concepts of {d.taxonomy.path}", True)
    if ev.stsb:
        return Validation(PairSimilarityEvaluator(load_stsb("dev"), "validation", ev.batch_size).st_evaluator,
                          VALIDATION_METRICS["spearman"], "no validation on your domain (no dev or train judgments "
                          "in evaluation.retrieval_data, no data.taxonomy): kept the checkpoint that lost least "
                          "general ability (STSb dev Spearman)", False)
    return Validation(None, None, "no validation at all (evaluation.stsb off, no domain validation): kept the last "
                      "state", False)


@dataclass
class Objective:
    columns: dict[str, list[str]]  # the training dataset's columns, in the order the loss reads them
    loss: object  # a sentence-transformers loss
    description: str
    callbacks: list = field(default_factory=list)


def run_unsupervised(recipe: UnsupervisedRecipe, objective: Callable[..., Objective], resume: bool = False,
                     overwrite: bool = False, show_progress: bool = True) -> dict:
    run = Run(recipe, resume, overwrite)

    # 1. the corpus (and the evaluation data), read and checked before anything is written
    texts, n_read, test_df, retrieval, check = run.read_data(lambda: load_data(recipe))
    run.start()
    log.info("%s: %d training texts (%d read); %s", recipe.task, len(texts), n_read, check.choice)
    if not check.domain:
        log.warning("%s: nothing on your domain is measured while training, so nothing can show that the result beats "
                    "its base there; give evaluation.retrieval_data (judgments) or data.taxonomy", recipe.task)

    # 2. the encoder
    model = load_model_of(recipe)
    params = freeze(model, recipe.model.freeze_embeddings, recipe.model.freeze_layers)

    # 3. before (cached for --resume), by the similarity task's evaluators
    suite = build_suite(recipe, test_df, retrieval)
    before = run.before(lambda: evaluate(model, suite, recipe, "before", baselines=True))

    # 4. train
    run.seed()
    goal = objective(recipe, model, texts, run.dir)
    stats = train_texts(model, texts, goal, recipe, run.dir, resume, show_progress, check)
    log_history = stats.pop("log_history")
    run.timings["train"] = stats["seconds"]
    if (done := run.rank_done(stats)) is not None:  # several processes: rank 0 evaluates and writes
        return done

    # 5. after, by the same evaluators
    with run.timed("evaluate_after"):
        after = evaluate(model, suite, recipe, "after")
    metrics = outcome(recipe.task, before, after, suite, recipe, retrieval, {
        "base_model": recipe.model.name, "data": recipe.data.train, "train_texts": len(texts), "texts_read": n_read,
        "objective": goal.description, "parameters": params,
        "retrieval_queries": 0 if retrieval is None else len(retrieval["retrieval"][0])}, stats)

    # 6. the encoder alone (TSDAE's decoder is training scaffolding) as a plain sentence-transformers folder
    return run.finish(metrics, lambda folder: save_model(model, folder, recipe), lambda m: card(m, recipe),
                      write_report, log_history)


def train_texts(model, texts: list[str], goal: Objective, recipe: UnsupervisedRecipe, run_dir: Path, resume: bool,
                show_progress: bool, check: Validation) -> dict:
    """Train `model` in place on the raw texts with sentence-transformers' trainer (core.trainer.fit: the same
    checkpoints, resume, progress and TensorBoard as every task); `check` picks the checkpoint kept."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    t = recipe.training
    batch_sampler = "batch_sampler"
    if t.group_by_length:
        lengths = row_lengths(model.tokenizer, [texts], model.max_seq_length)
        batch_sampler = functools.partial(LengthGroupedBatchSampler, lengths=lengths)
    extra = {"batch_sampler": batch_sampler, "prompts": text_prefix(model)}
    if check.evaluator is None:
        extra["eval_strategy"] = "no"
    _, stats = fit(SentenceTransformerTrainer, SentenceTransformerTrainingArguments, t, run_dir, check.metric_key,
                   True, recipe.evaluation.batch_size, len(texts), resume, show_progress, extra, goal.callbacks,
                   model=model, train_dataset=Dataset.from_dict(goal.columns), loss=goal.loss,
                   evaluator=check.evaluator)
    stats["texts_per_second"] = stats.pop("rows_per_second")
    return {**stats, "checkpoint_choice": check.choice, "validated_on_domain": check.domain}


def card(metrics: dict, recipe: UnsupervisedRecipe) -> str:
    info = metrics["run"]
    return model_card(
        metrics, recipe, f"Domain-adapted sentence encoder, no labels ({recipe.task}, domaintune)",
        f"Adapted from `{info['base_model']}` on {info['train_texts']} texts of `{info['data']}` without labels: "
        f"{info['objective']}.",
        "Load it with plain sentence-transformers, no domaintune needed:\n\n```python\nfrom sentence_transformers "
        "import SentenceTransformer\nmodel = SentenceTransformer(\"path/to/this/folder\")\n```\n\nOr use it as the "
        "`model.name` of a later task (e.g. a `similarity` stage of a pipeline).\n",
        "sentence-transformers", ["sentence-transformers", "sentence-similarity", "domaintune", recipe.task],
        notes="STSb = STS benchmark (general English similarity: did the model keep its general ability?). "
              "retrieval = held-out concepts of the evaluation taxonomy, alternative label -> preferred label.\n")


def load(path: str | Path) -> Embedder:
    """A tsdae or simcse run's model: a plain sentence encoder."""
    return Embedder(path)


def write_report(run_dir: Path, metrics: dict, log_history: list | None = None) -> dict[str, Path]:
    return similarity_report(run_dir, metrics, log_history)
