"""metrics.json, report.md and a self-contained report.html from one run folder's results."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from domaintune.core import plots
from domaintune.core.evaluator import default_direction
from domaintune.core.io import atomic_write_text

METRIC_ORDER = ["spearman", "pearson", "ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map", "map@100",
                "accuracy", "macro_f1", "precision", "recall", "f1", "token_accuracy", "perplexity", "loss"]


def deltas(before: dict, after: dict) -> dict:
    out = {}
    for ev, metrics in after.items():
        if ev in before:
            out[ev] = {m: round(v - before[ev][m], 6) for m, v in metrics.items() if m in before[ev]}
    return out


def retention_check(before: dict, after: dict, tolerance_points: float) -> dict:
    """STSb test Spearman (English, and every `stsb_test_<lang>` evaluated) must not drop by more than
    `tolerance_points` (1 point = 0.01). `stsb_test_spearman_drop_points` is the largest drop, `worst` its eval."""
    evals = [ev for ev in before if (ev == "stsb_test" or ev.startswith("stsb_test_")) and ev in after]
    if not evals:
        return {"checked": False}
    drops = {ev: round((before[ev]["spearman"] - after[ev]["spearman"]) * 100, 3) for ev in evals}
    worst = max(drops, key=drops.get)
    return {"checked": True, "stsb_test_spearman_drop_points": drops[worst], "worst": worst, "drops_points": drops,
            "tolerance_points": tolerance_points, "passed": drops[worst] <= tolerance_points}


def retention_text(ret: dict) -> str:
    where = ret.get("worst", "stsb_test")
    n = len(ret.get("drops_points", {})) or 1
    scope = f"{where}, the largest drop of {n} STSb test sets" if n > 1 else where
    return f"moved {-ret['stsb_test_spearman_drop_points']:+.2f} points ({scope}; tolerance {ret['tolerance_points']})"


def baseline_columns(metrics: dict) -> list[str]:
    """Names of the baseline encoders evaluated beside the run (evaluation.baselines), in order."""
    return [name for name, res in metrics.get("baselines", {}).items() if "skipped" not in res]


def direction(metrics: dict, ev: str, metric: str) -> str | None:
    """'higher' / 'lower' is better for this eval's metric, as its evaluator said (metrics.json `directions`), or
    by the metric's name for runs written before directions were saved."""
    saved = metrics.get("directions", {}).get(ev, {})
    return saved[metric] if metric in saved else default_direction(metric)


def verdict(delta: float | None, way: str | None) -> str:
    """'better', 'worse' or '' for a delta, by the direction in which its metric improves."""
    if not delta or way is None:
        return ""
    return "better" if (delta > 0) == (way == "higher") else "worse"


def metrics_table(metrics: dict) -> list[tuple[str, str, float | None, float | None, float | None]]:
    rows = []
    before, after, delta = metrics.get("before", {}), metrics.get("after", {}), metrics.get("delta", {})
    for ev in list(dict.fromkeys([*before, *after])):
        names = [m for m in METRIC_ORDER if m in before.get(ev, {}) or m in after.get(ev, {})]
        for m in names:
            rows.append((ev, m, before.get(ev, {}).get(m), after.get(ev, {}).get(m), delta.get(ev, {}).get(m)))
    return rows


def fmt(v, signed=False) -> str:
    if v is None:
        return "–"
    return f"{v:+.4f}" if signed else f"{v:.4f}"


def run_summary(metrics: dict) -> list[tuple[str, str]]:
    """The run's scalar facts (base model, loss or strategy, row counts, ...) as (name, value) rows."""
    rows = [(k.replace("_", " "), str(v)) for k, v in metrics.get("run", {}).items()
            if isinstance(v, (str, int, float, bool)) or v is None]
    params = metrics.get("run", {}).get("parameters")
    if isinstance(params, dict) and params.get("total"):
        rows.append(("trainable parameters", f"{params['trainable']:,} of {params['total']:,} "
                                             f"({100 * params['trainable'] / params['total']:.2f}%)"))
    return rows + [("recipe hash", str(metrics.get("recipe_hash")))]


