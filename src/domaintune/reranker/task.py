"""task: reranker, top to bottom: your judgments -> the first stage's candidates (BM25 or a bi-encoder) for every
query -> a cross-encoder (a plain encoder gets a new one-score head) -> rerank the test queries' top k before ->
train on (query, relevant document) and (query, hard negative) rows with sentence-transformers' CrossEncoderTrainer,
the best checkpoint by validation nDCG@10 -> rerank after -> save the model -> report, beside the first stage alone.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from domaintune.core.contract import metrics_envelope
from domaintune.core.io import atomic_write_text
from domaintune.core.report import model_card, write_run_report
from domaintune.core.run import Run
from domaintune.models import load_cross_encoder
from domaintune.reranker.data import first_stage_runs, load_data
from domaintune.reranker.evaluation import RerankingEvaluator
from domaintune.reranker.model import MARKER, Reranker
from domaintune.reranker.recipe import RerankerRecipe
from domaintune.reranker.trainer import train

log = logging.getLogger("domaintune")

__all__ = ["run", "write_report", "load", "parity_evaluators"]


def run(recipe: RerankerRecipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    run = Run(recipe, resume, overwrite)

    # 1. the judgments, read and checked before anything is written
    rd = run.read_data(lambda: load_data(recipe))
    run.start()
    log.info("reranker: %d train queries, validation: %s, %d %s queries; first stage %s", len(rd.train),
             rd.held_out, len(rd.test), recipe.evaluation.split, recipe.data.first_stage)

    # 2. the first stage's candidates of every query: training negatives, validation and test candidates
    with run.timed("first_stage"):
        first, _ = first_stage_runs(recipe, rd)

    # 3. the cross-encoder, and its reranking of the test queries before training (cached for --resume)
    model = load_cross_encoder(recipe.model.name, recipe.model.max_seq_length, recipe.training.seed)
    ev = recipe.evaluation
    evaluator = RerankingEvaluator(rd.data, rd.test, first, ev.top_k, f"rerank_{ev.split}", ev.batch_size)
    before = run.before(lambda: {k: v for k, v in rerank(model, evaluator).items() if k != "run"})

    # 4. train
    run.seed()
    stats = train(model, recipe, rd, first, run.dir, resume, show_progress)
    log_history = stats.pop("log_history")
    run.timings["train"] = stats["seconds"]
    if (done := run.rank_done(stats)) is not None:  # several processes: rank 0 evaluates and writes
        return done

    # 5. after, by the same evaluator, beside the first stage alone
    with run.timed("evaluate_after"):
        after = rerank(model, evaluator)
    info = {"base_model": recipe.model.name, "data": recipe.data.retrieval, "first_stage": recipe.data.first_stage,
            "top_k": ev.top_k, "train_queries": len(rd.train), "train_file": recipe.data.train,
            "validation": rd.held_out, "test_queries": len(rd.test),
            "ms_per_query_before": before["ms_per_query"], "ms_per_query_after": after["ms_per_query"],
            "skipped_rows": rd.data.skipped}
    first_name = f"first stage ({recipe.data.first_stage})"
    metrics = metrics_envelope("reranker", before["metrics"], after["metrics"], [evaluator], info, stats,
                               baselines={first_name: {evaluator.name: evaluator.first_stage()},
                                          f"{first_name} + reranker, fused (RRF)": {
                                              evaluator.name: evaluator.fused(after["run"])}})

    # 6. the model: a plain sentence-transformers CrossEncoder folder, marked as a reranker
    return run.finish(metrics, lambda folder: save(model, folder), lambda m: card(m, recipe), write_report,
                      log_history)


def rerank(model, evaluator: RerankingEvaluator) -> dict:
    result = evaluator.evaluate(model)
    log.info("%s: %s (%.1f ms per query)", evaluator.name, result.metrics, result.details["ms_per_query"])
    return {"metrics": {evaluator.name: result.metrics}, "ms_per_query": result.details["ms_per_query"],
            "run": result.details["run"]}


def save(model, folder: Path) -> None:
    model.save_pretrained(str(folder))
    atomic_write_text(folder / MARKER, json.dumps({"task": "reranker"}))


def card(metrics: dict, recipe: RerankerRecipe) -> str:
    info = metrics["run"]
    return model_card(
        metrics, recipe, "Domain-tuned reranker (cross-encoder, domaintune)",
        f"Trained from `{info['base_model']}` on " + (f"the pairs of `{info['train_file']}`" if info.get("train_file")
                                                      else f"the judgments of `{info['data']}` "
                                                      f"({info['train_queries']} train queries)")
        + f" to rerank the top {info['top_k']} of `{info['first_stage']}`.",
        "Load it with plain sentence-transformers:\n\n```python\nfrom sentence_transformers import CrossEncoder\n"
        "model = CrossEncoder(\"path/to/this/folder\")\nmodel.rank(\"a query\", [\"a document\", \"another\"])\n```\n",
        "sentence-transformers", ["sentence-transformers", "cross-encoder", "reranker", "domaintune"],
        notes=f"rerank_* = the first stage's top {info['top_k']} of each judged query, reranked; before = the base "
              "encoder with an untrained head when it was not a cross-encoder.\n")


def parity_evaluators(recipe: RerankerRecipe | None, run_dir: Path, predictor) -> list:
    """For `domaintune export`: the run's own test queries (up to 100, seeded), their first-stage top 20
    (at most evaluation.top_k) reranked by the torch model and by the export: 2,000 pairs each way, not the run's
    30,000, so the check takes minutes, not an hour, on a CPU."""
    if recipe is None:
        return []
    ev = recipe.evaluation
    recipe = recipe.model_copy(update={"evaluation": ev.model_copy(update={"max_queries": min(ev.max_queries or 100,
                                                                                             100)})})
    rd = load_data(recipe)
    first, _ = first_stage_runs(recipe, rd, sorted(rd.test))
    return [RerankingEvaluator(rd.data, rd.test, first, min(ev.top_k, 20), f"rerank_{ev.split}", ev.batch_size)]


def write_report(run_dir: Path, metrics: dict, log_history: list | None = None) -> dict[str, Path]:
    return write_run_report(run_dir, metrics, log_history)


def load(path: str | Path) -> Reranker:
    return Reranker(path)
