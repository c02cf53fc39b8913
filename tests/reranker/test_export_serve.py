"""A trained tiny reranker exported (ONNX fp32 and int8, OpenVINO fp32) with its parity check on the run's own
test queries, reloaded without torch with the same scores, and served: TEI's POST /rerank for good requests and
every bad one (a JSON 4xx each, and the server goes on serving)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from domaintune import api, registry
from domaintune.core.contract import OutputKind
from domaintune.deploy.server import Limits, create_app, load_models
from tests.reranker.test_task import reranker_recipe

PAIRS = [("nurse", "registered nurse"), ("nurse", "welder"), ("software developer", "programmer of web sites"),
         ("a much longer query about the duties of an accountant in a small firm", "bookkeeper")]


@pytest.fixture(scope="module")
def reranker(tiny_bert, beir, tmp_path_factory):
    run = tmp_path_factory.mktemp("rr") / "run"
    api.train(reranker_recipe(tiny_bert, beir, run), show_progress=False)
    return run / "model"


@pytest.fixture(scope="module")
def exported(reranker):
    out = reranker.parent.parent / "rr-onnx"
    record = api.export(reranker, out, "onnx", "none", parity_texts=200)
    return out, record


def test_the_onnx_export_scores_pairs_as_the_torch_model_and_records_parity(reranker, exported):
    out, record = exported
    torch_model, onnx_model = registry.load_model(reranker), registry.load_model(out)
    assert onnx_model.output_kind is OutputKind.SCORES and onnx_model.metadata["backend"] == "onnxruntime"
    assert np.allclose(onnx_model.predict(PAIRS), torch_model.predict(PAIRS), atol=1e-4)
    # (the graph computes BERT's token types from the ids, so the pair's second segment is read as such)
    par = json.loads((out / "export.json").read_text())["parity"]
    assert set(par["metrics"]) == {"rerank_test"} and par["metrics"]["rerank_test"]["metric"] == "ndcg@10"
    assert abs(par["metrics"]["rerank_test"]["delta_points"]) < 0.01
    assert par["agreement"]["pairs"] == 100 and par["agreement"]["spearman"] > 0.9999
    assert record["output_kind"] == "scores" and "Parity" in (out / "README.md").read_text()
    # `domaintune rerank` on the export gives the torch model's 0-1 scores
    by_torch = {r["index"]: r["score"] for r in api.rerank(str(reranker), PAIRS[0][0], [t for _, t in PAIRS])}
    by_export = {r["index"]: r["score"] for r in api.rerank(str(out), PAIRS[0][0], [t for _, t in PAIRS])}
    assert [by_export[i] for i in range(len(PAIRS))] == pytest.approx([by_torch[i] for i in range(len(PAIRS))],
                                                                      abs=1e-4)


@pytest.mark.slow  # two more exports with their parity checks: the fast suite stays < 15 min
def test_an_int8_export_and_an_openvino_export_load_and_rank(reranker, tmp_path):
    for fmt, quantize in (("onnx", "int8"), ("openvino", "none")):
        out = tmp_path / f"{fmt}-{quantize}"
        record = api.export(reranker, out, fmt, quantize, force=True, parity_texts=100)
        model = registry.load_model(out)
        scores = model.predict(PAIRS)
        assert scores.shape == (len(PAIRS),) and np.isfinite(scores).all()
        assert record["parity"]["agreement"]["pairs"] == 50


@pytest.fixture(scope="module")
def client(exported, tiny_bert):
    limits = Limits(max_inputs=4, max_chars=300, max_bytes=20_000, max_queue=64)
    models = load_models([f"rr={exported[0]}", f"emb={tiny_bert}"], limits, registry.load_model)
    with TestClient(create_app(models, limits)) as c:
        yield c, models


def still_serving(c):
    r = c.post("/rerank", json={"query": "nurse", "texts": ["welder"]})
    assert r.status_code == 200, r.text


def test_rerank_answers_in_tei_shape_best_first(client):
    c, models = client
    texts = [t for _, t in PAIRS[:3]]
    r = c.post("/rerank", json={"query": "nurse", "texts": texts, "return_text": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted(x["index"] for x in body) == [0, 1, 2] and [x["text"] for x in body] == [
        texts[x["index"]] for x in body]
    assert [x["score"] for x in body] == sorted((x["score"] for x in body), reverse=True)
    raw = models["rr"].predictor.predict([("nurse", t) for t in texts])
    by_index = {x["index"]: x["score"] for x in body}
    assert [by_index[i] for i in range(3)] == pytest.approx((1 / (1 + np.exp(-raw))).tolist(), abs=1e-5)
    raws = {x["index"]: x["score"] for x in c.post("/rerank", json={"query": "nurse", "texts": texts,
                                                                    "raw_scores": True}).json()}
    assert [raws[i] for i in range(3)] == pytest.approx(raw.tolist(), abs=1e-5)
    assert "text" not in c.post("/rerank", json={"query": "nurse", "texts": texts}).json()[0]
    assert c.get("/models").json()["data"][0]["activation"] == "sigmoid"


@pytest.mark.parametrize("body,status,needle", [
    ({"query": "nurse", "texts": []}, 422, "texts: empty list"),
    ({"query": "nurse", "texts": ["a", "b", "c", "d", "e"]}, 413, "more than the limit of 4"),
    ({"texts": ["a"]}, 422, "query: required field missing"),
    ({"query": "nurse", "texts": "welder"}, 422, "texts"),
    ({"query": "nurse", "texts": [3]}, 422, "texts"),
    ({"query": " ", "texts": ["a"]}, 422, "query[0]: empty text"),
    ({"query": "nurse", "texts": ["a"], "model": "nope"}, 404, "unknown model 'nope'"),
    ({"query": "nurse", "texts": ["a"], "model": "emb"}, 400, "needs scores; model 'emb' gives embeddings"),
])
def test_every_bad_rerank_request_is_a_json_4xx_and_the_server_goes_on(client, body, status, needle):
    c, _ = client
    r = c.post("/rerank", json=body)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"]
    still_serving(c)


def test_an_embedding_route_called_on_the_reranker_is_refused(client):
    c, _ = client
    r = c.post("/embed", json={"inputs": ["nurse"], "model": "rr"})
    assert r.status_code == 400 and "needs embeddings; model 'rr' gives scores" in r.json()["error"]["message"]
    still_serving(c)