def per_class_rows(metrics: dict) -> list[tuple[str, str, dict, dict | None]]:
    """(split, label, after, before) per-class precision / recall / F1 of a classification run."""
    pc = metrics.get("per_class", {})
    return [(split, label, vals, pc.get("before", {}).get(split, {}).get(label))
            for split, by_label in pc.get("after", {}).items() for label, vals in by_label.items()]


def _per_class_cell(after: dict, before: dict | None, key: str) -> str:
    return f"{after[key]:.3f}" + (f" ({before[key]:.3f})" if before else "")


def table_rows(metrics: dict) -> tuple[list[str], list[tuple[list[str], str]]]:
    """The before/after table every renderer draws (markdown, HTML, terminal): the header, and per row its cells
    (eval, metric, each baseline, before, after, signed delta) with the delta's verdict (better, worse, same)."""
    bases = baseline_columns(metrics)
    header = ["eval", "metric", *(f"{n} (baseline)" for n in bases), "before", "after", "delta"]
    rows = [([ev, m, *(fmt(metrics["baselines"][n].get(ev, {}).get(m)) for n in bases), fmt(b), fmt(a),
              fmt(d, True)], verdict(d, direction(metrics, ev, m))) for ev, m, b, a, d in metrics_table(metrics)]
    return header, rows


def verdict_warnings(metrics: dict) -> list[str]:
    """What the report and the terminal must say plainly about the model handed back (metrics["verdict"] of an
    embedding run): worse than its base on the domain, never measured on the domain at all, or what the run could
    not do as asked (verdict["notes"], e.g. no silver pairs)."""
    v = metrics.get("verdict", {})
    out = [f"The tuned model is WORSE than its base on your domain: {'; '.join(v['worse'])}. The base model may "
           "serve you better."] if v.get("worse") else []
    return out + ([f"Not shown better than the base: {v['unjudged']}."] if v.get("unjudged") else []) + list(
        v.get("notes", []))


def table_notes(metrics: dict) -> list[tuple[str, bool]]:
    """The lines under the table: skipped baselines, the retention verdict; (text, is a warning)."""
    notes = [(f"baseline {name} skipped: {res['skipped']}", False)
             for name, res in metrics.get("baselines", {}).items() if "skipped" in res]
    notes += [(warning, True) for warning in verdict_warnings(metrics)]
    ret = metrics.get("retention", {})
    if ret.get("checked"):
        notes.append((f"general ability {'kept' if ret['passed'] else 'LOST'}: STSb test Spearman "
                      f"{retention_text(ret)}", not ret["passed"]))
    return notes


def terminal_table(title: str, metrics: dict):
    """The same table for the terminal (rich), deltas coloured by the way each metric improves."""
    from rich.table import Table

    header, rows = table_rows(metrics)
    table = Table(title=title)
    for col in header:
        table.add_column(col, justify="left" if col in ("eval", "metric") else "right")
    for cells, way in rows:
        style = {"better": "green", "worse": "red"}.get(way)
        table.add_row(*cells[:-1], f"[{style}]{cells[-1]}[/]" if style else cells[-1])
    return table


def write_markdown(run_dir: Path, metrics: dict, plots: dict[str, str]) -> Path:
    lines = [f"# domaintune report: {metrics.get('task', 'similarity')}", ""]
    lines += [f"- {k}: `{v}`" for k, v in run_summary(metrics)] + [""]
    ret = metrics.get("retention", {})
    if ret.get("checked"):
        kept = "kept" if ret["passed"] else "**LOST: general ability dropped beyond tolerance**"
        lines += [f"**General ability (STSb test Spearman): {kept}** ({retention_text(ret)}).", ""]
    lines += [line for warning in verdict_warnings(metrics) for line in (f"**{warning}**", "")]
    header, rows = table_rows(metrics)
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cells, way in rows:
        mark = {"better": " ↑", "worse": " ↓"}.get(way, "")
        lines.append("| " + " | ".join(cells) + f"{mark} |")
    for name, res in metrics.get("baselines", {}).items():
        if "skipped" in res:
            lines.append(f"\nBaseline {name} skipped: {res['skipped']}")
    lines += ["", "↑ moved the good way for that metric (perplexity and loss: down), ↓ the bad way.", ""]
    pcr = per_class_rows(metrics)
    if pcr:
        lines += ["## Per class (after; before in brackets)", "",
                  "| split | label | precision | recall | F1 | support |", "|---|---|---|---|---|---|"]
        for split, label, a, b in pcr:
            cells = " | ".join(_per_class_cell(a, b, k) for k in ("precision", "recall", "f1"))
            lines.append(f"| {split} | {label} | {cells} | {a['support']} |")
        lines.append("")
    lines += example_tables_markdown(metrics)
    timings = metrics.get("timings", {})
    if timings:
        lines += ["## Timings (seconds)", ""] + [f"- {k}: {v}" for k, v in timings.items()] + [""]
    for title, rel in plots.items():
        lines += [f"## {title}", "", f"![{title}]({rel})", ""]
    probes = metrics.get("probes", {}).get("texts", [])
    if probes:
        lines += ["Probe texts (heat-map order): " + "; ".join(f"{i + 1}. {t}" for i, t in enumerate(probes)), ""]
    path = Path(run_dir) / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path


