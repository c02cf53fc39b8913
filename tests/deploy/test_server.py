"""The server in-process (FastAPI's TestClient) on the tiny exported models: every endpoint, every bad request
answered with a JSON 4xx, and a good request served right after each."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from domaintune import registry
from domaintune.deploy.server import Limits, create_app, load_models, model_name

KEY = "s3cret"


@pytest.fixture(scope="module")
def served(exported_embedder, lora_classifier, ner_tagger):
    limits = Limits(max_inputs=8, max_chars=500, max_bytes=20_000, max_queue=64)
    models = load_models([f"emb={exported_embedder[1]}", f"cls={lora_classifier[1]}", f"ner={ner_tagger[1]}"],
                         limits, registry.load_model)
    app = create_app(models, limits, api_key=KEY)
    with TestClient(app, headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client, models, exported_embedder


def good(client):
    r = client.post("/v1/embeddings", json={"input": "still serving", "model": "emb"})
    assert r.status_code == 200, r.text
    return r


def test_openai_embeddings(served):
    client, models, (source, folder, _) = served
    r = client.post("/v1/embeddings", json={"input": ["software developer", "nurse"], "model": "emb"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["index"] for d in body["data"]] == [0, 1] and body["object"] == "list" and body["model"] == "emb"
    emb = np.array([d["embedding"] for d in body["data"]])
    expected = models["emb"].predictor.predict(["software developer", "nurse"])
    assert np.allclose(emb, expected, atol=1e-5)
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] >= 4
    one = client.post("/v1/embeddings", json={"input": "nurse"}).json()  # a string; the model by default
    assert np.allclose(one["data"][0]["embedding"], expected[1], atol=1e-5)
    b64 = client.post("/v1/embeddings", json={"input": "nurse", "encoding_format": "base64"}).json()
    assert np.allclose(np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), "<f4"), expected[1], atol=1e-5)


def test_tei_embed_similarity_classify_ner(served):
    client, models, _ = served
    emb = client.post("/embed", json={"inputs": ["nurse", "welder"]}).json()
    assert np.array(emb).shape == (2, models["emb"].info["dimension"])
    sim = client.post("/similarity", json={"source": "nurse", "candidates": ["nurse", "welder"]}).json()
    assert sim["scores"][0] == pytest.approx(1.0, abs=1e-4) and len(sim["scores"]) == 2
    cls = client.post("/classify", json={"inputs": ["software developer", "welder"]}).json()
    assert cls["model"] == "cls" and len(cls["predictions"]) == 2
    pred = cls["predictions"][0]
    assert pred["labels"][0] in ("2", "3", "7") and sum(pred["scores"].values()) == pytest.approx(1, abs=1e-4)
    text = "Ada Lovelace lived in Paris ."
    ner = client.post("/ner", json={"inputs": text}).json()
    assert ner["entities"][0] == models["ner"].predictor.predict([text])[0]
    assert all(text[s["start"]:s["end"]] == s["text"] for s in ner["entities"][0])


def test_health_and_models(served):
    client, _, _ = served
    health = TestClient(client.app).get("/health")  # no key needed
    assert health.status_code == 200 and health.json()["status"] == "ok"
    models = client.get("/models").json()["data"]
    assert [(m["name"], m["capability"]) for m in models] == [("emb", "embeddings"), ("cls", "labels"),
                                                              ("ner", "spans")]
    emb = models[0]
    assert emb["backend"] == "onnxruntime" and emb["dimension"] == 32 and emb["max_length"] > 0
    assert models[2]["backend"] == "openvino" and models[1]["labels"] == ["2", "3", "7"]
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["emb", "cls", "ner"]


BAD = [  # (what, request kwargs, status, message fragment)
    ("malformed JSON", {"content": b'{"input": ["a",'}, 400, "malformed JSON"),
    ("not UTF-8", {"content": b'{"input": "caf\xe9"}'}, 400, "not valid UTF-8"),
    ("a JSON list, not an object", {"json": ["a"]}, 422, "expected a JSON object"),
    ("missing field", {"json": {"model": "emb"}}, 422, "input: required field missing"),
    ("wrong type", {"json": {"input": 42}}, 422, "input: expected a string or a list of strings (got int)"),
    ("wrong type in the list", {"json": {"input": ["a", 7]}}, 422, "input[1]: expected a string (got int)"),
    ("null", {"json": {"input": None}}, 422, "input: expected a string or a list of strings (got null)"),
    ("empty list", {"json": {"input": []}}, 422, "empty list"),
    ("empty text", {"json": {"input": ["a", "  "]}}, 422, "input[1]: empty text"),
    ("too many inputs", {"json": {"input": ["a"] * 9}}, 413, "more than the limit of 8"),
    ("huge string", {"json": {"input": "x" * 501}}, 413, "501 characters"),
    ("huge body", {"json": {"input": ["y" * 400] * 60}}, 413, "limit of 20000"),
    ("unknown model", {"json": {"input": "a", "model": "gpt-4"}}, 404, "unknown model 'gpt-4'"),
    ("model of another kind", {"json": {"input": "a", "model": "cls"}}, 400, "needs embeddings"),
    ("unknown encoding", {"json": {"input": "a", "encoding_format": "int4"}}, 422, "encoding_format"),
]


@pytest.mark.parametrize("what,kwargs,status,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_json_4xx_and_the_server_goes_on(served, what, kwargs, status, fragment):
    client, _, _ = served
    r = client.post("/v1/embeddings", **kwargs)
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]["message"]
    good(client)


def test_other_bad_requests(served):
    client, _, _ = served
    cases = [
        (client.post("/embed", json={"inputs": "a", "normalize": False}), 422, "normalize"),
        (client.post("/embed", json={"inputs": "w x " * 100, "truncate": False}), 413, "send truncate=true"),
        (client.post("/similarity", json={"source": "a", "candidates": []}), 422, "candidates: empty list"),
        (client.post("/classify", json={"inputs": "a", "model": "emb"}), 400, "needs labels"),
        (client.post("/ner", json={"texts": "a"}), 422, "inputs: required field missing"),
        (client.post("/similarity", json={"source": "a", "candidates": "b"}), 422, "candidates: input should be"),
        (client.post("/embed", json={"inputs": "a", "normalize": "maybe"}), 422, "normalize"),
        (client.get("/nowhere"), 404, "Not Found"),
        (client.get("/v1/embeddings"), 405, "Method Not Allowed"),
        (TestClient(client.app).post("/v1/embeddings", json={"input": "a"}), 401, "API key"),
        (TestClient(client.app, headers={"Authorization": "Bearer wrong"}).post("/embed", json={"inputs": "a"}),
         401, "API key"),
    ]
    for r, status, fragment in cases:
        assert r.status_code == status, r.text
        assert fragment in r.json()["error"]["message"], r.text
    long = client.post("/embed", json={"inputs": "w x " * 100, "truncate": True})  # cut, not refused
    assert long.status_code == 200
    good(client)


def test_concurrent_requests_are_batched_together(exported_embedder):
    limits = Limits(batch_tokens=4096, max_queue=1000)
    models = load_models([str(exported_embedder[1])], limits, registry.load_model)
    app = create_app(models, limits)
    texts = [f"job title number {i}" for i in range(64)]

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            rs = await asyncio.gather(*(client.post("/embed", json={"inputs": t}) for t in texts))
        return rs

    rs = asyncio.run(main())
    assert all(r.status_code == 200 for r in rs)
    expected = next(iter(models.values())).predictor.predict(texts)
    assert np.allclose(np.array([r.json()[0] for r in rs]), expected, atol=1e-5)  # each answer is its own text's
    served = next(iter(models.values())).served
    assert served["requests"] == 64 and served["batches"] < 64  # several requests per model call
    for m in models.values():
        m.stop()


def test_a_full_queue_answers_429(exported_embedder):
    limits = Limits(max_queue=3, max_inputs=8)
    models = load_models([str(exported_embedder[1])], limits, registry.load_model)
    with TestClient(create_app(models, limits)) as client:
        r = client.post("/embed", json={"inputs": ["a", "b", "c", "d"]})
        assert r.status_code == 429 and "busy" in r.json()["error"]["message"]
        assert client.post("/embed", json={"inputs": ["a", "b"]}).status_code == 200


def test_model_names():
    assert model_name("runs/demo/model") == ("demo", "runs/demo/model")
    assert model_name("exports/minilm-int8/") == ("minilm-int8", "exports/minilm-int8/")
    assert model_name("titles=exports/x") == ("titles", "exports/x")
    json.dumps(Limits().__dict__)


def test_metrics_count_requests_errors_batches_texts_and_tokens(exported_embedder):
    from prometheus_client.parser import text_string_to_metric_families

    limits = Limits(max_inputs=8)
    models = load_models([f"emb={exported_embedder[1]}"], limits, registry.load_model)
    with TestClient(create_app(models, limits, api_key=KEY), headers={"Authorization": f"Bearer {KEY}"}) as client:
        tokens = 0
        for inputs in (["nurse"], ["welder", "registered nurse"], ["data scientist"]):
            r = client.post("/v1/embeddings", json={"input": inputs})
            assert r.status_code == 200
            tokens += r.json()["usage"]["total_tokens"]
        assert client.post("/v1/embeddings", json={"input": []}).status_code == 422
        assert client.get("/no/such/path").status_code == 404
        assert TestClient(client.app).get("/metrics").status_code == 401  # the key guards it like /models
        r = client.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(r.text) for s in family.samples}
        served = models["emb"].served

    def value(name, **labels):
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("domaintune_requests_total", route="/v1/embeddings", status="200") == 3
    assert value("domaintune_requests_total", route="/v1/embeddings", status="422") == 1
    assert value("domaintune_requests_total", route="other", status="404") == 1  # unknown paths: one label
    assert value("domaintune_requests_total", route="/metrics", status="401") == 1
    assert value("domaintune_request_duration_seconds_count", route="/v1/embeddings") == 4
    assert value("domaintune_texts_total", model="emb") == 4 and value("domaintune_tokens_total", model="emb") == tokens
    assert value("domaintune_batch_texts_count", model="emb") == served["batches"]
    assert value("domaintune_batch_texts_sum", model="emb") == 4
    assert value("domaintune_batch_tokens_sum", model="emb") == tokens
    assert value("domaintune_batch_duration_seconds_count", model="emb") == served["batches"]
    assert value("domaintune_queue_texts", model="emb") == 0


def test_dimensions_is_honoured_for_a_matryoshka_model_and_refused_for_another(exported_embedder):
    """OpenAI's and TEI's `dimensions`: cut and renormalised on a model trained for it (here the export's own
    record says so, as a Matryoshka run's does), a JSON 400 on one that was not, 422 outside the model's range."""
    from domaintune.core.dimensions import cut_embeddings

    def load(path, threads):
        predictor = registry.load_model(path, threads)
        if "mat" in str(path):
            predictor.matryoshka_dims = [32, 16, 8]
        return predictor

    folder = exported_embedder[1]
    mat = folder.parent / "mat-link"
    if not mat.exists():
        mat.symlink_to(folder)
    limits = Limits()
    models = load_models([f"emb={folder}", f"mat={mat}"], limits, load)
    with TestClient(create_app(models, limits)) as client:
        assert client.get("/models").json()["data"][1]["matryoshka_dims"] == [32, 16, 8]
        full = np.array(client.post("/embed", json={"inputs": ["nurse", "welder"], "model": "mat"}).json())
        for path, body in (("/v1/embeddings", {"input": ["nurse", "welder"]}), ("/embed", {"inputs": ["nurse",
                                                                                                      "welder"]})):
            r = client.post(path, json={**body, "model": "mat", "dimensions": 16})
            assert r.status_code == 200, r.text
            emb = np.array([d["embedding"] for d in r.json()["data"]] if path.startswith("/v1") else r.json())
            assert emb.shape == (2, 16) and np.allclose(emb, cut_embeddings(full, 16), atol=1e-5)
            same = client.post(path, json={**body, "model": "emb", "dimensions": 32})  # the full size: as is
            assert same.status_code == 200
            for model, dims, status, fragment in (("emb", 16, 400, "not trained for shorter embeddings"),
                                                  ("mat", 0, 422, "outside 1-32"), ("mat", 64, 422, "outside 1-32"),
                                                  ("mat", "many", 422, "dimensions")):
                r = client.post(path, json={**body, "model": model, "dimensions": dims})
                assert r.status_code == status and fragment in r.json()["error"]["message"], r.text
            assert client.post(path, json={**body, "model": "emb"}).status_code == 200  # still serving
