"""`domaintune compare RECIPE --strategies frozen,full,lora`: the same data, split and encoder for each
strategy, one run folder each (RUN/<strategy>), one table and one chart. A strategy whose run already
finished with the same recipe is reused, not retrained.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from domaintune.classification.recipe import ClassificationRecipe
from domaintune.core import plots
from domaintune.core.io import atomic_write_json
from domaintune.core.recipe import validate_recipe
from domaintune.core.report import write_pages
from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")

COLUMNS = ["strategy", "validation accuracy", "validation macro-F1", "test accuracy", "test macro-F1",
           "training s", "trainable params", "trainable %", "size on disk MB"]


def run_compare(recipe, strategies: list[str], show_progress: bool = True, overwrite: bool = False) -> dict:
    from domaintune.classification import task as classification
    from domaintune.classification.frozen import FrozenEncoder

    if not isinstance(recipe, ClassificationRecipe):
        raise DomaintuneError(f"compare: needs a classification recipe (task: classification), got '{recipe.task}'")
    root = Path(recipe.output.dir)
    subs = {s: strategy_recipe(recipe, s, root / s) for s in strategies}  # every name checked before any run
    frozen = None
    rows = {}
    for s, sub in subs.items():
        saved = saved_hash(Path(sub.output.dir))
        done = Path(sub.output.dir) / "metrics.json"
        if done.exists() and saved == sub.hash():
            log.info("compare: %s already finished in %s, reused", s, sub.output.dir)
            metrics = json.loads(done.read_text())
        elif saved is not None and saved != sub.hash() and not overwrite:
            state = "finished" if done.exists() else "unfinished"
            raise DomaintuneError(
                f"compare: {sub.output.dir} holds a {state} '{s}' run with a different recipe; move it away, "
                "pass --overwrite to retrain it, or choose another output.dir")
        else:
            log.info("compare: strategy %s", s)
            if sub.trains_encoder():  # a frozen-only encoder (USE) is refused before anything is written
                from domaintune.models import check_fine_tunable

                check_fine_tunable(sub.model.name)
            frozen = frozen or FrozenEncoder(recipe.model.name, recipe.frozen.cache_dir, recipe.evaluation.batch_size)
            resume = saved == sub.hash()  # an interrupted run of this very recipe continues
            metrics = classification.run(sub, resume=resume, overwrite=overwrite and not resume,
                                         show_progress=show_progress, frozen_encoder=frozen)
        rows[s] = summary_row(s, metrics)
    result = {"task": "compare", "strategies": strategies, "rows": rows, "recipe_hash": recipe.hash(),
              "base_model": recipe.model.name, "data": recipe.data.train}
    atomic_write_json(root / "metrics.json", result)
    write_compare_report(root, result)
    return result


def strategy_recipe(recipe: ClassificationRecipe, strategy: str, folder: Path) -> ClassificationRecipe:
    """The recipe with another strategy and run folder, validated like a recipe file."""
    data = {**recipe.model_dump(), "strategy": strategy, "output": {"dir": str(folder)}}
    return validate_recipe(ClassificationRecipe, data, "compare --strategies", None)


def saved_hash(run_dir: Path) -> str | None:
    """The hash of the recipe a strategy's run folder was started with (None: no run there). Recomputed from
    recipe.yaml (rundir.saved_recipe), not read from metrics.json, so "the same recipe" follows
    ClassificationRecipe.hash."""
    from domaintune.core.rundir import saved_recipe

    recipe = saved_recipe(run_dir, ClassificationRecipe)
    return recipe.hash() if recipe is not None else None


def summary_row(strategy: str, m: dict) -> dict:
    after, run = m["after"], m["run"]
    params = run["parameters"]
    val, test = after["validation"], after.get("test", {})
    return {"strategy": strategy,
            "validation accuracy": val["accuracy"], "validation macro-F1": val["macro_f1"],
            "test accuracy": test.get("accuracy"), "test macro-F1": test.get("macro_f1"),
            "training s": m["timings"]["train"], "trainable params": params["trainable"],
            "trainable %": round(100 * params["trainable"] / params["total"], 4),
            "size on disk MB": round(run["size_on_disk_bytes"] / 1e6, 2)}


def cell(v, column: str = "") -> str:
    if v is None:
        return "–"
    if column in ("trainable %", "size on disk MB", "training s"):
        return f"{v:,.4g}" if v < 1 else f"{v:,.2f}"
    if isinstance(v, float):
        return f"{v:.4f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def write_compare_report(root: Path, result: dict, log_history: list | None = None) -> dict[str, Path]:
    rows = [result["rows"][s] for s in result["strategies"]]
    split = "test" if all(r["test accuracy"] is not None for r in rows) else "validation"
    chart = plots.bar_chart([r["strategy"] for r in rows],
                            {f"{split} accuracy": [r[f"{split} accuracy"] for r in rows],
                             f"{split} macro-F1": [r[f"{split} macro-F1"] for r in rows]},
                            root / "plots" / "compare.png", f"strategies on {result['data']}")
    lines = [f"# domaintune compare: {', '.join(result['strategies'])}", "",
             f"Base model `{result['base_model']}`, data `{result['data']}`, the same split for every strategy.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(r[c], c) for c in COLUMNS) + " |" for r in rows]
    lines += ["", "Each strategy's own report: `<strategy>/report.html`.", ""]
    return write_pages(root, "compare", "domaintune compare", lines, {"compare": str(chart.relative_to(root))})


write_report = write_compare_report  # the registry's name for a run folder's report writer
