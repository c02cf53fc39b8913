"""metrics.json, report.md and a self-contained report.html from one run folder's results."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from domaintune.utils import atomic_write_text

METRIC_ORDER = ["spearman", "pearson", "mrr@10", "recall@1", "recall@10", "map", "accuracy", "macro_f1",
                "precision", "recall", "f1", "token_accuracy", "perplexity", "loss"]


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


def _retention_text(ret: dict) -> str:
    where = ret.get("worst", "stsb_test")
    n = len(ret.get("drops_points", {})) or 1
    scope = f"{where}, the largest drop of {n} STSb test sets" if n > 1 else where
    return f"moved {-ret['stsb_test_spearman_drop_points']:+.2f} points ({scope}; tolerance {ret['tolerance_points']})"


def baseline_columns(metrics: dict) -> list[str]:
    """Names of the baseline encoders evaluated beside the run (evaluation.baselines), in order."""
    return [name for name, res in metrics.get("baselines", {}).items() if "skipped" not in res]


def metrics_table(metrics: dict) -> list[tuple[str, str, float | None, float | None, float | None]]:
    rows = []
    before, after, delta = metrics.get("before", {}), metrics.get("after", {}), metrics.get("delta", {})
    for ev in list(dict.fromkeys([*before, *after])):
        names = [m for m in METRIC_ORDER if m in before.get(ev, {}) or m in after.get(ev, {})]
        for m in names:
            rows.append((ev, m, before.get(ev, {}).get(m), after.get(ev, {}).get(m), delta.get(ev, {}).get(m)))
    return rows


def _fmt(v, signed=False) -> str:
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


def write_markdown(run_dir: Path, metrics: dict, plots: dict[str, str]) -> Path:
    lines = [f"# domaintune report: {metrics.get('task', 'similarity')}", ""]
    lines += [f"- {k}: `{v}`" for k, v in run_summary(metrics)] + [""]
    ret = metrics.get("retention", {})
    if ret.get("checked"):
        verdict = "kept" if ret["passed"] else "**LOST: general ability dropped beyond tolerance**"
        lines += [f"**General ability (STSb test Spearman): {verdict}** ({_retention_text(ret)}).", ""]
    bases = baseline_columns(metrics)
    lines += ["| eval | metric | " + "".join(f"{n} (baseline) | " for n in bases) + "before | after | delta |",
              "|---|---|" + "---|" * len(bases) + "---|---|---|"]
    for ev, m, b, a, d in metrics_table(metrics):
        base = "".join(f"{_fmt(metrics['baselines'][n].get(ev, {}).get(m))} | " for n in bases)
        lines.append(f"| {ev} | {m} | {base}{_fmt(b)} | {_fmt(a)} | {_fmt(d, True)} |")
    for name, res in metrics.get("baselines", {}).items():
        if "skipped" in res:
            lines.append(f"\nBaseline {name} skipped: {res['skipped']}")
    lines.append("")
    pcr = per_class_rows(metrics)
    if pcr:
        lines += ["## Per class (after; before in brackets)", "",
                  "| split | label | precision | recall | F1 | support |", "|---|---|---|---|---|---|"]
        for split, label, a, b in pcr:
            cells = " | ".join(_per_class_cell(a, b, k) for k in ("precision", "recall", "f1"))
            lines.append(f"| {split} | {label} | {cells} | {a['support']} |")
        lines.append("")
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
    bases = baseline_columns(metrics)
    rows = "".join(
        f"<tr><td>{esc(ev)}</td><td>{esc(m)}</td>"
        + "".join(f"<td>{_fmt(metrics['baselines'][n].get(ev, {}).get(m))}</td>" for n in bases)
        + f"<td>{_fmt(b)}</td><td>{_fmt(a)}</td>"
        f"<td class='{'pos' if (d or 0) > 0 else 'neg' if (d or 0) < 0 else ''}'>{_fmt(d, True)}</td></tr>"
        for ev, m, b, a, d in metrics_table(metrics)
    )
    head = "".join(f"<th>{esc(n)} (baseline)</th>" for n in bases)
    ret = metrics.get("retention", {})
    banner = ""
    if ret.get("checked"):
        cls, word = ("ok", "kept") if ret["passed"] else ("warn", "LOST")
        banner = (f"<p class='{cls}'>General ability (STSb test Spearman): <b>{word}</b>, "
                  f"{esc(_retention_text(ret))}.</p>")
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
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>domaintune report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}td:first-child,td:nth-child(2){{text-align:left}}
.pos{{color:#080}}.neg{{color:#b00}}.warn{{background:#fdd;padding:8px}}.ok{{background:#dfd;padding:8px}}
img{{max-width:100%}}</style></head><body>
<h1>domaintune report: {esc(str(metrics.get('task', 'similarity')))}</h1>
<ul>{summary}</ul>
{banner}<table><tr><th>eval</th><th>metric</th>{head}<th>before</th><th>after</th><th>delta</th></tr>{rows}</table>
{per_class}
<h2>Timings (seconds)</h2><ul>{timings}</ul>{imgs}</body></html>"""
    path = Path(run_dir) / "report.html"
    atomic_write_text(path, doc)
    return path


