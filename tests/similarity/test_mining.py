"""Hard-negative mining for positive-only pairs: the rows it writes, its embedding cache, its errors, and memory
that grows with the corpus, never with its square."""

from __future__ import annotations

import pandas as pd
import pytest

from domaintune.core.pairs import read_positive_pairs
from domaintune.errors import DomaintuneError
from domaintune.registry import load_recipe
from domaintune.similarity.mining import mine_negatives


@pytest.fixture(scope="module")
def esco_pairs(tiny_taxonomy):
    """alternative label -> preferred label of the tiny taxonomy: positive-only pairs."""
    df = pd.read_csv(tiny_taxonomy, dtype=str, keep_default_na=False)
    rows = [(alt, r.preferred_label) for r in df.itertuples() for alt in r.alt_labels.split("\n") if alt]
    return pd.DataFrame(rows, columns=["text_a", "text_b"])


def mining_config(**kw):
    return load_recipe(None, ["training.loss=in_batch_negatives", *(f"training.mining.{k}={v}" for k, v in
                                                                    kw.items())]).training.mining


def test_mined_rows_hold_other_texts_and_the_embeddings_are_cached(tiny_bert, esco_pairs, tmp_path):
    from domaintune.models import load_sentence_model

    model = load_sentence_model(str(tiny_bert), 24)
    mined = mine_negatives(esco_pairs, model, mining_config(range_min=2, range_max=20, num_negatives=2), tmp_path)
    assert list(mined.columns) == ["text_a", "text_b", "negative"]
    assert 0 < len(mined) <= 2 * len(esco_pairs)  # a pair with no candidate past the margin gets none
    assert set(zip(mined.text_a, mined.text_b, strict=True)) <= set(zip(esco_pairs.text_a, esco_pairs.text_b,
                                                                        strict=True))
    assert (mined["negative"] != mined["text_b"]).all()
    preferred = set(esco_pairs["text_b"])
    assert set(mined["negative"]) <= preferred  # negatives come from the pairs' own positives
    cached = sorted(p.name for p in tmp_path.glob("*.npy"))
    assert any(n.startswith("query_embeddings") for n in cached) and any(n.startswith("corpus") for n in cached)


def test_memory_grows_with_the_corpus_not_its_square(tiny_bert, esco_pairs, tmp_path):
    """The largest similarity matrix mining builds is query_batch_size x corpus: at 4x the corpus it is 4x as
    large (a full query x corpus matrix would be 16x)."""
    from domaintune.models import load_sentence_model

    model = load_sentence_model(str(tiny_bert), 24)
    largest = {}
    similarity = model.similarity

    def recording(a, b):
        largest[size] = max(largest.get(size, 0), a.shape[0] * b.shape[0])
        return similarity(a, b)

    model.similarity = recording
    small = esco_pairs.iloc[:100]
    big = pd.concat([esco_pairs.iloc[:100].assign(text_b=lambda d, k=k: d.text_b + f" {k}") for k in range(4)])
    for size, pairs in (("small", small), ("big", big)):
        mine_negatives(pairs.reset_index(drop=True), model, mining_config(query_batch_size=16, range_min=1,
                                                                          range_max=10), tmp_path / size)
    corpus = {"small": small.text_b.nunique(), "big": big.text_b.nunique()}
    assert corpus["big"] >= 3.5 * corpus["small"]
    assert largest["small"] <= 16 * corpus["small"] and largest["big"] <= 16 * corpus["big"]
    assert largest["big"] / largest["small"] <= 1.1 * corpus["big"] / corpus["small"]  # linear, not quadratic


def test_positive_pairs_are_read_and_bad_files_get_one_line_errors(tmp_path):
    graded = tmp_path / "graded.csv"
    graded.write_text("text_a,text_b,score\nnurse,registered nurse,1.0\ncook,pilot,0.1\n")
    assert read_positive_pairs(graded).values.tolist() == [["nurse", "registered nurse"]]
    none = tmp_path / "none.csv"
    none.write_text("text_a,text_b,score\nnurse,pilot,0.1\ncook,judge,0.0\n")
    with pytest.raises(DomaintuneError, match=r"none.csv: no positive pairs to mine negatives for"):
        read_positive_pairs(none)
    empty = tmp_path / "empty.csv"
    empty.write_text("text_a,text_b\nnurse,registered nurse\n, pilot\n")
    with pytest.raises(DomaintuneError, match=r"empty.csv: row 2, column 'text_a': empty text"):
        read_positive_pairs(empty)
    with pytest.raises(DomaintuneError, match=r"missing column\(s\) 'title'"):
        read_positive_pairs(empty, text_b="title")


def test_cli_writes_a_pairs_file_a_similarity_recipe_trains_on(tiny_bert, esco_pairs, tmp_path):
    from typer.testing import CliRunner

    from domaintune import api
    from domaintune.cli import app

    pairs = tmp_path / "pairs.csv"
    esco_pairs.to_csv(pairs, index=False)
    out = tmp_path / "mined.csv"
    args = ["data", "mine-negatives", str(pairs), "-o", str(out), "--model", str(tiny_bert), "--set", "range_min=1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "mined.embeddings").is_dir() and "positive pairs" in res.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0 and "exists" in str(again.exception)  # never overwritten unless asked

    m = api.train(load_recipe(None, [
        f"model.name={tiny_bert}", "model.max_seq_length=24", f"data.train={out}", "training.loss=in_batch_negatives",
        "training.max_steps=4", "training.eval_steps=4", "training.batch_size=8", "evaluation.stsb=false",
        f"output.dir={tmp_path / 'run'}"]), show_progress=False)
    assert m["training"]["global_step"] == 4


def test_training_mines_with_the_base_model_and_resume_reuses_the_file(tiny_bert, esco_pairs, tmp_path):
    from domaintune import api

    pairs = tmp_path / "pairs.csv"
    esco_pairs.assign(score=1.0).to_csv(pairs, index=False)
    recipe = load_recipe(None, [
        f"model.name={tiny_bert}", "model.max_seq_length=24", f"data.train={pairs}", "training.loss=in_batch_negatives",
        "training.mine_hard_negatives=true", "training.mining.range_min=1", "training.max_steps=4",
        "training.eval_steps=4", "training.batch_size=8", "evaluation.stsb=false", f"output.dir={tmp_path / 'run'}"])
    m = api.train(recipe, show_progress=False)
    mined = pd.read_csv(tmp_path / "run" / "data" / "mined_negatives.csv")
    assert len(mined) > 0 and "negative" in mined.columns
    assert list((tmp_path / "run" / "mining_cache").glob("*.npy")) and "mining" in m["timings"]
    assert "mined" in m["run"]["data"]
    with pytest.raises(DomaintuneError, match="'training.mine_hard_negatives' is for loss in_batch_negatives"):
        load_recipe(None, ["training.mine_hard_negatives=true"])
