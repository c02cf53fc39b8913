"""Raw domain text for continued pretraining: documents from plain text files (one per line, or separated by
blank lines), a folder of .txt files, or a column of a CSV / TSV / JSONL / Parquet table.
"""

from __future__ import annotations

from pathlib import Path

from domaintune.errors import DomaintuneError

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".pq", ".gz")


def _read_text_file(path: Path, split: str) -> list[str]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise DomaintuneError(f"{path}: line {line} is not valid UTF-8; save the file as UTF-8") from None
    if split == "blank_line":
        docs = [" ".join(block.split()) for block in text.replace("\r\n", "\n").split("\n\n")]
    else:
        docs = [ln.strip() for ln in text.splitlines()]
    return [d for d in docs if d]


def read_documents(path: str | Path, column: str = "text", split: str = "line") -> list[str]:
    """Every non-empty document, in file order."""
    path = Path(path)
    if not path.exists():
        raise DomaintuneError(f"{path}: file or folder not found")
    if path.is_dir() and not (path / "dataset_info.json").exists():
        files = sorted(path.rglob("*.txt"))
        if not files:
            raise DomaintuneError(f"{path}: a folder of domain text needs .txt files; none found")
        return [d for f in files for d in _read_text_file(f, split)]
    if path.suffix.lower() == ".txt":
        docs = _read_text_file(path, split)
    else:
        from domaintune.core.tables import read_table

        df = read_table(path)
        if column not in df.columns:
            raise DomaintuneError(f"{path}: no column '{column}'; found {list(df.columns)} (set data.column)")
        docs = [str(t).strip() for t in df[column] if str(t).strip()]
    if not docs:
        raise DomaintuneError(f"{path}: no text found")
    return docs
