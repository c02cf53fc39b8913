"""The similarity task, top to bottom: data -> model -> evaluate before -> train -> evaluate after ->
save the model -> report (the steps of core/run.py). Each step is a few lines calling the module that owns it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from domaintune.core import distributed
from domaintune.core.pairs import load_pairs, split_validation
from domaintune.core.report import model_card
from domaintune.core.run import Run
from domaintune.embedding.matryoshka import check_recipe, save_model
from domaintune.embedding.outcome import evaluate, load_model_of, outcome, write_report
from domaintune.embedding.predictor import Embedder
from domaintune.errors import DomaintuneError
from domaintune.models import freeze, interpolate_weights
from domaintune.similarity.evaluation import build_suite, judged_retrieval
from domaintune.similarity.judgments import mining_pool, pairs_from_judgments
from domaintune.similarity.losses import POSITIVE_ONLY
from domaintune.similarity.mining import mine_negatives, write_triplets
from domaintune.similarity.recipe import SimilarityRecipe
from domaintune.similarity.silver import silver_for_run, unlabelled_queries
from domaintune.similarity.taxonomy import build_pairs, retrieval_task, retrieval_tasks
from domaintune.similarity.trainer import train_pairs

log = logging.getLogger("domaintune")

def check_settings(recipe: SimilarityRecipe) -> None:
    """What needs more than the recipe's own validation: silver pairs need judgments; matryoshka_dims must fit the
    model's dimension."""
    if recipe.data.silver.enabled and recipe.data.retrieval is None:
        raise DomaintuneError("data.silver needs your judgments: set data.retrieval (a BEIR folder)")
    check_recipe(recipe)


def load_data(recipe: SimilarityRecipe, run_dir: Path):
    """Returns (train, validation, domain test or None, retrieval tasks {name: task} or None, validation retrieval
    task or None, description). The retrieval tasks exist when pairs come from a taxonomy."""
    d = recipe.data
    check_settings(recipe)
    judged_retrieval(recipe.evaluation.retrieval_data, recipe.evaluation.retrieval_split,
                     recipe.evaluation.retrieval_on_bad_rows)  # refused now if bad
    read = lambda p: read_pairs(recipe, p)  # noqa: E731
    retrieval = val_retrieval = None
    if d.retrieval is not None:
        train, val, val_retrieval, source = pairs_from_judgments(recipe)
        test = None
        if d.silver.enabled:
            unlabelled_queries(recipe)  # refused now when there are none
    elif d.train is None:
        if d.taxonomy is None:
            raise DomaintuneError("recipe: set data.train (a pairs file) or data.taxonomy (to generate pairs)")
        data_dir = run_dir / "data"
        if not (data_dir / "train.csv").exists():
            stats = build_pairs(d.taxonomy, data_dir)
            log.info("pairs from taxonomy %s: %s", d.taxonomy.path, stats)
        train, val = read(data_dir / "train.csv"), read(data_dir / "validation.csv")
        if recipe.training.loss in POSITIVE_ONLY and recipe.training.hard_negatives:
            # (anchor, positive, sibling-concept negative) rows replace the graded pairs for this loss
            train = pd.read_csv(data_dir / "train_hard_negatives.csv", dtype=str, keep_default_na=False)
            train["score"] = 1.0
            source = (f"synonym pairs with sibling-concept hard negatives from taxonomy {d.taxonomy.path}, "
                      "split by concept")
        else:
            source = f"graded pairs from taxonomy {d.taxonomy.path}, split by concept"
        test = read(data_dir / "test.csv") if (data_dir / "test.csv").exists() else None
        if recipe.evaluation.retrieval:
            retrieval = retrieval_tasks(d.taxonomy, recipe.evaluation.retrieval_max_queries, recipe.training.seed,
                                        recipe.evaluation.cross_lingual_retrieval)
        # the best checkpoint is picked by what the run is for: with translations, names in every language
        # finding their concept; otherwise alternative labels finding the preferred one
        multilingual = bool(d.taxonomy.translations) and recipe.evaluation.cross_lingual_retrieval
        val_retrieval = retrieval_task(d.taxonomy, 500, recipe.training.seed, split="validation",
                                       query_language="all" if multilingual else None)
    else:
        train = read(d.train)
        if d.validation:
            val = read(d.validation)
        else:
            train, val = split_validation(train, d.validation_fraction, d.split_seed)
        test = read(d.test) if d.test else None
        source = f"pairs from {d.train}"
        if recipe.training.loss in POSITIVE_ONLY:  # validation by retrieval: each validation query finds its text
            val_retrieval = pairs_retrieval_task(val[val["score"] >= recipe.training.positive_min_score - 1e-6])
    if d.max_train_pairs and len(train) > d.max_train_pairs:
        train = train.sample(n=d.max_train_pairs, random_state=d.split_seed).reset_index(drop=True)
    if d.max_validation_pairs and len(val) > d.max_validation_pairs:
        val = val.sample(n=d.max_validation_pairs, random_state=d.split_seed).reset_index(drop=True)
    cap = recipe.evaluation.max_domain_test_pairs
    if test is not None and cap and len(test) > cap:
        test = test.sample(n=cap, random_state=d.split_seed).reset_index(drop=True)
    if len(val) == 0:
        raise DomaintuneError("no validation pairs: set data.validation or data.validation_fraction > 0")
    return train, val, test, retrieval, val_retrieval, source






