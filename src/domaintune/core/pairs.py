"""Graded pairs: (text_a, text_b, score) rows, validated and normalised to scores in 0-1 (similarity and reranker
training, domain test pairs)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from domaintune.core.tables import BadRows, read_table
from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")

RANGES = {"0-1": (0.0, 1.0), "0-5": (0.0, 5.0), "-1-1": (-1.0, 1.0)}




def infer_score_range(scores: np.ndarray, path: str) -> str:
    lo, hi = float(np.min(scores)), float(np.max(scores))
    if lo >= 0 and hi <= 1:
        return "0-1"
    if lo >= -1 and hi <= 1:
        return "-1-1"
    if lo >= 0 and hi <= 5:
        return "0-5"
    raise DomaintuneError(
        f"{path}: scores run from {lo} to {hi}; expected 0-1, 0-5 or -1-1 (set data.score_range)"
    )


def normalise_scores(scores: np.ndarray, score_range: str) -> np.ndarray:
    lo, hi = RANGES[score_range]
    return (scores - lo) / (hi - lo)


def parse_rows(df: pd.DataFrame, text_a: str, text_b: str, score: str, bad: BadRows) -> tuple[np.ndarray, np.ndarray]:
    """(scores, usable) per row: empty texts and non-numeric or non-finite scores are recorded in `bad`."""
    values = np.full(len(df), np.nan)
    keep = np.ones(len(df), dtype=bool)
    for i, (a, b, s) in enumerate(zip(df[text_a], df[text_b], df[score], strict=True)):
        row = i + 1
        for col, text in ((text_a, a), (text_b, b)):
            if not str(text).strip():
                bad.add(row, col, "empty text")
                keep[i] = False
        try:
            v = float(s)
        except (TypeError, ValueError):
            bad.add(row, score, f"{s!r} is not a number")
            keep[i] = False
            continue
        if math.isnan(v) or math.isinf(v):
            bad.add(row, score, f"{s!r} is not a finite number")
            keep[i] = False
            continue
        values[i] = v
    return values, keep


def load_pairs(
    path: str | Path,
    text_a: str = "text_a",
    text_b: str = "text_b",
    score: str = "score",
    score_range: str = "auto",
    on_bad_rows: str = "error",
    fmt: str = "auto",
) -> tuple[pd.DataFrame, BadRows]:
    """Read pairs; return a frame with columns text_a, text_b, score (0-1) and the bad rows found.

    Rows are numbered from 1, header not counted. With on_bad_rows='error' any bad row stops the run
    with a one-line error naming file, row and column; with 'skip' they are dropped and reported. A `negative`
    column (a hard negative per row, for in_batch_negatives) is kept.
    """
    path = str(path)
    df = read_table(path, fmt)
    missing = [c for c in (text_a, text_b, score) if c not in df.columns]
    if missing:
        raise DomaintuneError(
            f"{path}: missing column(s) {', '.join(repr(m) for m in missing)}; found {list(df.columns)} "
            "(map yours with data.columns.text_a / text_b / score)"
        )
    bad = BadRows(path)
    values, keep = parse_rows(df, text_a, text_b, score, bad)
    if score_range == "auto":
        ok = values[keep]
        if len(ok) == 0:
            raise DomaintuneError(bad.summary() + " (fix them, or pass --on-bad-rows skip)" if len(bad)
                                  else f"{path}: no usable rows")
        score_range = infer_score_range(ok, path)
    lo, hi = RANGES[score_range]
    for i in np.where(keep)[0]:
        if not lo <= values[i] <= hi:
            bad.add(int(i) + 1, score, f"{values[i]} is outside the range {score_range}")
            keep[i] = False
    if len(bad):
        if on_bad_rows == "error":
            raise DomaintuneError(bad.summary() + " (fix them, or pass --on-bad-rows skip)")
        log.warning("skipping %s", bad.summary(limit=5))
    out = pd.DataFrame(
        {
            "text_a": df[text_a][keep].astype(str).str.strip().to_numpy(),
            "text_b": df[text_b][keep].astype(str).str.strip().to_numpy(),
            "score": normalise_scores(values[keep], score_range).astype(np.float32),
        }
    )
    if "negative" in df.columns:  # (anchor, positive, negative) rows, e.g. from `domaintune data mine-negatives`
        out["negative"] = df["negative"][keep].astype(str).str.strip().to_numpy()
    if len(out) == 0:
        raise DomaintuneError(f"{path}: no usable rows left after skipping bad ones")
    return out, bad


def split_validation(df: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random split with a seed; returns (train, validation)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(df))
    n_val = max(1, int(round(len(df) * fraction))) if fraction > 0 else 0
    return df.iloc[order[n_val:]].reset_index(drop=True), df.iloc[order[:n_val]].reset_index(drop=True)


def read_positive_pairs(path: str | Path, text_a: str = "text_a", text_b: str = "text_b", score: str = "score",
                        min_score: float = 0.8) -> pd.DataFrame:
    """(text_a, text_b) positive pairs: every row of a two-column file, or the rows scoring at least `min_score`
    (0-1 scale) when the file has a score column. Bad rows are one-line errors naming file, row and column."""
    df = read_table(str(path))
    missing = [c for c in (text_a, text_b) if c not in df.columns]
    if missing:
        raise DomaintuneError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; found {list(df.columns)} "
                              "(name them with --text-a / --text-b)")
    if score in df.columns:
        pairs = load_pairs(path, text_a, text_b, score)[0]
        pairs = pairs[pairs["score"] >= min_score - 1e-6]
    else:
        for col in (text_a, text_b):
            empty = [i + 1 for i, t in enumerate(df[col]) if not str(t).strip()]
            if empty:
                raise DomaintuneError(f"{path}: row {empty[0]}, column '{col}': empty text")
        pairs = pd.DataFrame({"text_a": df[text_a].astype(str).str.strip(),
                              "text_b": df[text_b].astype(str).str.strip()})
    if len(pairs) == 0:
        raise DomaintuneError(f"{path}: no positive pairs to mine negatives for (rows with score >= {min_score})")
    return pairs[["text_a", "text_b"]].reset_index(drop=True)
