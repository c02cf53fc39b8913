"""`domaintune predict` and `domaintune merge-adapter`.

No torch at import: an exported classifier (deploy/runtime.py) predicts through onnxruntime or OpenVINO.
Prediction handles each row on its own: an empty text, an undecodable line or a text longer than the model's
maximum gets a status (empty / undecodable / truncated) and the batch goes on. Output files are never
overwritten.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from domaintune.core.io import atomic_write_bytes, atomic_write_text, save_folder_atomically
from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")
PREDICTIONS_SUFFIX = ".csv"  # `domaintune predict` writes one row per input row: labels and every probability


def read_rows(path: Path, column: str) -> tuple[list[str], list[str]]:
    """(texts, status) per row; undecodable bytes mark the row instead of failing the file."""
    from domaintune.core.tables import detect_format, read_table

    if not path.exists():
        raise DomaintuneError(f"{path}: file not found")
    if path.suffix.lower() == ".txt":
        texts, status = [], []
        for raw in path.read_bytes().splitlines():
            try:
                texts.append(raw.decode("utf-8"))
                status.append("ok")
            except UnicodeDecodeError:
                texts.append("")
                status.append("undecodable")
        return texts, status
    fmt = detect_format(path)
    if fmt in ("csv", "tsv", "jsonl") and not path.name.endswith(".gz"):
        text = path.read_bytes().decode("utf-8", errors="replace")  # U+FFFD marks the undecodable rows
        buf = io.StringIO(text)
        try:
            if fmt == "jsonl":
                df = pd.read_json(buf, lines=True, dtype=False)
            else:
                df = pd.read_csv(buf, sep="," if fmt == "csv" else "\t", dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
            raise DomaintuneError(f"{path}: cannot be read as {fmt}: {str(e).splitlines()[0]}") from None
    else:
        df = read_table(path)
    if column not in df.columns:
        raise DomaintuneError(f"{path}: no column '{column}'; found {list(df.columns)} (use --column)")
    texts = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in df[column]]
    status = ["undecodable" if "\ufffd" in t else "ok" for t in texts]
    return texts, status


def predict_file(clf, input: str | Path, output: str | Path | None = None, column: str = "text",
                 batch_size: int = 64) -> pd.DataFrame:
    """Labels and class probabilities per input row, from a loaded classifier (torch or exported)."""
    input = Path(input)
    if output is not None and Path(output).exists():
        raise DomaintuneError(f"{output}: exists; predictions never replace a file (choose another --output)")
    texts, status = read_rows(input, column)
    status = ["empty" if s == "ok" and not t.strip() else s for t, s in zip(texts, status, strict=True)]
    todo = [i for i, s in enumerate(status) if s == "ok"]
    probs = np.full((len(texts), len(clf.labels)), np.nan, dtype=np.float32)
    if todo:
        p, truncated = clf.predict_proba([texts[i] for i in todo], batch_size)
        probs[todo] = p
        for i, cut in zip(todo, truncated, strict=True):
            if cut:
                status[i] = "truncated"
    decided = clf.decide(np.nan_to_num(probs))
    out = pd.DataFrame({"row": np.arange(1, len(texts) + 1), "text": texts, "status": status,
                        "label": ["|".join(d) if s in ("ok", "truncated") else "" for d, s in
                                  zip(decided, status, strict=True)]})
    for k, lab in enumerate(clf.labels):
        out[f"prob_{lab}"] = probs[:, k]
    counts = pd.Series(status).value_counts().to_dict()
    log.info("predicted %d rows: %s", len(out), ", ".join(f"{k} {v}" for k, v in counts.items()))
    if output is not None:
        write_table(Path(output), out)
    return out


def write_table(path: Path, df: pd.DataFrame) -> None:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        atomic_write_text(path, df.to_csv(index=False))
    elif suffix == ".jsonl":
        atomic_write_text(path, df.to_json(orient="records", lines=True, force_ascii=False))
    elif suffix == ".parquet":
        buf = io.BytesIO()
        df.to_parquet(buf)
        atomic_write_bytes(path, buf.getvalue())
    else:
        raise DomaintuneError(f"{path}: output must end in .csv, .jsonl or .parquet")


def merge_adapter(model: Path, output: Path) -> Path:
    """Fold an adapter (LoRA, LoHa, LoKr, IA3) into its encoder: a `full` classifier folder (standard encoder
    folder + head)."""
    from domaintune.classification.loading import load_classifier

    clf = load_classifier(model)
    if clf.strategy in ("frozen", "full"):
        raise DomaintuneError(f"{model}: strategy '{clf.strategy}' has no adapter to merge")
    if output.exists():
        raise DomaintuneError(f"{output}: exists; choose another output folder")
    clf.model = clf.model.merge_and_unload()
    kept = {k: v for k, v in clf.head_config.items() if k == "sequence_head"}
    clf.strategy, clf.base = "full", {}
    clf.head_config = {**kept, "merged_from": clf.head_config.get("peft", "adapter"), "adapter": str(model)}
    save_folder_atomically(output, clf.save)
    return output
