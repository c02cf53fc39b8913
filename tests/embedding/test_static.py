"""`domaintune distill`: a static model (model2vec) from a tuned encoder, with the user's domain words in its
vocabulary, checked beside the model on the same evaluators, served through the predictor contract without torch;
bad requests are one line and write nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from fastapi.testclient import TestClient

from domaintune import api, registry
from domaintune.deploy.server import Limits, create_app, load_models
from domaintune.embedding.static import StaticEmbedder
from domaintune.errors import DomaintuneError
from tests.test_cli import assert_one_line_error, cli


@pytest.fixture(scope="module")
def static_model(tiny_bert, tmp_path_factory):
    folder = tmp_path_factory.mktemp("static")
    domain = folder / "domain.txt"
    domain.write_text("phlebotomist on the ward\nthe phlebotomist draws blood\nbricklayer\nbricklayer wanted\n")
    out = folder / "static"
    res = cli("distill", tiny_bert, "-o", out, "--vocabulary-from", domain, "--pca-dims", "16")
    assert res.returncode == 0, res.stderr[-3000:]
    return out, json.loads((out / "distill.json").read_text()), tiny_bert


def test_distill_writes_a_static_model_with_the_domain_words_and_its_evaluation(static_model):
    out, record, _ = static_model
    assert record["dimension"] == 16 and record["vocabulary_words_added"] >= 2  # phlebotomist, bricklayer
    static = registry.load_model(out)
    assert isinstance(static, StaticEmbedder)
    assert static.tokenizer.tokenize("phlebotomist") == ["phlebotomist"]  # one token of its own now
    m = record["evaluation"]["stsb_test"]  # no run folder beside a plain encoder: STS benchmark test
    assert m["metric"] == "spearman" and m["retained"] == pytest.approx(m["static"] / m["model"], abs=1e-3)
    assert "## Beside the model it was distilled from" in (out / "README.md").read_text()
    emb = static.predict(["a phlebotomist", "a bricklayer", "nurse"])
    assert emb.shape == (3, 16) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    assert np.allclose(api.embed(str(out), ["a phlebotomist"])[0], emb[0], atol=1e-6)


def test_a_static_model_serves_like_any_embedding_model_and_without_torch(static_model, tmp_path):
    out, _, _ = static_model
    limits = Limits()
    with TestClient(create_app(load_models([f"static={out}"], limits, registry.load_model), limits)) as client:
        r = client.post("/v1/embeddings", json={"input": ["a phlebotomist", "nurse"]})
        assert r.status_code == 200 and len(r.json()["data"][0]["embedding"]) == 16
        assert r.json()["usage"]["total_tokens"] > 0
        info = client.get("/models").json()["data"][0]
        assert info["backend"] == "model2vec" and info["dimension"] == 16
        assert client.post("/embed", json={"inputs": "nurse", "dimensions": 8}).status_code == 400  # not Matryoshka
    code = ("import sys; from domaintune import registry; "
            f"m = registry.load_model({str(out)!r}); m.predict(['nurse']); "
            "print('torch' if 'torch' in sys.modules else 'no torch')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().endswith("no torch")


def test_distill_refuses_bad_requests_and_never_replaces_a_folder(static_model, tmp_path):
    from domaintune.models import load_cross_encoder
    from domaintune.reranker.task import save

    out, _, tiny_bert = static_model
    with pytest.raises(DomaintuneError, match="exists; pass --overwrite"):
        api.distill(tiny_bert, out)
    save(load_cross_encoder(str(tiny_bert), 32), tmp_path / "reranker")
    with pytest.raises(DomaintuneError, match="a reranker model; distill takes an embedding model"):
        api.distill(tmp_path / "reranker", tmp_path / "x")
    assert_one_line_error(cli("distill", tmp_path / "missing", "-o", tmp_path / "y"), "not a model folder")
    with pytest.raises(DomaintuneError, match="--pca-dims: 1000 is outside 1-32"):
        api.distill(tiny_bert, tmp_path / "x", pca_dims=1000)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
