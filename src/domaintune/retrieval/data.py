"""Retrieval data: queries, a corpus and relevance judgments, in the layouts people already have.

- BEIR (also MTEB's retrieval sets): a folder with `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl`
  (`_id`, `text`) and `qrels/<split>.tsv` (`query-id  corpus-id  score`, with a header).
- Tables: queries and corpus as CSV / TSV / JSONL / Parquet with a column mapping (`RetrievalColumns`);
  judgments as a table (query id, document id, relevance) or a TREC qrels file (`qid iter docid rel`,
  whitespace-separated, no header).

Relevance is graded: an integer, 0 meaning "judged, not relevant" (kept for the metrics' denominators: ranx and
nDCG read graded gains; Recall and MRR count relevance >= 1). Every bad row is a one-line error naming the file,
line and column; with `on_bad_rows: skip` it is dropped and counted instead (`RetrievalData.skipped`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from domaintune.core.tables import BadRows, iter_jsonl, read_table
from domaintune.errors import DomaintuneError


@dataclass
class RetrievalColumns:
    """Column names of table layouts (BEIR's names by default)."""

    id: str = "_id"
    text: str = "text"
    title: str = "title"  # corpus only; optional
    query_id: str = "query-id"
    doc_id: str = "corpus-id"
    relevance: str = "score"


@dataclass
class RetrievalData:
    """queries {id: text}, corpus {id: (title, text)}, judgments {split: {query id: {doc id: relevance}}}."""

    queries: dict[str, str]
    corpus: dict[str, tuple[str, str]]
    qrels: dict[str, dict[str, dict[str, int]]]
    source: str
    skipped: dict[str, int] = field(default_factory=dict)  # file -> rows dropped (on_bad_rows: skip)

    def split(self, name: str) -> dict[str, dict[str, int]]:
        if name not in self.qrels:
            raise DomaintuneError(f"{self.source}: no '{name}' judgments; splits here: {', '.join(self.qrels)}")
        return self.qrels[name]

    def document(self, doc_id: str) -> str:
        """The document as it is encoded and indexed: its title, then its text."""
        title, text = self.corpus[doc_id]
        return f"{title}. {text}" if title and text else title or text


class RowErrors:
    """Bad rows of one file: raised at the first (on_bad_rows: error) or counted (skip)."""

    def __init__(self, path: Path, on_bad_rows: str):
        self.bad, self.skip = BadRows(str(path)), on_bad_rows == "skip"

    def __call__(self, line: int, column: str, what: str) -> None:
        if not self.skip:
            raise DomaintuneError(f"{self.bad.path}: line {line}, column '{column}': {what}")
        self.bad.add(line, column, what)


def _rows(path: Path, columns: list[str], optional: tuple[str, ...] = ()):
    """(line, {column: text}) of a JSONL or table file, naming its lines as the file numbers them."""
    if path.suffix.lower() in (".jsonl", ".json") or path.name.lower().endswith(".jsonl.gz"):
        for line, row in iter_jsonl(path):
            missing = [c for c in columns if c not in row and c not in optional]
            if missing:
                raise DomaintuneError(f"{path}: line {line}: no '{missing[0]}' field (expected {', '.join(columns)})")
            yield line, {c: "" if row.get(c) is None else str(row.get(c)) for c in columns}
        return
    df = read_table(path)
    missing = [c for c in columns if c not in df.columns and c not in optional]
    if missing:
        raise DomaintuneError(f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; found "
                              f"{list(df.columns)} (set the column names in the recipe's data.columns)")
    for k, row in enumerate(df.to_dict("records")):
        yield k + 2, {c: str(row.get(c, "")) for c in columns}  # line 1 is the header


def read_texts(path: Path, id_col: str, text_col: str, title_col: str | None, what: str,
               errors: RowErrors) -> dict[str, tuple[str, str]]:
    """{id: (title, text)} of a queries or corpus file; duplicate ids and empty texts are bad rows."""
    path = Path(path)
    if not path.exists():
        raise DomaintuneError(f"{path}: {what} file not found")
    out: dict[str, tuple[str, str]] = {}
    first_line: dict[str, int] = {}
    cols = [id_col, text_col] + ([title_col] if title_col else [])
    for line, row in _rows(path, cols, optional=(title_col,) if title_col else ()):
        key, text, title = row[id_col].strip(), row[text_col].strip(), row.get(title_col, "").strip() if title_col \
            else ""
        if not key:
            errors(line, id_col, "empty id")
        elif key in out:
            errors(line, id_col, f"duplicate id {key!r} (first on line {first_line[key]})")
        elif not text and not title:
            errors(line, text_col, f"empty {what} text for id {key!r}")
        else:
            out[key], first_line[key] = (title, text), line
    if not out:
        raise DomaintuneError(f"{path}: no {what} rows found")
    return out


def read_qrels(path: Path, queries: dict, corpus: dict, columns: RetrievalColumns,
               errors: RowErrors) -> dict[str, dict[str, int]]:
    """{query id: {doc id: relevance}} of a BEIR / table qrels file, or a TREC one (`qid iter docid rel`)."""
    path = Path(path)
    if not path.exists():
        raise DomaintuneError(f"{path}: judgments file not found")
    out: dict[str, dict[str, int]] = {}
    for line, (qid, did, rel, rel_col) in _judgments(path, columns):
        if qid not in queries:
            errors(line, columns.query_id, f"unknown query id {qid!r} (not in the queries file)")
            continue
        if did not in corpus:
            errors(line, columns.doc_id, f"unknown document id {did!r} (not in the corpus)")
            continue
        try:
            value = float(rel)
            if not math.isfinite(value) or value != int(value):
                raise ValueError
        except ValueError:
            errors(line, rel_col, f"relevance {rel!r} is not a whole number (0 = not relevant, 1, 2, ... graded)")
            continue
        out.setdefault(qid, {})[did] = int(value)
    return out


def _judgments(path: Path, columns: RetrievalColumns):
    """(line, (query id, doc id, relevance text, relevance column)) rows; TREC when the first line has 4 fields
    and no header, else a table with a header."""
    first = path.read_text(encoding="utf-8", errors="replace").lstrip().split("\n", 1)[0].split()
    trec = len(first) == 4 and columns.query_id not in first and first[-1].lstrip("-").replace(".", "").isdigit()
    if not trec:
        for line, row in _rows(path, [columns.query_id, columns.doc_id, columns.relevance]):
            yield line, (row[columns.query_id].strip(), row[columns.doc_id].strip(), row[columns.relevance].strip(),
                         columns.relevance)
        return
    for line, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = raw.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise DomaintuneError(f"{path}: line {line}: expected 4 fields 'query-id iteration doc-id relevance' "
                                  f"(TREC qrels), got {len(parts)}")
        yield line, (parts[0], parts[2], parts[3], "relevance (4th field)")


def check_split(name: str, qrels: dict[str, dict[str, int]], path: Path) -> None:
    if not any(rel > 0 for docs in qrels.values() for rel in docs.values()):
        raise DomaintuneError(f"{path}: the '{name}' split has no query with a relevant document (relevance >= 1)")


def load_retrieval(folder: str | Path | None = None, queries: str | Path | None = None,
                   corpus: str | Path | None = None, qrels: dict[str, str | Path] | None = None,
                   columns: RetrievalColumns | None = None, on_bad_rows: str = "error") -> RetrievalData:
    """A BEIR folder, or queries / corpus / {split: judgments} files (tables or TREC qrels)."""
    columns = columns or RetrievalColumns()
    if folder is not None:
        folder = Path(folder)
        if not folder.is_dir():
            raise DomaintuneError(f"{folder}: not a folder (expected BEIR's corpus.jsonl, queries.jsonl, qrels/)")
        queries, corpus = queries or folder / "queries.jsonl", corpus or folder / "corpus.jsonl"
        if qrels is None:
            found = sorted((folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
            if not found:
                raise DomaintuneError(f"{folder}: no judgments (expected qrels/train.tsv, qrels/dev.tsv or "
                                      "qrels/test.tsv)")
            qrels = {p.stem: p for p in found}
    if queries is None or corpus is None or not qrels:
        raise DomaintuneError("retrieval data: give a BEIR folder, or queries, corpus and judgments files")
    skipped = {}
    errs = RowErrors(Path(corpus), on_bad_rows)
    docs = read_texts(Path(corpus), columns.id, columns.text, columns.title, "corpus", errs)
    skipped[str(corpus)] = len(errs.bad)
    errs = RowErrors(Path(queries), on_bad_rows)
    qs = {k: text for k, (_, text) in read_texts(Path(queries), columns.id, columns.text, None, "query",
                                                  errs).items()}
    skipped[str(queries)] = len(errs.bad)
    judged = {}
    for split, path in qrels.items():
        errs = RowErrors(Path(path), on_bad_rows)
        judged[split] = read_qrels(Path(path), qs, docs, columns, errs)
        skipped[str(path)] = len(errs.bad)
        check_split(split, judged[split], Path(path))
    return RetrievalData(qs, docs, judged, str(folder or queries), {k: v for k, v in skipped.items() if v})
