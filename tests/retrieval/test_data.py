"""Retrieval data in BEIR, table and TREC layouts; every bad input is one line naming file, line and column."""

from __future__ import annotations

import json
import shutil

import pytest

from domaintune.errors import DomaintuneError
from domaintune.retrieval.data import RetrievalColumns, load_retrieval


def test_a_beir_folder_reads_with_titles_and_graded_splits(beir):
    data = load_retrieval(beir)
    assert set(data.qrels) == {"train", "test"} and len(data.corpus) == 40 and len(data.queries) == 40
    assert data.split("test")["q0"] == {"d0": 1}
    title, text = data.corpus["d0"]
    assert data.document("d0") == f"{title}. {text}"
    with pytest.raises(DomaintuneError, match="no 'dev' judgments; splits here: "):
        data.split("dev")


def test_tables_with_a_column_mapping_and_trec_qrels(beir, tmp_path):
    import pandas as pd

    corpus = pd.read_json(beir / "corpus.jsonl", lines=True, dtype=str).rename(columns={"_id": "doc", "text": "body"})
    queries = pd.read_json(beir / "queries.jsonl", lines=True, dtype=str).rename(columns={"_id": "doc",
                                                                                          "text": "body"})
    corpus.to_csv(tmp_path / "corpus.csv", index=False)
    queries.to_parquet(tmp_path / "queries.parquet")
    rows = [line.split("\t") for line in (beir / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    (tmp_path / "test.qrels").write_text("".join(f"{q} 0 {d} {int(s) + 1}\n" for q, d, s in rows))  # graded 2
    data = load_retrieval(queries=tmp_path / "queries.parquet", corpus=tmp_path / "corpus.csv",
                          qrels={"test": tmp_path / "test.qrels"}, columns=RetrievalColumns(id="doc", text="body"))
    assert data.split("test")["q0"] == {"d0": 2} and data.corpus["d0"][0] == load_retrieval(beir).corpus["d0"][0]


def copy(beir, tmp_path):
    return shutil.copytree(beir, tmp_path / "set")


def append(path, line):
    path.write_text(path.read_text() + line)


@pytest.mark.parametrize("case,needle", [
    ("unknown query", "test.tsv: line 12, column 'query-id': unknown query id 'nope'"),
    ("unknown document", "test.tsv: line 12, column 'corpus-id': unknown document id 'nope'"),
    ("duplicate id", "corpus.jsonl: line 41, column '_id': duplicate id 'd3' (first on line 4)"),
    ("empty corpus", "corpus.jsonl: no corpus rows found"),
    ("no relevant", "test.tsv: the 'test' split has no query with a relevant document"),
    ("non-numeric relevance", "test.tsv: line 12, column 'score': relevance 'high' is not a whole number"),
])
def test_each_bad_input_is_one_line_naming_the_place(beir, tmp_path, case, needle):
    folder = copy(beir, tmp_path)
    test = folder / "qrels" / "test.tsv"
    if case == "unknown query":
        append(test, "nope\td1\t1\n")
    elif case == "unknown document":
        append(test, "q1\tnope\t1\n")
    elif case == "duplicate id":
        append(folder / "corpus.jsonl", json.dumps({"_id": "d3", "title": "x", "text": "y"}) + "\n")
    elif case == "empty corpus":
        (folder / "corpus.jsonl").write_text("\n")
    elif case == "no relevant":
        test.write_text("query-id\tcorpus-id\tscore\nq0\td0\t0\n")
    else:
        append(test, "q1\td1\thigh\n")
    with pytest.raises(DomaintuneError) as e:
        load_retrieval(folder)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_skip_drops_and_counts_bad_rows(beir, tmp_path):
    folder = copy(beir, tmp_path)
    append(folder / "qrels" / "test.tsv", "nope\td1\t1\nq1\tnope\t1\n")
    data = load_retrieval(folder, on_bad_rows="skip")
    assert data.skipped == {str(folder / "qrels" / "test.tsv"): 2} and len(data.split("test")) == 10
