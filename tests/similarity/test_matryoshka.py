"""Matryoshka (training.matryoshka_dims): the loss is wrapped, the run is evaluated at each dimension, the saved
model and its export say which dimensions they were trained for, and `dimensions` is honoured for them and
refused, with one line, for a model that was not trained for it (embed; the server: tests/deploy)."""

from __future__ import annotations

import numpy as np
import pytest

from domaintune import api, registry
from domaintune.core.dimensions import check_dimensions, cut_embeddings
from domaintune.embedding.matryoshka import MARKER, read_dims
from domaintune.errors import DomaintuneError
from tests.similarity.test_end_to_end import tiny_recipe
from tests.test_cli import assert_one_line_error, cli


@pytest.fixture(scope="module")
def matryoshka_run(tiny_bert, tiny_taxonomy, tmp_path_factory):
    out = tmp_path_factory.mktemp("matryoshka") / "run"
    metrics = api.train(tiny_recipe(tiny_bert, tiny_taxonomy, out, **{"training.matryoshka_dims": "[16, 8]",
                                                                      "training.epochs": 1}), show_progress=False)
    return out, metrics


def test_the_run_is_evaluated_at_each_dimension_and_the_model_says_which(matryoshka_run):
    out, m = matryoshka_run
    for side in ("before", "after"):
        for name in ("stsb_test", "retrieval"):
            assert {f"{name}@16d", f"{name}@8d"} <= set(m[side]) and name in m[side]
    assert m["after"]["retrieval@8d"] != m["after"]["retrieval"]  # a real evaluation at 8 numbers, not a copy
    assert read_dims(out / "model") == [32, 16, 8]
    assert "retrieval@8d" in (out / "report.md").read_text()
    predictor = registry.load_model(out / "model")
    assert predictor.served_info()["matryoshka_dims"] == [32, 16, 8]


def test_embed_dimensions_cuts_and_renormalises_and_refuses_an_untrained_model(matryoshka_run, tiny_bert, tmp_path):
    out, _ = matryoshka_run
    texts = ["registered nurse", "welder", "data scientist"]
    full = api.embed(str(out / "model"), texts)
    short = api.embed(str(out / "model"), texts, dimensions=8)
    assert short.shape == (3, 8) and np.allclose(np.linalg.norm(short, axis=1), 1, atol=1e-5)
    assert np.allclose(short, cut_embeddings(full, 8), atol=1e-5)
    assert api.embed(str(out / "model"), texts, dimensions=32).shape == (3, 32)  # the full size: as is
    with pytest.raises(DomaintuneError, match="not trained for shorter embeddings"):
        api.embed(str(tiny_bert), texts, dimensions=8)
    with pytest.raises(DomaintuneError, match="outside 1-32"):
        api.embed(str(out / "model"), texts, dimensions=64)
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(texts))
    res = cli("embed", str(out / "model"), "-i", source, "-o", tmp_path / "e.npy", "--dimensions", "16")
    assert res.returncode == 0, res.stderr[-2000:]
    assert np.load(tmp_path / "e.npy").shape == (3, 16)
    from domaintune.models import load_sentence_model

    load_sentence_model(str(tiny_bert)).save_pretrained(str(tmp_path / "plain"))  # a sentence-transformers folder
    assert_one_line_error(cli("embed", tmp_path / "plain", "-i", source, "-o", tmp_path / "f.npy", "--dimensions",
                              "16"), "not trained for shorter embeddings")
    assert not (tmp_path / "f.npy").exists()


def test_an_export_keeps_the_trained_dimensions(matryoshka_run, tmp_path):
    out, _ = matryoshka_run
    api.export(out / "model", tmp_path / "onnx", "onnx", "none", parity_texts=20)
    exported = registry.load_model(tmp_path / "onnx")
    assert exported.matryoshka_dims == [32, 16, 8] and (tmp_path / "onnx" / MARKER).exists()
    short = api.embed(str(tmp_path / "onnx"), ["nurse", "welder"], dimensions=16)
    assert short.shape == (2, 16) and np.allclose(short, api.embed(str(out / "model"), ["nurse", "welder"],
                                                                   dimensions=16), atol=1e-4)


def test_dimension_rules():
    assert check_dimensions(None, 32, [], "m") is None and check_dimensions(32, 32, [], "m") is None
    assert check_dimensions(8, 32, [32, 8], "m") == 8 and check_dimensions(12, 32, [32, 8], "m") == 12
    for bad, fragment in ((0, "outside 1-32"), (33, "outside 1-32"), (-1, "outside")):
        with pytest.raises(DomaintuneError, match=fragment):
            check_dimensions(bad, 32, [32, 8], "m")


def test_a_dimension_beyond_the_model_is_refused_before_training(tiny_bert, tiny_taxonomy, tmp_path):
    with pytest.raises(DomaintuneError, match="64 is more than the model's dimension 32"):
        api.train(tiny_recipe(tiny_bert, tiny_taxonomy, tmp_path / "r", **{"training.matryoshka_dims": "[64]"}),
                  show_progress=False)
    assert not (tmp_path / "r").exists()  # refused while the data is read: no run folder
