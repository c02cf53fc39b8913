"""The similarity task, top to bottom: data -> model -> evaluate before -> train -> evaluate after ->
save the model -> report. Each step is a few lines calling the module that owns it.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from domaintune.data.pairs import load_pairs, split_validation
from domaintune.data.taxonomy import build_pairs, retrieval_task, retrieval_tasks
from domaintune.errors import DomaintuneError
from domaintune.evaluation import build_suite, run_suite
from domaintune.losses import POSITIVE_ONLY
from domaintune.models import freeze, interpolate_weights, load_sentence_model
from domaintune.recipe import Recipe, recipe_to_yaml, save_recipe
from domaintune.reporting import plots
from domaintune.reporting.report import (
    deltas,
    load_log_history,
    model_card,
    retention_check,
    write_html,
    write_markdown,
)
from domaintune.tasks.rundir import prepare_run_dir
from domaintune.utils import (
    atomic_write_json,
    atomic_write_text,
    package_versions,
    save_folder_atomically,
    set_seed,
)

log = logging.getLogger("domaintune")

def load_data(recipe: Recipe, run_dir: Path):
    """Returns (train, validation, domain test or None, retrieval tasks {name: task} or None, validation retrieval
    task or None, description). The retrieval tasks exist when pairs come from a taxonomy."""
    d = recipe.data
    cols = d.columns
    read = lambda p: load_pairs(p, cols.text_a, cols.text_b, cols.score, d.score_range, d.on_bad_rows)[0]  # noqa: E731
    retrieval = val_retrieval = None
    if d.train is None:
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


def evaluate_baselines(names: list[str], suite: list) -> dict[str, dict]:
    """Each baseline encoder through the same evaluators ({name: results}); one that cannot be loaded (a
    package not installed) is recorded as {"skipped": why} and the run goes on."""
    out = {}
    for name in names:
        try:
            model = load_sentence_model(name)
        except DomaintuneError as e:
            log.warning("baseline %s skipped: %s", name, e)
            out[name] = {"skipped": str(e)}
            continue
        out[name], _ = run_suite(model, suite, f"baseline {name}")
    return out


def probe_matrix(model, probes: list[str]) -> np.ndarray:
    emb = model.encode(probes, normalize_embeddings=True, convert_to_numpy=True)
    return np.clip(emb @ emb.T, -1, 1)


def run(recipe: Recipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    run_dir = prepare_run_dir(recipe, resume, overwrite)
    set_seed(recipe.training.seed)

    # 1. data (read and validated before anything else is written: a bad file leaves no half run behind)
    t = time.perf_counter()
    train_df, val_df, test_df, retrieval, val_retrieval, source = load_data(recipe, run_dir)
    timings["data"] = round(time.perf_counter() - t, 2)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_recipe(recipe, run_dir / "recipe.yaml")
    log.info("data: %d train, %d validation, %s test pairs", len(train_df), len(val_df),
             len(test_df) if test_df is not None else 0)

    # 2. model (shared weights for both texts of a pair: one SentenceTransformer)
    model = load_sentence_model(recipe.model.name, recipe.model.max_seq_length, recipe.model.pooling,
                                prefix=recipe.model.prefix)
    params = freeze(model, recipe.model.freeze_embeddings, recipe.model.freeze_layers)

    # 3. evaluate before (cached in the run folder, so a resumed run does not pay for it twice)
    suite = build_suite(recipe, test_df, retrieval)
    before_file = run_dir / "before.json"
    if before_file.exists():
        cached = json.loads(before_file.read_text())
        before, timings["evaluate_before"] = cached["metrics"], cached["seconds"]
        probes_before, baselines = np.array(cached["probes"]), cached.get("baselines", {})
    else:
        t = time.perf_counter()
        before, _ = run_suite(model, suite, "before")
        probes_before = probe_matrix(model, recipe.evaluation.probes)
        timings["evaluate_before"] = round(time.perf_counter() - t, 2)
        baselines = evaluate_baselines(recipe.evaluation.baselines, suite)
        atomic_write_json(before_file, {"metrics": before, "seconds": timings["evaluate_before"],
                                        "probes": probes_before.tolist(), "baselines": baselines})

    # 4. train (the best checkpoint by validation Spearman is loaded at the end)
    from domaintune.training.trainer import train_pairs

    set_seed(recipe.training.seed)
    train_stats = train_pairs(model, train_df, val_df, recipe, run_dir, resume=resume, show_progress=show_progress,
                              validation_retrieval=val_retrieval)
    timings["train"] = train_stats["seconds"]
    if recipe.training.interpolate_base:  # WiSE-FT: part of the way back to the base weights
        base_model = load_sentence_model(recipe.model.name, recipe.model.max_seq_length, recipe.model.pooling,
                                          prefix=recipe.model.prefix)
        interpolate_weights(model, base_model, recipe.training.interpolate_base)
        log.info("weights interpolated: %.2f of the base model's, %.2f of the tuned",
                 recipe.training.interpolate_base, 1 - recipe.training.interpolate_base)
        del base_model

    # 5. evaluate after, by the same evaluators
    t = time.perf_counter()
    after, _ = run_suite(model, suite, "after")
    probes_after = probe_matrix(model, recipe.evaluation.probes)
    timings["evaluate_after"] = round(time.perf_counter() - t, 2)

    metrics = {
        "task": "similarity",
        "before": before,
        "after": after,
        "delta": deltas(before, after),
        "baselines": baselines,
        "retention": retention_check(before, after, recipe.evaluation.retention_tolerance),
        "run": {"base_model": recipe.model.name, "loss": recipe.training.loss, "data": source,
                "train_pairs": len(train_df), "validation_pairs": len(val_df),
                "test_pairs": 0 if test_df is None else len(test_df),
                "retrieval_queries": 0 if retrieval is None else len(retrieval["retrieval"][0]),
                "retrieval_corpus": 0 if retrieval is None else len(retrieval["retrieval"][1]),
                "parameters": params},
        "training": {**{k: v for k, v in train_stats.items() if k != "log_history"},
                     "interpolate_base": recipe.training.interpolate_base},
        "probes": {"texts": recipe.evaluation.probes, "before": probes_before.round(4).tolist(),
                   "after": probes_after.round(4).tolist()},
        "timings": timings,
        "versions": package_versions(),
        "recipe_hash": recipe.hash(),
    }
    if not metrics["retention"].get("passed", True):
        log.warning("general ability LOST: STSb test Spearman dropped %.2f points (tolerance %.2f)",
                    metrics["retention"]["stsb_test_spearman_drop_points"], recipe.evaluation.retention_tolerance)

    # 6. save the tuned model: a plain sentence-transformers folder with a model card, swapped in atomically
    t = time.perf_counter()
    card = model_card(metrics, recipe_to_yaml(recipe, comments=False))

    def write_model(folder: Path) -> None:
        model.save_pretrained(str(folder))
        atomic_write_text(folder / "README.md", card)

    save_folder_atomically(run_dir / "model", write_model)
    timings["save"] = round(time.perf_counter() - t, 2)
    timings["total"] = round(time.perf_counter() - t_all, 2)

    # 7. report
    atomic_write_json(run_dir / "log_history.json", train_stats["log_history"])
    atomic_write_json(run_dir / "metrics.json", metrics)
    write_report(run_dir, metrics, train_stats["log_history"], train_stats["validation_metric_key"])
    return metrics


def write_report(run_dir: Path, metrics: dict, log_history: list[dict] | None = None,
                 metric_key: str | None = None) -> dict[str, Path]:
    run_dir = Path(run_dir)
    log_history = load_log_history(run_dir, log_history)
    metric_key = metric_key or metrics.get("training", {}).get("validation_metric_key",
                                                                "eval_validation_spearman_cosine")
    made = {}
    pr = metrics.get("probes")
    if pr:
        plots.heatmaps(pr["texts"], np.array(pr["before"]), np.array(pr["after"]), run_dir / "plots" / "heatmaps.png")
        made["Similarity heat-maps of the probe texts"] = "plots/heatmaps.png"
    if plots.learning_curves(log_history, metric_key, run_dir / "plots" / "learning_curves.png"):
        made["Learning curves"] = "plots/learning_curves.png"
    return {"markdown": write_markdown(run_dir, metrics, made), "html": write_html(run_dir, metrics, made)}