def model_card(metrics: dict, recipe_yaml: str) -> str:
    info = metrics.get("run", {})
    rows = "\n".join(f"| {ev} | {m} | {_fmt(b)} | {_fmt(a)} | {_fmt(d, True)} |"
                     for ev, m, b, a, d in metrics_table(metrics))
    return f"""---
library_name: sentence-transformers
tags: [sentence-transformers, sentence-similarity, domaintune]
base_model: {info.get('base_model')}
---
# Domain-adapted sentence encoder (domaintune)

Fine-tuned from `{info.get('base_model')}` as a Siamese bi-encoder (shared weights) with the
`{info.get('loss')}` loss on {info.get('train_pairs')} training pairs ({info.get('data')}).

Load it with plain sentence-transformers, no domaintune needed:

```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("path/to/this/folder")
```

## Before / after

| eval | metric | before | after | delta |
|---|---|---|---|---|
{rows}

STSb = STS benchmark (general English similarity: did the model keep its general ability?).
domain_test = held-out domain pairs; retrieval = held-out concepts, alternative label -> preferred label.

## Recipe

```yaml
{recipe_yaml}```
"""


def classification_model_card(metrics: dict, recipe_yaml: str) -> str:
    info = metrics.get("run", {})
    rows = "\n".join(f"| {ev} | {m} | {_fmt(b)} | {_fmt(a)} | {_fmt(d, True)} |"
                     for ev, m, b, a, d in metrics_table(metrics))
    strategy = info.get("strategy")
    how = {"frozen": "a head trained on frozen encoder features (this folder holds the head; the encoder is named "
                     "in domaintune_classifier.json)",
           "full": "full fine-tuning (a standard transformers AutoModelForSequenceClassification folder)"}.get(
        strategy, f"a {strategy} adapter (PEFT) with the classification head saved inside it")
    return f"""---
library_name: {'transformers' if strategy == 'full' else 'domaintune'}
tags: [text-classification, domaintune]
base_model: {info.get('base_model')}
---
# Text classifier (domaintune)

Trained from `{info.get('base_model')}` by {how}, on {info.get('train_rows')} rows of `{info.get('data')}`.
Labels: {', '.join(map(str, metrics.get('labels', [])))}{' (multi-label)' if info.get('multi_label') else ''}.

Predict with `domaintune predict THIS_FOLDER --input FILE`, or in Python:
`from domaintune.classifier.model import load_classifier; load_classifier(path).predict_proba(texts)`.

## Before (untouched encoder + logistic regression) / after

| eval | metric | before | after | delta |
|---|---|---|---|---|
{rows}

## Recipe

```yaml
{recipe_yaml}```
"""


def load_log_history(run_dir: Path, log_history: list | None) -> list:
    """The trainer's log history: given, or read back from RUN/log_history.json (for `domaintune report`)."""
    if log_history is not None:
        return log_history
    hist = Path(run_dir) / "log_history.json"
    return json.loads(hist.read_text()) if hist.exists() else []


def load_metrics(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "metrics.json").read_text())
