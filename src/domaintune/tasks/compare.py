"""`domaintune compare RECIPE --strategies frozen,full,lora`: the same data, split and encoder for each
strategy, one run folder each (RUN/<strategy>), one table and one chart. A strategy whose run already
finished with the same recipe is reused, not retrained.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from domaintune.errors import DomaintuneError
from domaintune.reporting import plots
from domaintune.utils import atomic_write_json, atomic_write_text

log = logging.getLogger("domaintune")

COLUMNS = ["strategy", "validation accuracy", "validation macro-F1", "test accuracy", "test macro-F1",
           "training s", "trainable params", "trainable %", "size on disk MB"]


def run_compare(recipe, strategies: list[str], show_progress: bool = True, overwrite: bool = False) -> dict:
    from domaintune.classifier.frozen import FrozenEncoder
    from domaintune.classifier.sequence import check_strategy
    from domaintune.tasks import classification

    if recipe.task != "classification":
        raise DomaintuneError(f"compare: needs a classification recipe (task: classification), got '{recipe.task}'")
    for s in strategies:
        check_strategy(s)
    root = Path(recipe.output.dir)
    frozen = None
    rows = {}
    for s in strategies:
        sub = recipe.model_copy(deep=True)
        sub.strategy = s
        sub.output.dir = str(root / s)
        saved = _saved_hash(Path(sub.output.dir))
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


def _saved_hash(run_dir: Path) -> str | None:
    """The hash of the recipe a strategy's run folder was started with (None: no run there). Recomputed from
    recipe.yaml (rundir.saved_recipe), not read from metrics.json, so "the same recipe" follows
    ClassificationRecipe.hash."""
    from domaintune.tasks.rundir import saved_recipe

    recipe = saved_recipe(run_dir)
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


def _cell(v, column: str = "") -> str:
    if v is None:
        return "–"
    if column in ("trainable %", "size on disk MB", "training s"):
        return f"{v:,.4g}" if v < 1 else f"{v:,.2f}"
    if isinstance(v, float):
        return f"{v:.4f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def write_compare_report(root: Path, result: dict) -> dict[str, Path]:
    rows = [result["rows"][s] for s in result["strategies"]]
    split = "test" if all(r["test accuracy"] is not None for r in rows) else "validation"
    chart = plots.bar_chart([r["strategy"] for r in rows],
                            {f"{split} accuracy": [r[f"{split} accuracy"] for r in rows],
                             f"{split} macro-F1": [r[f"{split} macro-F1"] for r in rows]},
                            root / "plots" / "compare.png", f"strategies on {result['data']}")
    lines = [f"# domaintune compare: {', '.join(result['strategies'])}", "",
             f"Base model `{result['base_model']}`, data `{result['data']}`, the same split for every strategy.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(r[c], c) for c in COLUMNS) + " |" for r in rows]
    lines += ["", "Each strategy's own report: `<strategy>/report.html`.", "", "![compare](plots/compare.png)", ""]
    md = root / "compare.md"
    atomic_write_text(md, "\n".join(lines))
    import base64
    import html

    img = base64.b64encode(chart.read_bytes()).decode()
    table = "<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r[c], c))}</td>" for c in COLUMNS) + "</tr>" for r in rows)
    table += "</table>"
    doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>domaintune compare</title><style>"
           "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:4px 10px}</style></head><body>"
           f"<h1>domaintune compare</h1><p>Base model <code>{html.escape(str(result['base_model']))}</code>, data "
           f"<code>{html.escape(str(result['data']))}</code>.</p>{table}"
           f"<img alt='compare' src='data:image/png;base64,{img}'/></body></html>")
    page = root / "compare.html"
    atomic_write_text(page, doc)
    return {"markdown": md, "html": page}