def pairs_retrieval_task(pairs: pd.DataFrame) -> tuple[dict, dict, dict] | None:
    """(queries, corpus, relevant) from positive pairs: each text_a must find its own text_b among all text_b."""
    if len(pairs) < 2:
        return None
    texts = list(dict.fromkeys(pairs["text_b"]))
    doc = {t: f"d{k}" for k, t in enumerate(texts)}
    queries = {f"q{k}": a for k, a in enumerate(pairs["text_a"])}
    relevant = {f"q{k}": {doc[b]} for k, b in enumerate(pairs["text_b"])}
    return queries, {v: t for t, v in doc.items()}, relevant


def read_pairs(recipe: SimilarityRecipe, path) -> pd.DataFrame:
    """A pairs file. With a positive-only loss (in_batch_negatives) a file with the two text columns and no score
    column is a file of positives: every row trains as a positive pair, and the log says so."""
    from domaintune.core.pairs import read_positive_pairs
    from domaintune.core.tables import read_table

    d, cols = recipe.data, recipe.data.columns
    if recipe.training.loss in POSITIVE_ONLY and cols.score not in read_table(path).columns:
        pairs = read_positive_pairs(path, cols.text_a, cols.text_b, cols.score)
        log.info("%s: no '%s' column: each of its %d rows is a positive pair (loss %s)", path, cols.score,
                 len(pairs), recipe.training.loss)
        return pairs.assign(score=1.0)
    return load_pairs(path, cols.text_a, cols.text_b, cols.score, d.score_range, d.on_bad_rows)[0]