def write_html(run_dir: Path, metrics: dict, plots: dict[str, str]) -> Path:
    """One file, images inlined as base64: it can be mailed or archived on its own."""
    esc = html.escape
    header, table = table_rows(metrics)
    rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells[:-1]) + f"<td class='{way}'>{cells[-1]}</td>"
                   "</tr>" for cells, way in table)
    head = "".join(f"<th>{esc(c)}</th>" for c in header)
    ret = metrics.get("retention", {})
    banner = ""
    if ret.get("checked"):
        cls, word = ("ok", "kept") if ret["passed"] else ("warn", "LOST")
        banner = (f"<p class='{cls}'>General ability (STSb test Spearman): <b>{word}</b>, "
                  f"{esc(retention_text(ret))}.</p>")
    banner += "".join(f"<p class='warn'>{esc(warning)}</p>" for warning in verdict_warnings(metrics))
    imgs = ""
    for title, rel in plots.items():
        data = base64.b64encode((Path(run_dir) / rel).read_bytes()).decode()
        imgs += f"<h2>{esc(title)}</h2><img alt='{esc(title)}' src='data:image/png;base64,{data}'/>"
    summary = "".join(f"<li>{esc(k)}: <code>{esc(v)}</code></li>" for k, v in run_summary(metrics))
    pcr = per_class_rows(metrics)
    per_class = ""
    if pcr:
        per_class = ("<h2>Per class (after; before in brackets)</h2><table><tr><th>split</th><th>label</th>"
                     "<th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>" + "".join(
                         f"<tr><td>{esc(sp)}</td><td>{esc(lab)}</td>"
                         + "".join(f"<td>{_per_class_cell(a, b, k)}</td>" for k in ("precision", "recall", "f1"))
                         + f"<td>{a['support']}</td></tr>" for sp, lab, a, b in pcr) + "</table>")
    timings = "".join(f"<li>{esc(k)}: {v}</li>" for k, v in metrics.get("timings", {}).items())
    body = f"""<h1>domaintune report: {esc(str(metrics.get('task', 'similarity')))}</h1>
<ul>{summary}</ul>
{banner}<table><tr>{head}</tr>{rows}</table>
<p class='note'>Green: moved the good way for that metric (perplexity and loss: down); red: the bad way.</p>
{per_class}{example_tables_html(metrics)}
<h2>Timings (seconds)</h2><ul>{timings}</ul>{imgs}"""
    path = Path(run_dir) / "report.html"
    atomic_write_text(path, page_html("domaintune report", body))
    return path


CSS = """body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;
margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}td:first-child,td:nth-child(2){text-align:
left}.better{color:#080}.worse{color:#b00}.warn{background:#fdd;padding:8px}.ok{background:#dfd;padding:8px}
.note{color:#555;font-size:90%}img{max-width:100%}"""


