"""Labelled texts for classification: (text, labels) rows, validated, with the label set inferred from training.

A label cell holds one label (text or int) or, for multi-label tasks, several: separated by
`data.label_separator` or written as a JSON list (`["sports", "politics"]`). Every problem names the file,
the row (1-based, header not counted) and the column.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from domaintune.core.tables import BadRows, read_table
from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")


def _parse_cell(cell: str, multi_label: bool, separator: str) -> list[str]:
    cell = cell.strip()
    if cell.startswith("[") and cell.endswith("]"):
        try:
            values = json.loads(cell)
        except json.JSONDecodeError:
            values = None
        if isinstance(values, list):
            return [str(v).strip() for v in values if str(v).strip()]
    if multi_label and separator:
        return [p.strip() for p in cell.split(separator) if p.strip()]
    return [cell] if cell else []


def load_labelled(path: str | Path, text: str = "text", label: str = "label", multi_label: bool = False,
                  separator: str = "|", on_bad_rows: str = "error") -> pd.DataFrame:
    """Read a labelled file; return a frame with columns `text` (str) and `labels` (list[str])."""
    path = str(path)
    df = read_table(path)
    missing = [c for c in (text, label) if c not in df.columns]
    if missing:
        raise DomaintuneError(f"{path}: missing column(s) {', '.join(repr(m) for m in missing)}; found "
                              f"{list(df.columns)} (map yours with data.columns.text / label)")
    bad = BadRows(path)
    texts, labels, keep = [], [], []
    for i, (t, cell) in enumerate(zip(df[text], df[label], strict=True)):
        row, ok = i + 1, True
        if not str(t).strip():
            bad.add(row, text, "empty text")
            ok = False
        parsed = _parse_cell(str(cell), multi_label, separator)
        if not parsed:
            bad.add(row, label, "empty label")
            ok = False
        elif not multi_label and (len(parsed) > 1 or (separator and separator in str(cell) and
                                                     not str(cell).strip().startswith("["))):
            bad.add(row, label, f"{str(cell)!r} holds several labels but data.multi_label is false")
            ok = False
        keep.append(ok)
        texts.append(str(t))
        labels.append(sorted(set(parsed)))
    if len(bad):
        hint = " (fix them, or pass --on-bad-rows skip)"
        if on_bad_rows == "error" or all(not k for k in keep):
            raise DomaintuneError(bad.summary() + hint)
        log.warning("skipping %s", bad.summary(limit=5))
    out = pd.DataFrame({"text": texts, "labels": labels})[np.array(keep)].reset_index(drop=True)
    out.attrs["path"] = path
    out.attrs["label_column"] = label
    return out


def labelled_reader(d):
    """load_labelled with a recipe data section's column mapping, multi-label setting and bad-row policy."""
    return lambda path: load_labelled(path, d.columns.text, d.columns.label, d.multi_label, d.label_separator,
                                      d.on_bad_rows)


def infer_label_set(df: pd.DataFrame) -> list[str]:
    """Sorted label names (numerically when every label is an integer)."""
    names = {lab for labs in df["labels"] for lab in labs}
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def check_label_set(train: pd.DataFrame, labels: list[str], multi_label: bool) -> None:
    path = train.attrs.get("path", "training data")
    if len(labels) < 2 and not multi_label:
        raise DomaintuneError(f"{path}: column '{train.attrs.get('label_column', 'label')}' holds one class only "
                              f"({labels[0]!r}); a classifier needs at least two")


def check_known_labels(df: pd.DataFrame, labels: list[str], what: str) -> None:
    """Eval and predict data may only use labels seen in training: name the first rows that do not."""
    known = set(labels)
    unknown = [(i + 1, lab) for i, labs in enumerate(df["labels"]) for lab in labs if lab not in known]
    if unknown:
        shown = "; ".join(f"row {r}: {lab!r}" for r, lab in unknown[:3])
        more = f"; and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise DomaintuneError(
            f"{df.attrs.get('path', what)}: column '{df.attrs.get('label_column', 'label')}': label(s) not seen in "
            f"training: {shown}{more} (training labels: {', '.join(labels[:20])})")


def encode_labels(df: pd.DataFrame, labels: list[str], multi_label: bool) -> np.ndarray:
    """Single-label: int class ids (n,). Multi-label: a 0/1 float matrix (n, classes)."""
    index = {lab: i for i, lab in enumerate(labels)}
    if not multi_label:
        return np.array([index[labs[0]] for labs in df["labels"]], dtype=np.int64)
    y = np.zeros((len(df), len(labels)), dtype=np.float32)
    for r, labs in enumerate(df["labels"]):
        for lab in labs:
            y[r, index[lab]] = 1.0
    return y


def _strata(df: pd.DataFrame) -> pd.Series | None:
    """Stratify on the (sorted) label combination; rare combinations fall back to their first label."""
    key = df["labels"].map(lambda labs: "|".join(labs))
    counts = key.value_counts()
    key = key.where(key.map(counts) >= 2, df["labels"].map(lambda labs: labs[0]))
    counts = key.value_counts()
    return key if counts.min() >= 2 else None


def stratified_indices(df: pd.DataFrame, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (kept, split off): a seeded split keeping each class's share (random when too rare)."""
    from sklearn.model_selection import train_test_split

    n_val = max(1, int(round(len(df) * fraction)))
    strata = _strata(df)
    if strata is not None and (n_val < strata.nunique() or len(df) - n_val < strata.nunique()):
        strata = None
    return train_test_split(np.arange(len(df)), test_size=n_val, random_state=seed, stratify=strata)


def _rows(df: pd.DataFrame, idx: np.ndarray) -> pd.DataFrame:
    part = df.iloc[np.sort(idx)].reset_index(drop=True)
    part.attrs.update(df.attrs)
    return part


def stratified_split(df: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, validation), stratified and seeded."""
    keep, val = stratified_indices(df, fraction, seed)
    return _rows(df, keep), _rows(df, val)


def read_training_file(d):
    """(the training file's rows, its sorted labels, the reader for the other files) of a labelled-data section
    (classification and few-shot): a one-line error for a missing file setting or a file of one class."""
    if d.train is None:
        raise DomaintuneError("recipe: set data.train (a labelled file with columns "
                              f"'{d.columns.text}' and '{d.columns.label}')")
    read = labelled_reader(d)
    train = read(d.train)
    labels = infer_label_set(train)
    check_label_set(train, labels, d.multi_label)
    return train, labels, read


def split_keeping_classes(df: pd.DataFrame, labels: list[str], fraction: float, seed: int,
                          held_out: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`stratified_split`, then a true one-line error when a class has no example left to train on: the split
    (`held_out`, e.g. "the validation split (data.validation_fraction)") took the only example(s) it had."""
    keep, off = stratified_split(df, fraction, seed)
    left = {lab for labs in keep["labels"] for lab in labs}
    lost = [lab for lab in labels if lab not in left]
    if lost:
        n = sum(lost[0] in labs for labs in df["labels"])
        raise DomaintuneError(
            f"{df.attrs.get('path', 'training data')}: column '{df.attrs.get('label_column', 'label')}': class "
            f"{lost[0]!r} has {n} example{'s' if n != 1 else ''}, and {held_out} took "
            f"{'it' if n == 1 else 'them all'}, leaving none to train on; give each class at least 2 examples, "
            "or a separate file for that split")
    return keep, off


def stratified_sample(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """At most n rows, class shares kept."""
    if not n or len(df) <= n:
        return df
    return _rows(df, stratified_indices(df, n / len(df), seed)[1])