def run(recipe: SimilarityRecipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    run = Run(recipe, resume, overwrite)

    # 1. data (read and validated before anything else is written: a bad file leaves no half run behind)
    train_df, val_df, test_df, retrieval, val_retrieval, source = run.read_data(lambda: load_data(recipe, run.dir))
    run.start()
    log.info("data: %d train, %d validation, %d test pairs", len(train_df), len(val_df),
             0 if test_df is None else len(test_df))

    # 2. model (shared weights for both texts of a pair: one SentenceTransformer); hard negatives mined with it
    model = load_model_of(recipe)
    params = freeze(model, recipe.model.freeze_embeddings, recipe.model.freeze_layers)
    n_silver, silver_warning = 0, None
    if recipe.data.silver.enabled:  # Augmented SBERT: a cross-encoder trained on the gold pairs labels more
        train_df, source, n_silver, silver_warning = silver_for_run(run, train_df, recipe, resume, show_progress,
                                                                    source)
    if recipe.training.mine_hard_negatives:
        train_df, source = mine_for_run(run, train_df, model, recipe, source)

    # 3. evaluate before (cached in the run folder, so a resumed run does not pay for it twice)
    suite = build_suite(recipe, test_df, retrieval)
    before = run.before(lambda: evaluate(model, suite, recipe, "before", baselines=True))

    # 4. train (the best checkpoint by the validation metric is loaded at the end)
    run.seed()
    train_stats = train_pairs(model, train_df, val_df, recipe, run.dir, resume=resume, show_progress=show_progress,
                              validation_retrieval=val_retrieval)
    run.timings["train"] = train_stats["seconds"]
    if recipe.training.interpolate_base:  # WiSE-FT: part of the way back to the base weights
        interpolate_weights(model, load_model_of(recipe), recipe.training.interpolate_base)

    if (done := run.rank_done(train_stats)) is not None:  # several processes: rank 0 evaluates and writes
        return done

    # 5. evaluate after, by the same evaluators
    with run.timed("evaluate_after"):
        after = evaluate(model, suite, recipe, "after")
    log_history = train_stats.pop("log_history")
    metrics = outcome("similarity", before, after, suite, recipe, retrieval, {
        "base_model": recipe.model.name, "loss": recipe.training.loss, "data": source,
        "train_pairs": len(train_df), "silver_pairs": n_silver, "validation_pairs": len(val_df),
        "test_pairs": 0 if test_df is None else len(test_df),
        "retrieval_queries": 0 if retrieval is None else len(retrieval["retrieval"][0]),
        "retrieval_corpus": 0 if retrieval is None else len(retrieval["retrieval"][1]),
        "parameters": params}, {**train_stats, "interpolate_base": recipe.training.interpolate_base})
    if silver_warning:
        metrics.setdefault("verdict", {}).setdefault("notes", []).append(silver_warning)

    # 6. save the tuned model (a plain sentence-transformers folder with its card), metrics and report
    return run.finish(metrics, lambda folder: save_model(model, folder, recipe), lambda m: card(m, recipe),
                      write_report, log_history)




def mine_for_run(run: Run, train_df: pd.DataFrame, model, recipe: SimilarityRecipe, source: str):
    """((text_a, text_b, negative, score=1) rows, the data's description): a negative mined for each positive pair
    with the base model, once, by rank 0 (the others read its file); embeddings cached in RUN/mining_cache, the rows
    in RUN/data/mined_negatives.csv, which a resumed run reuses as they are."""
    path = run.dir / "data" / "mined_negatives.csv"

    def mined() -> pd.DataFrame:
        if not path.exists():
            t = recipe.training
            positives = train_df[train_df["score"] >= t.positive_min_score - 1e-6]
            if len(positives) == 0:
                raise DomaintuneError(f"hard-negative mining: no positive pairs (score >= {t.positive_min_score}) "
                                      "in the training data; see training.positive_min_score")
            corpus, judged = mining_pool(recipe) if recipe.data.retrieval else (None, set())
            write_triplets(mine_negatives(positives[["text_a", "text_b"]], model, t.mining,
                                          run.dir / "mining_cache", corpus, judged), path)
        return pd.read_csv(path, dtype=str, keep_default_na=False).assign(score=1.0)

    with run.timed("mining"):
        return distributed.main_first(mined), source + ", hard negatives mined with the base model"








def card(metrics: dict, recipe: SimilarityRecipe) -> str:
    info = metrics["run"]
    return model_card(
        metrics, recipe, "Domain-adapted sentence encoder (domaintune)",
        f"Fine-tuned from `{info['base_model']}` as a Siamese bi-encoder (shared weights) with the `{info['loss']}` "
        f"loss on {info['train_pairs']} training pairs ({info['data']}).",
        "Load it with plain sentence-transformers, no domaintune needed:\n\n```python\nfrom sentence_transformers "
        "import SentenceTransformer\nmodel = SentenceTransformer(\"path/to/this/folder\")\n```\n",
        "sentence-transformers", ["sentence-transformers", "sentence-similarity", "domaintune"],
        notes="STSb = STS benchmark (general English similarity: did the model keep its general ability?). "
              "domain_test = held-out domain pairs; retrieval = held-out concepts, alternative label -> preferred "
              "label.\n")




def load(path: str | Path) -> Embedder:
    return Embedder(path)




def parity_evaluators(recipe, run_dir: Path | None, predictor) -> list:
    """What an export (deploy/parity.py) or a distilled static model (api.distill) of this task's model is checked
    on: STSb test, and, when the model has a run folder, the run's domain test pairs and held-out concept
    retrieval."""
    from domaintune.core.resources import load_stsb
    from domaintune.similarity.evaluation import PairSimilarityEvaluator

    suite = [PairSimilarityEvaluator(load_stsb("test"), "stsb_test")]
    test = None
    if isinstance(recipe, SimilarityRecipe):
        d, cap = recipe.data, recipe.evaluation.max_domain_test_pairs
        path = d.test or (Path(run_dir) / "data" / "test.csv" if d.train is None else None)
        if path and Path(path).exists():
            test = load_pairs(path, d.columns.text_a, d.columns.text_b, d.columns.score, d.score_range,
                              d.on_bad_rows)[0]
            if cap and len(test) > cap:  # the same sample the run's report scored
                test = test.sample(n=cap, random_state=d.split_seed).reset_index(drop=True)
    if test is not None and len(test):
        suite.append(PairSimilarityEvaluator(test, "domain_test"))
    if isinstance(recipe, SimilarityRecipe) and recipe.data.taxonomy is not None and recipe.evaluation.retrieval:
        from domaintune.similarity.evaluation import RetrievalEvaluator

        ev = recipe.evaluation  # the run's held-out concepts, as its report scored them (monolingual)
        name, task = next(iter(retrieval_tasks(recipe.data.taxonomy, ev.retrieval_max_queries, recipe.training.seed,
                                               False).items()))
        suite.append(RetrievalEvaluator(*task, name=name, batch_size=ev.batch_size))
    return suite
