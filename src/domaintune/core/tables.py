"""Read a table from CSV, TSV, JSONL, Parquet or a saved `datasets` folder into a pandas DataFrame.

Every cell is read as text (dtype=str), so that validation can say exactly which cell is wrong.
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from domaintune.errors import DomaintuneError

FORMATS = ("csv", "tsv", "jsonl", "parquet", "datasets")


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "datasets"
    name = path.name.lower().removesuffix(".gz")
    for suffix, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".jsonl", "jsonl"), (".json", "jsonl"),
                        (".parquet", "parquet"), (".pq", "parquet")):
        if name.endswith(suffix):
            return fmt
    raise DomaintuneError(f"{path}: unknown file type; expected .csv, .tsv, .jsonl, .parquet or a datasets folder")


def _first_undecodable_line(path: Path) -> tuple[int, int] | None:
    """(line number, byte offset in line) of the first line that is not UTF-8, or None."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return lineno, e.start
    return None


def iter_jsonl(path: Path):
    """(line number, JSON object) for each non-blank line. Read line by line (not pandas.read_json) so that a
    malformed line is named by its line number rather than a character position in the whole file."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            lines = list(f)
    except UnicodeDecodeError as e:
        raise DomaintuneError(f"{path}: not valid UTF-8 (byte {e.start}); save the file as UTF-8") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.strip())
        except json.JSONDecodeError as e:
            raise DomaintuneError(f"{path}: line {lineno} is not valid JSON ({e.msg}, column {e.colno})") from None
        if not isinstance(row, dict):
            raise DomaintuneError(f"{path}: line {lineno}: expected a JSON object {{\"column\": value, ...}}, "
                                  f"got {type(row).__name__}")
        yield lineno, row


def read_jsonl(path: Path) -> pd.DataFrame:
    """A JSON-lines table; every cell as text (lists and objects as JSON)."""
    df = pd.DataFrame([row for _, row in iter_jsonl(path)], dtype=object)
    return df.where(df.notna(), None).map(lambda v: "" if v is None else v if isinstance(v, str) else
                                          json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else str(v))


def read_table(path: str | Path, fmt: str = "auto") -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DomaintuneError(f"{path}: file not found")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise DomaintuneError(f"{path}: format '{fmt}' unknown; expected one of {', '.join(FORMATS)}")
    if fmt in ("csv", "tsv", "jsonl"):
        bad = _first_undecodable_line(path)
        if bad is not None:
            raise DomaintuneError(
                f"{path}: line {bad[0]} is not valid UTF-8 (byte {bad[1]} of that line); "
                "save the file as UTF-8"
            )
    try:
        if fmt == "csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
        elif fmt == "tsv":
            df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_filter=False,
                             quoting=csv.QUOTE_NONE)
        elif fmt == "jsonl":
            df = read_jsonl(path)
        elif fmt == "parquet":
            df = pd.read_parquet(path)
            df = df.astype(object).where(df.notna(), None).map(lambda v: "" if v is None else str(v))
        else:
            from datasets import load_from_disk

            ds = load_from_disk(str(path))
            if hasattr(ds, "keys") and not hasattr(ds, "column_names") or isinstance(ds.column_names, dict):
                raise DomaintuneError(
                    f"{path}: is a DatasetDict with splits {list(ds.keys())}; point at one split folder"
                )
            df = ds.to_pandas()
            df = df.astype(object).where(df.notna(), None).map(lambda v: "" if v is None else str(v))
    except DomaintuneError:
        raise
    except pd.errors.EmptyDataError:
        raise DomaintuneError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError) as e:
        raise DomaintuneError(f"{path}: cannot be read as {fmt}: {str(e).splitlines()[0]}") from None
    if len(df) == 0:
        raise DomaintuneError(f"{path}: the file has a header but no rows")
    df.columns = [str(c) for c in df.columns]
    return df


@dataclass
class BadRows:
    """Row-level problems of one file: what was wrong where, and how often."""

    path: str
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, what)

    def add(self, row: int, column: str, what: str) -> None:
        self.problems.append((row, column, what))

    def __len__(self) -> int:
        return len({r for r, _, _ in self.problems})

    def summary(self, limit: int = 3) -> str:
        shown = "; ".join(f"row {r}, column '{c}': {w}" for r, c, w in self.problems[:limit])
        more = f"; and {len(self.problems) - limit} more" if len(self.problems) > limit else ""
        return f"{self.path}: {len(self)} bad row(s): {shown}{more}"
