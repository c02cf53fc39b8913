"""metrics.json, report.md and a self-contained report.html from one run folder's results."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from domaintune.utils import atomic_write_text

METRIC_ORDER = ["spearman", "pearson", "mrr@10", "recall@1", "recall@10", "map"]


def deltas(before: dict, after: dict) -> dict:
    out = {}
    for ev, metrics in after.items():
        if ev in before:
            out[ev] = {m: round(v - before[ev][m], 6) for m, v in metrics.items() if m in before[ev]}
    return out


def retention_check(before: dict, after: dict, tolerance_points: float) -> dict:
    """STSb test Spearman must not drop by more than `tolerance_points` (1 point = 0.01)."""
    if "stsb_test" not in before or "stsb_test" not in after:
        return {"checked": False}
    drop = (before["stsb_test"]["spearman"] - after["stsb_test"]["spearman"]) * 100
    return {"checked": True, "stsb_test_spearman_drop_points": round(drop, 3),
            "tolerance_points": tolerance_points, "passed": drop <= tolerance_points}


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


def write_markdown(run_dir: Path, metrics: dict, plots: dict[str, str]) -> Path:
    lines = [f"# domaintune report: {metrics.get('task', 'similarity')}", ""]
    info = metrics.get("run", {})
    lines += [f"- base model: `{info.get('base_model')}`", f"- loss: `{info.get('loss')}`",
              f"- training pairs: {info.get('train_pairs')}", f"- recipe hash: `{metrics.get('recipe_hash')}`", ""]
    ret = metrics.get("retention", {})
    if ret.get("checked"):
        verdict = "kept" if ret["passed"] else "**LOST: general ability dropped beyond tolerance**"
        lines += [f"**General ability (STSb test Spearman): {verdict}** "
                  f"(moved {-ret['stsb_test_spearman_drop_points']:+.2f} points, "
                  f"tolerance {ret['tolerance_points']}).", ""]
    lines += ["| eval | metric | before | after | delta |", "|---|---|---|---|---|"]
    for ev, m, b, a, d in metrics_table(metrics):
        lines.append(f"| {ev} | {m} | {_fmt(b)} | {_fmt(a)} | {_fmt(d, True)} |")
    lines.append("")
    timings = metrics.get("timings", {})
    if timings:
        lines += ["## Timings (seconds)", ""] + [f"- {k}: {v}" for k, v in timings.items()] + [""]
    for title, rel in plots.items():
        lines += [f"## {title}", "", f"![{title}]({rel})", ""]
    path = Path(run_dir) / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path


def write_html(run_dir: Path, metrics: dict, plots: dict[str, str]) -> Path:
    """One file, images inlined as base64: it can be mailed or archived on its own."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(ev)}</td><td>{esc(m)}</td><td>{_fmt(b)}</td><td>{_fmt(a)}</td>"
        f"<td class='{'pos' if (d or 0) > 0 else 'neg' if (d or 0) < 0 else ''}'>{_fmt(d, True)}</td></tr>"
        for ev, m, b, a, d in metrics_table(metrics)
    )
    ret = metrics.get("retention", {})
    banner = ""
    if ret.get("checked"):
        cls, word = ("ok", "kept") if ret["passed"] else ("warn", "LOST")
        banner = (f"<p class='{cls}'>General ability (STSb test Spearman): <b>{word}</b>, moved "
                  f"{-ret['stsb_test_spearman_drop_points']:+.2f} points (tolerance {ret['tolerance_points']}).</p>")
    imgs = ""
    for title, rel in plots.items():
        data = base64.b64encode((Path(run_dir) / rel).read_bytes()).decode()
        imgs += f"<h2>{esc(title)}</h2><img alt='{esc(title)}' src='data:image/png;base64,{data}'/>"
    info = metrics.get("run", {})
    timings = "".join(f"<li>{esc(k)}: {v}</li>" for k, v in metrics.get("timings", {}).items())
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>domaintune report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}td:first-child,td:nth-child(2){{text-align:left}}
.pos{{color:#080}}.neg{{color:#b00}}.warn{{background:#fdd;padding:8px}}.ok{{background:#dfd;padding:8px}}
img{{max-width:100%}}</style></head><body>
<h1>domaintune report: {esc(str(metrics.get('task', 'similarity')))}</h1>
<p>base model <code>{esc(str(info.get('base_model')))}</code>, loss <code>{esc(str(info.get('loss')))}</code>,
{esc(str(info.get('train_pairs')))} training pairs, recipe hash <code>{esc(str(metrics.get('recipe_hash')))}</code></p>
{banner}<table><tr><th>eval</th><th>metric</th><th>before</th><th>after</th><th>delta</th></tr>{rows}</table>
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


def load_metrics(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "metrics.json").read_text())
