"""`domaintune predict` for a tagger: entity spans with character offsets, one JSON record per input row.

No torch at import: an exported tagger (deploy/runtime.py) predicts through onnxruntime or OpenVINO.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from domaintune.errors import DomaintuneError

PREDICTIONS_SUFFIX = ".jsonl"  # `domaintune predict` writes entity spans as JSON lines


def predict_file(tagger, input: str | Path, output: str | Path | None = None, column: str = "text",
                 batch_size: int = 64):
    """Entity spans with character offsets, one record per input row (JSONL), from a loaded tagger."""
    from domaintune.classification.predict import read_rows

    if output is not None and Path(output).exists():
        raise DomaintuneError(f"{output}: exists; predictions never replace a file (choose another --output)")
    texts, status = read_rows(Path(input), column)
    ok = [i for i, (tx, s) in enumerate(zip(texts, status, strict=True)) if s == "ok" and tx.strip()]
    spans = dict(zip(ok, tagger.predict_spans([texts[i] for i in ok], batch_size), strict=True))
    records = [{"row": i + 1, "text": tx, "status": "ok" if i in spans else (s if s != "ok" else "empty"),
                "entities": spans.get(i, [])} for i, (tx, s) in enumerate(zip(texts, status, strict=True))]
    if output is not None:
        from domaintune.core.io import atomic_write_text

        atomic_write_text(Path(output), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return pd.DataFrame(records)
