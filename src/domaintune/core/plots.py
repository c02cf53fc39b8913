"""Plots as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from domaintune.core.io import atomic_write_bytes  # noqa: E402


def _save(fig, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


CJK_FONTS = ["Noto Sans CJK JP", "Noto Sans CJK SC", "Source Han Sans", "WenQuanYi Zen Hei", "IPAGothic",
             "Droid Sans Fallback", "AR PL UMing CN"]


def tick_labels(texts: list[str]) -> list[str]:
    """Probe texts as tick labels. matplotlib's bundled DejaVu fonts have no Chinese or Japanese glyphs: when an
    installed font has them it is added as a fallback; otherwise such a label becomes its number and script
    (e.g. "3 [zh/ja text]") and the report lists the texts in full."""
    from matplotlib import font_manager

    def renderable(text: str) -> bool:
        return all(ord(ch) < 0x2E80 for ch in text)  # below the CJK blocks: DejaVu covers Latin, Greek, Cyrillic

    if all(renderable(t) for t in texts):
        return list(texts)
    installed = {f.name for f in font_manager.fontManager.ttflist}
    fallback = [f for f in CJK_FONTS if f in installed]
    if fallback:
        matplotlib.rcParams["font.family"] = ["DejaVu Sans", *fallback]
        return list(texts)
    return [t if renderable(t) else f"{i + 1} [zh/ja text]" for i, t in enumerate(texts)]


def heatmaps(probes: list[str], before: np.ndarray, after: np.ndarray, path: Path) -> Path:
    """Similarity heat-maps of the probe texts, before above after, cells large enough to read the numbers at the
    report's width (about 0.8 inch, 10-point numbers, at 110 dpi)."""
    n = len(probes)
    probes = tick_labels(probes)
    size = max(5.0, 0.8 * n + 2.5)
    fig, axes = plt.subplots(2, 1, figsize=(size + 3, 2 * size + 1), layout="constrained")
    for ax, mat, title in ((axes[0], before, "before"), (axes[1], after, "after")):
        im = ax.imshow(mat, vmin=0, vmax=1, cmap="YlOrRd")
        ax.set_xticks(range(n), probes, rotation=90, fontsize=10)
        ax.set_yticks(range(n), probes, fontsize=10)
        ax.set_title(f"cosine similarity, {title}", fontsize=12)
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=10,
                        color="white" if mat[i, j] > 0.7 else "black")
    fig.colorbar(im, ax=axes, shrink=0.5)
    return _save(fig, path)


def learning_curves(log_history: list[dict], metric_key: str, path: Path) -> Path | None:
    """Training loss and the validation metric against the optimiser step."""
    loss = [(h["step"], h["loss"]) for h in log_history if "loss" in h and "step" in h]
    val = [(h["step"], h[metric_key]) for h in log_history if metric_key in h]
    if not loss and not val:
        return None
    fig, ax1 = plt.subplots(figsize=(7, 4))
    if loss:
        ax1.plot(*zip(*loss, strict=True), color="tab:blue", label="training loss")
    ax1.set_xlabel("step")
    ax1.set_ylabel("training loss", color="tab:blue")
    if val:
        ax2 = ax1.twinx()
        label = "validation " + metric_key.removeprefix("eval_validation_").replace("cosine_", "").replace(
            "_cosine", "")
        ax2.plot(*zip(*val, strict=True), "o-", color="tab:red", label=label)
        ax2.set_ylabel(label, color="tab:red")
    ax1.set_title("learning curves")
    return _save(fig, path)


def confusion_matrix(labels: list[str], matrix: np.ndarray, path: Path, title: str = "confusion matrix") -> Path:
    """Rows: true label; columns: predicted label; cells: counts, shaded by the row's share."""
    n = len(labels)
    size = max(4.0, 0.5 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size), layout="constrained")
    share = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1, None)
    im = ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=90)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.6 else "black")
    fig.colorbar(im, ax=ax, shrink=0.7, label="share of the true label's rows")
    return _save(fig, path)


def bar_chart(names: list[str], series: dict[str, list[float]], path: Path, title: str) -> Path:
    """Grouped bars: one group per name, one bar per series (e.g. accuracy and macro-F1 per strategy)."""
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(names) + 2), 4), layout="constrained")
    width = 0.8 / max(1, len(series))
    for k, (label, values) in enumerate(series.items()):
        xs = np.arange(len(names)) + k * width
        bars = ax.bar(xs, values, width, label=label)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(np.arange(len(names)) + width * (len(series) - 1) / 2, names)
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right")
    ax.set_title(title)
    return _save(fig, path)