def page_html(title: str, body: str) -> str:
    """The one HTML page template of every report (run, pipeline, compare): self-contained, images inlined."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>")


def markdown_to_html(lines: list[str]) -> str:
    from markdown_it import MarkdownIt  # markdown-it-py: a dependency of rich

    return MarkdownIt("commonmark").enable("table").render("\n".join(lines))


def write_pages(run_dir: Path, name: str, title: str, lines: list[str], images: dict[str, str] | None = None
                ) -> dict[str, Path]:
    """NAME.md and NAME.html from the same markdown lines, in the one template; images ({title: path relative to
    run_dir}) are linked in the markdown and inlined in the HTML."""
    run_dir = Path(run_dir)
    md = run_dir / f"{name}.md"
    atomic_write_text(md, "\n".join(lines + [f"![{alt}]({rel})\n" for alt, rel in (images or {}).items()]))
    imgs = "".join(f"<img alt='{html.escape(alt)}' src='data:image/png;base64,"
                   f"{base64.b64encode((run_dir / rel).read_bytes()).decode()}'/>"
                   for alt, rel in (images or {}).items())
    page = run_dir / f"{name}.html"
    atomic_write_text(page, page_html(title, markdown_to_html(lines) + imgs))
    return {"markdown": md, "html": page}


def model_card(metrics: dict, recipe, title: str, what: str, usage: str, library: str, tags: list[str],
               before_means: str = "the base model", notes: str = "") -> str:
    """The one model-card writer (README.md in every saved model folder): front matter, what it is and how to use
    it, the before/after table, the recipe."""
    from domaintune.core.recipe import recipe_to_yaml

    info = metrics.get("run", {})
    rows = "\n".join(f"| {ev} | {m} | {fmt(b)} | {fmt(a)} | {fmt(d, True)} |"
                     for ev, m, b, a, d in metrics_table(metrics))
    table = ("| eval | metric | before | after | delta |\n|---|---|---|---|---|\n" + rows) if rows else "(none)"
    return f"""---
library_name: {library}
tags: [{', '.join(tags)}]
base_model: {info.get('base_model')}
---
# {title}

{what}

{usage}
{notes}
## Before ({before_means}) / after

{table}

## Recipe

```yaml
{recipe_to_yaml(recipe, comments=False)}```
"""


def example_tables_markdown(metrics: dict) -> list[str]:
    """What changed, shown as examples (metrics['examples']: [{title, note, columns, rows}]): e.g. the queries
    whose answer moved most, the most confident mistakes."""
    lines = []
    for ex in metrics.get("examples", []):
        lines += [f"## {ex['title']}", "", ex.get("note", ""), "", "| " + " | ".join(ex["columns"]) + " |",
                  "|" + "---|" * len(ex["columns"])]
        lines += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |"
                  for row in ex["rows"]]
        lines.append("")
    return lines


def example_tables_html(metrics: dict) -> str:
    esc = html.escape
    out = ""
    for ex in metrics.get("examples", []):
        out += (f"<h2>{esc(ex['title'])}</h2><p class='note'>{esc(ex.get('note', ''))}</p><table><tr>"
                + "".join(f"<th>{esc(c)}</th>" for c in ex["columns"]) + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in ex["rows"])
                + "</table>")
    return out


def write_run_report(run_dir: Path, metrics: dict, log_history: list | None = None,
                     figures: dict[str, str] | None = None) -> dict[str, Path]:
    """report.md and report.html of a run: the task's own figures ({title: path relative to run_dir}, already
    drawn), then the learning curves of its validation metric (from RUN/log_history.json when not given)."""
    run_dir = Path(run_dir)
    log_history = load_log_history(run_dir, log_history)
    made = dict(figures or {})
    key = metrics.get("training", {}).get("validation_metric_key")
    if key and log_history and plots.learning_curves(log_history, key, run_dir / "plots" / "learning_curves.png"):
        made["Learning curves"] = "plots/learning_curves.png"
    return {"markdown": write_markdown(run_dir, metrics, made), "html": write_html(run_dir, metrics, made)}


def load_log_history(run_dir: Path, log_history: list | None) -> list:
    """The trainer's log history: given, or read back from RUN/log_history.json (for `domaintune report`)."""
    if log_history is not None:
        return log_history
    hist = Path(run_dir) / "log_history.json"
    return json.loads(hist.read_text()) if hist.exists() else []


def load_metrics(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "metrics.json").read_text())
