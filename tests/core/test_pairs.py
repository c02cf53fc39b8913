import json

import numpy as np
import pandas as pd
import pytest

from domaintune.core.pairs import load_pairs, split_validation
from domaintune.errors import DomaintuneError

ROWS = {"text_a": ["a cat", "a dog", "a car"], "text_b": ["the cat", "a puppy", "a bus"], "score": ["5", "4.2", "0"]}


def write(tmp_path, fmt, rows=ROWS):
    df = pd.DataFrame(rows)
    if fmt == "csv":
        p = tmp_path / "p.csv"
        df.to_csv(p, index=False)
    elif fmt == "tsv":
        p = tmp_path / "p.tsv"
        df.to_csv(p, sep="\t", index=False)
    elif fmt == "jsonl":
        p = tmp_path / "p.jsonl"
        p.write_text("\n".join(json.dumps(r) for r in df.to_dict("records")))
    elif fmt == "parquet":
        p = tmp_path / "p.parquet"
        df.to_parquet(p)
    else:
        from datasets import Dataset

        p = tmp_path / "ds"
        Dataset.from_pandas(df).save_to_disk(str(p))
    return p


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet", "datasets"])
def test_every_format_reads_and_normalises(tmp_path, fmt):
    df, bad = load_pairs(write(tmp_path, fmt))
    assert list(df.columns) == ["text_a", "text_b", "score"]
    np.testing.assert_allclose(df.score, [1.0, 0.84, 0.0], rtol=1e-6)  # 0-5 inferred
    assert len(bad) == 0


def test_column_mapping_and_ranges(tmp_path):
    p = tmp_path / "m.csv"
    pd.DataFrame({"q": ["x", "y"], "d": ["u", "v"], "label": ["-1", "0.5"]}).to_csv(p, index=False)
    df, _ = load_pairs(p, text_a="q", text_b="d", score="label")
    np.testing.assert_allclose(df.score, [0.0, 0.75])
    df, _ = load_pairs(p, text_a="q", text_b="d", score="label", score_range="-1-1")
    np.testing.assert_allclose(df.score, [0.0, 0.75])


def test_missing_column(tmp_path):
    p = tmp_path / "nos.csv"
    pd.DataFrame({"text_a": ["x"], "text_b": ["y"]}).to_csv(p, index=False)
    with pytest.raises(DomaintuneError, match=r"nos.csv: missing column\(s\) 'score'"):
        load_pairs(p)


@pytest.mark.parametrize("value,what", [("abc", "'abc' is not a number"), ("nan", "not a finite number"),
                                        ("7", "outside the range 0-5")])
def test_bad_scores_name_file_row_column(tmp_path, value, what):
    rows = {k: list(v) for k, v in ROWS.items()}
    rows["score"][1] = value
    if value == "7":
        rows["score"] = ["5", "7", "0"]
    p = write(tmp_path, "csv", rows)
    with pytest.raises(DomaintuneError) as e:
        load_pairs(p, score_range="0-5")
    msg = str(e.value)
    assert "p.csv" in msg and "row 2" in msg and "column 'score'" in msg and what in msg


def test_empty_text(tmp_path):
    rows = {k: list(v) for k, v in ROWS.items()}
    rows["text_b"][2] = "  "
    with pytest.raises(DomaintuneError, match=r"row 3, column 'text_b': empty text"):
        load_pairs(write(tmp_path, "csv", rows))


def test_skip_reports_and_drops(tmp_path, caplog):
    rows = {k: list(v) for k, v in ROWS.items()}
    rows["score"][0] = "abc"
    df, bad = load_pairs(write(tmp_path, "csv", rows), on_bad_rows="skip")
    assert len(df) == 2 and len(bad) == 1
    assert "1 bad row(s)" in caplog.text


def test_non_utf8(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("text_a,text_b,score\ncaf\xe9,tea,1\n".encode("latin-1"))
    with pytest.raises(DomaintuneError, match=r"latin.csv: line 2 is not valid UTF-8"):
        load_pairs(p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(DomaintuneError, match="empty"):
        load_pairs(p)


def test_split_is_seeded_and_disjoint():
    df = pd.DataFrame({"text_a": [str(i) for i in range(100)], "text_b": ["x"] * 100, "score": [0.5] * 100})
    tr1, va1 = split_validation(df, 0.2, 1)
    tr2, va2 = split_validation(df, 0.2, 1)
    assert va1.equals(va2) and len(va1) == 20 and not set(tr1.text_a) & set(va1.text_a)
