"""`domaintune evaluate MODEL --retrieval DIR`: BM25, the model and the hybrid in one table, JSON output that is
never written over, and bad data as one line with exit code 2."""

from __future__ import annotations

import json

import pytest

from domaintune import api
from domaintune.errors import DomaintuneError
from tests.test_cli import assert_one_line_error, cli


def test_evaluate_prints_bm25_model_and_hybrid_rows_and_writes_json(beir, tiny_bert, tmp_path):
    out = tmp_path / "table.json"
    res = cli("evaluate", tiny_bert, "--retrieval", beir, "--split", "test", "--max-length", "32", "--output", out)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "bm25" in res.stdout and "hybrid (bm25 +" in res.stdout and "ndcg@10" in res.stdout
    table = json.loads(out.read_text())
    assert table["split"] == "test" and table["queries"] == 10 and table["documents"] == 40
    assert set(table["systems"]) == {"bm25", str(tiny_bert), f"hybrid (bm25 + {tiny_bert})"}
    for row in table["systems"].values():
        assert set(row) == {"ndcg@10", "map@100", "mrr@10", "recall@10", "recall@100", "seconds", "query_ms"}
        assert all(0 <= row[m] <= 1 for m in row if m not in ("seconds", "query_ms"))
    with pytest.raises(DomaintuneError, match="exists; pass --overwrite"):  # the same check, in process
        api.evaluate_retrieval(str(tiny_bert), beir, output=out)


def test_evaluate_compares_a_tuned_model_with_its_base_in_one_table(beir, tiny_bert, tmp_path):
    import shutil

    tuned = shutil.copytree(tiny_bert, tmp_path / "tuned")  # another folder: a second model row (same weights)
    table = api.evaluate_retrieval(str(tuned), beir, max_length=32, compare=[str(tiny_bert)])
    assert list(table) == ["bm25", str(tiny_bert), f"hybrid (bm25 + {tiny_bert})", str(tuned),
                           f"hybrid (bm25 + {tuned})"]
    assert table[str(tuned)]["ndcg@10"] == pytest.approx(table[str(tiny_bert)]["ndcg@10"], abs=1e-6)


def test_bad_retrieval_data_is_one_line_with_exit_2(beir, tiny_bert, tmp_path):
    import shutil

    folder = shutil.copytree(beir, tmp_path / "set")
    qrels = folder / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text() + "q1\td1\thigh\n")
    assert_one_line_error(cli("evaluate", tiny_bert, "--retrieval", folder), "test.tsv", "line 12",
                          "column 'score'", "not a whole number")
    with pytest.raises(DomaintuneError, match="no 'dev' judgments"):
        api.evaluate_retrieval(str(tiny_bert), beir, split="dev")
