"""Multi-stage recipes, e.g. BERT -> domain BERT (mlm) -> task model (similarity or classification).

Each stage is an ordinary run of its task in RUN/<k>-<task>/, whose base model is the previous stage's saved
model. With `compare_last_stage_alone`, the last stage also runs on the original base model (RUN/alone-<task>/),
and the report puts the two end models side by side: what did the earlier stages buy?
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from domaintune import registry
from domaintune.core import distributed
from domaintune.core.report import deltas, direction, fmt, metrics_table, verdict, write_pages
from domaintune.core.run import Run
from domaintune.pipeline.recipe import PipelineRecipe

log = logging.getLogger("domaintune")


def run(recipe: PipelineRecipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    stages = recipe.stage_recipes(registry.RECIPES)
    run = Run(recipe, resume, overwrite)
    run.start()

    def run_stage(stage, base: str, folder: Path) -> dict:
        stage = stage.model_copy(deep=True)
        stage.model.name, stage.output.dir = base, str(folder)
        done = folder / "metrics.json"
        # under several processes rank 0's folder decides for all, and every rank waits for the stage's model
        # (rank 0 writes it) before the next stage loads it
        finished = distributed.from_main(
            lambda: json.loads(done.read_text()) if done.exists() else None)
        if finished and finished.get("recipe_hash") == stage.hash():
            log.info("pipeline: %s already finished, reused", folder.name)
            return finished
        log.info("pipeline: stage %s on %s", folder.name, base)
        result = registry.run(stage, resume=distributed.from_main((folder / "recipe.yaml").exists),
                              show_progress=show_progress)
        distributed.barrier()
        return result

    base, results = recipe.model.name, []
    for k, stage in enumerate(stages):
        folder = run.dir / f"{k + 1}-{stage.task}"
        m = run_stage(stage, base, folder)
        if distributed.is_main():  # the other ranks' stage results are their rank_done records
            results.append({"stage": folder.name, "task": stage.task, "base_model": base, "before": m["before"],
                            "after": m["after"], "delta": m["delta"], "directions": m.get("directions", {})})
        base = str(folder / "model")
    alone = None
    if recipe.compare_last_stage_alone and len(stages) > 1:
        alone = run_stage(stages[-1], recipe.model.name, run.dir / f"alone-{stages[-1].task}")
    if (done := run.rank_done({})) is not None:  # several processes: rank 0 gathered the stages' results
        return done
    metrics = {"task": "pipeline", "stages": results, "model_dir": str(Path(base))}
    if alone is not None:
        last = stages[-1]
        metrics["last_stage_alone"] = {"stage": f"alone-{last.task}", "after": alone["after"]}
        metrics["pipeline_vs_alone"] = {"pipeline": results[-1]["after"], "alone": alone["after"],
                                        "delta": deltas(alone["after"], results[-1]["after"])}
    return run.finish(metrics, None, None, write_report)


def sections(metrics: dict) -> list[tuple[str, dict]]:
    """The before/after tables of a pipeline run: one per stage, then the end model vs the last stage alone."""
    out = [(f"Stage {s['stage']} (base: `{s['base_model']}`)", s) for s in metrics["stages"]]
    cmp = metrics.get("pipeline_vs_alone")
    if cmp:
        out.append(("The end model vs the last stage alone on the original base (before = alone, after = "
                    "pipeline)", {"before": cmp["alone"], "after": cmp["pipeline"], "delta": cmp["delta"],
                                  "directions": metrics["stages"][-1].get("directions", {})}))
    return out


def write_report(run_dir: Path, metrics: dict, log_history: list | None = None) -> dict[str, Path]:
    lines = ["# domaintune report: pipeline", "",
             " -> ".join(["`base`"] + [f"`{s['task']}`" for s in metrics["stages"]]), ""]
    for title, table in sections(metrics):
        lines += [f"## {title}", "", "| eval | metric | before | after | delta |", "|---|---|---|---|---|"]
        for ev, m, b, a, d in metrics_table(table):
            mark = {"better": " ↑", "worse": " ↓"}.get(verdict(d, direction(table, ev, m)), "")
            lines.append(f"| {ev} | {m} | {fmt(b)} | {fmt(a)} | {fmt(d, True)}{mark} |")
        if "stage" in table:
            lines += ["", f"Full report: [{table['stage']}/report.md]({table['stage']}/report.md)"]
        lines.append("")
    lines += ["↑ moved the good way for that metric (perplexity and loss: down), ↓ the bad way.", ""]
    return write_pages(run_dir, "report", "domaintune pipeline", lines)


def load(path: str | Path):
    """A pipeline's run folder: its end model, by that model's own task."""
    folder = Path(path)
    metrics = json.loads((folder / "metrics.json").read_text())
    return registry.load_model(metrics["model_dir"])
