"""Multi-stage recipes, e.g. BERT -> domain BERT (mlm) -> task model (similarity or classification).

Each stage is an ordinary run of its task in RUN/<k>-<task>/, whose base model is the previous stage's saved
model. With `compare_last_stage_alone`, the last stage also runs on the original base model (RUN/alone-<task>/),
and the report puts the two end models side by side: what did the earlier stages buy?
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from domaintune.recipe import PipelineRecipe, save_recipe
from domaintune.reporting.report import _fmt, deltas, metrics_table
from domaintune.tasks.rundir import prepare_run_dir
from domaintune.utils import atomic_write_json, atomic_write_text

log = logging.getLogger("domaintune")


def run(recipe: PipelineRecipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    from domaintune import api

    stages = recipe.stage_recipes()
    run_dir = prepare_run_dir(recipe, resume, overwrite)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_recipe(recipe, run_dir / "recipe.yaml")

    def run_stage(stage, base: str, folder: Path) -> dict:
        stage = stage.model_copy(deep=True)
        stage.model.name, stage.output.dir = base, str(folder)
        done = folder / "metrics.json"
        if done.exists() and json.loads(done.read_text()).get("recipe_hash") == stage.hash():
            log.info("pipeline: %s already finished, reused", folder.name)
            return json.loads(done.read_text())
        log.info("pipeline: stage %s on %s", folder.name, base)
        return api.train(stage, resume=(folder / "recipe.yaml").exists(), show_progress=show_progress)

    base, results = recipe.model.name, []
    for k, stage in enumerate(stages):
        folder = run_dir / f"{k + 1}-{stage.task}"
        m = run_stage(stage, base, folder)
        results.append({"stage": folder.name, "task": stage.task, "base_model": base, "before": m["before"],
                        "after": m["after"], "delta": m["delta"]})
        base = str(folder / "model")
    metrics = {"task": "pipeline", "stages": results, "recipe_hash": recipe.hash()}
    if recipe.compare_last_stage_alone and len(stages) > 1:
        last = stages[-1]
        alone = run_stage(last, recipe.model.name, run_dir / f"alone-{last.task}")
        metrics["last_stage_alone"] = {"stage": f"alone-{last.task}", "after": alone["after"]}
        metrics["pipeline_vs_alone"] = {"pipeline": results[-1]["after"], "alone": alone["after"],
                                        "delta": deltas(alone["after"], results[-1]["after"])}
    atomic_write_json(run_dir / "metrics.json", metrics)
    write_report(run_dir, metrics)
    return metrics


def write_report(run_dir: Path, metrics: dict) -> dict[str, Path]:
    lines = ["# domaintune report: pipeline", "",
             " -> ".join(["`base`"] + [f"`{s['task']}`" for s in metrics["stages"]]), ""]
    for s in metrics["stages"]:
        lines += [f"## Stage {s['stage']} (base: `{s['base_model']}`)", "",
                  "| eval | metric | before | after | delta |", "|---|---|---|---|---|"]
        lines += [f"| {ev} | {m} | {_fmt(b)} | {_fmt(a)} | {_fmt(d, True)} |" for ev, m, b, a, d in metrics_table(s)]
        lines += ["", f"Full report: [{s['stage']}/report.md]({s['stage']}/report.md)", ""]
    cmp = metrics.get("pipeline_vs_alone")
    if cmp:
        lines += ["## The end model vs the last stage alone on the original base", "",
                  "| eval | metric | last stage alone | pipeline | pipeline − alone |", "|---|---|---|---|---|"]
        table = metrics_table({"before": cmp["alone"], "after": cmp["pipeline"], "delta": cmp["delta"]})
        lines += [f"| {ev} | {m} | {_fmt(b)} | {_fmt(a)} | {_fmt(d, True)} |" for ev, m, b, a, d in table]
        lines += ["", "Perplexity and loss: lower is better; every other metric: higher is better.", ""]
    md = run_dir / "report.md"
    atomic_write_text(md, "\n".join(lines))
    from markdown_it import MarkdownIt  # markdown-it-py: a dependency of rich

    page = run_dir / "report.html"
    atomic_write_text(page, "<!doctype html><html><head><meta charset='utf-8'><title>domaintune pipeline</title>"
                            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:"
                            "collapse}td,th{border:1px solid #ccc;padding:4px 10px}</style></head><body>"
                      + MarkdownIt("commonmark").enable("table").render("\n".join(lines))
                      + "</body></html>")
    return {"markdown": md, "html": page}
