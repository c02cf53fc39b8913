"""The server's parts, each on its own (no model, no app): the API-key dependency, the body reader, and the
route's choice of model by output kind."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from domaintune.core.contract import OutputKind
from domaintune.deploy.server import (
    ApiError,
    EmbedRequest,
    Limits,
    ServerState,
    authorise,
    pick,
    read_body,
)


class FakeRequest:
    """What the parts read of a request: headers, the app's state, the body stream."""

    def __init__(self, state: ServerState, headers: dict | None = None, body: bytes = b""):
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.app = SimpleNamespace(state=SimpleNamespace(domaintune=state))
        self._body = body

    async def stream(self):
        yield self._body


def served(name: str, kind: OutputKind):
    return SimpleNamespace(name=name, capability=kind)


STATE = ServerState({"emb": served("emb", OutputKind.EMBEDDINGS), "ner": served("ner", OutputKind.SPANS)},
                    Limits(max_bytes=100), api_key="k")


def test_authorise_takes_bearer_or_x_api_key_and_refuses_the_rest():
    authorise(FakeRequest(STATE, {"Authorization": "Bearer k"}))
    authorise(FakeRequest(STATE, {"x-api-key": "k"}))
    for headers in ({}, {"Authorization": "Bearer nope"}):
        with pytest.raises(ApiError) as e:
            authorise(FakeRequest(STATE, headers))
        assert e.value.status == 401
    authorise(FakeRequest(ServerState({}, Limits()), {}))  # no key set: open


@pytest.mark.parametrize("body,status,needle", [
    (b"x" * 101, 413, "over the limit"), (b"\xff", 400, "not valid UTF-8"), (b"{", 400, "malformed JSON"),
    (b"[1]", 422, "expected a JSON object"), (b'{"inputs": 3}', 422, "inputs: expected a string or a list"),
])
def test_read_body_answers_each_bad_body_with_its_status(body, status, needle):
    with pytest.raises(ApiError) as e:
        asyncio.run(read_body(FakeRequest(STATE, body=body), EmbedRequest))
    assert e.value.status == status and needle in e.value.message


def test_read_body_validates_a_good_body():
    req = asyncio.run(read_body(FakeRequest(STATE, body=json.dumps({"inputs": ["a"]}).encode()), EmbedRequest))
    assert req.inputs == ["a"] and req.normalize


def test_pick_chooses_by_output_kind():
    assert pick(STATE, None, OutputKind.SPANS).name == "ner" and pick(STATE, "emb", OutputKind.EMBEDDINGS).name == "emb"
    with pytest.raises(ApiError) as e:
        pick(STATE, "nope", OutputKind.EMBEDDINGS)
    assert e.value.status == 404
    with pytest.raises(ApiError) as e:
        pick(STATE, "emb", OutputKind.LABELS)
    assert e.value.status == 400 and "needs labels; model 'emb' gives embeddings" in e.value.message
    with pytest.raises(ApiError, match="no model served gives it"):
        pick(STATE, None, OutputKind.SCORES)
