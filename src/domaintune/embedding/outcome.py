"""What a sentence-embedding run (similarity, tsdae, simcse) evaluates and reports: the suite's metrics with the
probe heat-map and each held-out query's answer rank, the baselines through the same evaluators, the metrics
before / after with the retention check, the queries whose answer moved most, and the report."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from domaintune.core import plots
from domaintune.core.contract import metrics_envelope
from domaintune.core.evaluator import run_evaluators
from domaintune.core.report import retention_check, write_run_report
from domaintune.embedding.matryoshka import evaluate_at_dims, training_dims
from domaintune.errors import DomaintuneError
from domaintune.models import load_sentence_model

log = logging.getLogger("domaintune")


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
        out[name], _ = run_evaluators(model, suite, f"baseline {name}")
    return out


def probe_matrix(model, probes: list[str]) -> np.ndarray:
    emb = model.encode(probes, normalize_embeddings=True, convert_to_numpy=True)
    return np.clip(emb @ emb.T, -1, 1)


def outcome(task: str, before: dict, after: dict, suite: list, recipe, retrieval: dict | None, run_info: dict,
            training: dict) -> dict:
    """The metrics of a sentence-embedding run (similarity, tsdae, simcse): before / after / delta, baselines, the
    retention check (a warning when general ability was lost), the probe heat-maps and the held-out queries whose
    answer moved most."""
    metrics = metrics_envelope(
        task, before["metrics"], after["metrics"], suite, run_info, training,
        baselines=before.get("baselines", {}),
        retention=retention_check(before["metrics"], after["metrics"], recipe.evaluation.retention_tolerance),
        probes={"texts": recipe.evaluation.probes, "before": before["probes"], "after": after["probes"]},
        examples=rank_changes(before.get("ranks"), after.get("ranks"), retrieval))
    judged = [ev for ev in suite if ev.name in (after.get("judged_runs") or {})]
    if judged:  # your search data: BM25 and hybrid beside before / after, and the queries that moved
        from domaintune.retrieval.evaluation import judged_outcome

        systems, examples = judged_outcome(judged, before.get("judged_runs", {}), after["judged_runs"])
        metrics["retrieval_systems"] = systems
        metrics["run"]["retrieval_skipped_rows"] = {f: n for ev in judged for f, n in ev.data.skipped.items()}
        metrics["examples"] = examples + metrics["examples"]
    metrics["verdict"] = domain_verdict(metrics)
    for line in metrics["verdict"]["worse"]:
        log.warning("the tuned model is WORSE than its base on %s; the base model may serve you better", line)
    if "unjudged" in metrics["verdict"]:
        log.warning("NOT SHOWN BETTER than the base: %s", metrics["verdict"]["unjudged"])
    if not metrics["retention"].get("passed", True):
        log.warning("general ability LOST: STSb test Spearman dropped %.2f points (tolerance %.2f)",
                    metrics["retention"]["stsb_test_spearman_drop_points"], recipe.evaluation.retention_tolerance)
    return metrics


def load_model_of(recipe):
    return load_sentence_model(recipe.model.name, recipe.model.max_seq_length, recipe.model.pooling,
                               prefix=recipe.model.prefix)


def evaluate(model, suite: list, recipe, label: str, baselines: bool = False) -> dict:
    """The suite's metrics (also at each Matryoshka dimension: "<evaluator>@<d>d"), the probe heat-map, each
    query's answer rank (for 'what changed') and, before training, the baseline encoders through the same
    evaluators."""
    results, details = run_evaluators(model, suite, label)
    dims = getattr(recipe.training, "matryoshka_dims", [])  # tsdae's training section has none
    results.update(evaluate_at_dims(model, suite, training_dims(dims, model), label) if dims else {})
    out = {"metrics": results, "probes": probe_matrix(model, recipe.evaluation.probes).round(4).tolist(),
           "ranks": details.get("retrieval", {}).get("ranks"),
           "judged_runs": {name: d["run"] for name, d in details.items() if "run" in d}}  # your search data
    if baselines:
        out["baselines"] = evaluate_baselines(recipe.evaluation.baselines, suite)
    return out


def rank_changes(before: dict | None, after: dict | None, retrieval: dict | None, n: int = 10) -> list[dict]:
    """The held-out queries whose answer rank improved most and worsened most (before vs after, by reciprocal
    rank), with the texts."""
    if not before or not after or not retrieval:
        return []
    queries, corpus, relevant = retrieval["retrieval"]
    # by the change in reciprocal rank (what MRR adds up): a move from 4 to 1 counts more than one from 2796 to 391
    moved = sorted(((1 / after[q] - 1 / before[q], q) for q in after if q in before), key=lambda x: (-x[0], x[1]))

    def rows(items):
        return [[queries[q], " / ".join(corpus[d] for d in sorted(relevant[q])), before[q], after[q]]
                for _, q in items]

    columns = ["query", "answer", "rank before", "rank after"]
    note = "Held-out queries (never seen in training); rank 1 = the answer came first among all concepts."
    return [{"title": "Queries whose answer rose most", "note": note, "columns": columns,
             "rows": rows([m for m in moved[:n] if m[0] > 0])},
            {"title": "Queries whose answer fell most", "note": note, "columns": columns,
             "rows": rows([m for m in reversed(moved[-n:]) if m[0] < 0])}]


def write_report(run_dir: Path, metrics: dict, log_history: list[dict] | None = None) -> dict[str, Path]:
    figures = {}
    pr = metrics.get("probes")
    if pr and pr.get("before") is not None:
        plots.heatmaps(pr["texts"], np.array(pr["before"]), np.array(pr["after"]), Path(run_dir) / "plots" /
                       "heatmaps.png")
        figures["Similarity heat-maps of the probe texts"] = "plots/heatmaps.png"
    return write_run_report(run_dir, metrics, log_history, figures)


DOMAIN_EVALS = ("judged_", "retrieval", "domain_test")  # your data, held-out concepts, domain pairs


def domain_verdict(metrics: dict) -> dict:
    """Did the run beat its base where it matters, on the domain's own evaluations (judged retrieval, held-out
    retrieval, domain pairs)? {"worse": ["judged_test ndcg@10 0.3995 -> 0.3613", ...], "better": [...]}: a
    label-free run in particular must say plainly when it hands back a model worse than its base, and `unjudged`
says when nothing on the domain was measured at all."""
    out = {"worse": [], "better": []}
    for ev, after in metrics["after"].items():
        if not ev.startswith(DOMAIN_EVALS) or ev not in metrics["before"]:
            continue
        m = "ndcg@10" if "ndcg@10" in after else "mrr@10" if "mrr@10" in after else "spearman"
        if m not in after or m not in metrics["before"][ev]:
            continue
        b, a = metrics["before"][ev][m], after[m]
        out["worse" if a < b else "better"].append(f"{ev} {m} {b:.4f} -> {a:.4f}")
    if not out["worse"] and not out["better"]:
        choice = metrics["training"].get("checkpoint_choice")
        out["unjudged"] = ("nothing on your domain was evaluated, so nothing shows that this model is better than its "
                           "base there" + (f"; {choice}" if choice else ""))
    return out
