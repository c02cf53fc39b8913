"""`domaintune serve MODEL_OR_EXPORT [MORE ...]`: FastAPI + uvicorn in front of the task contract.

One request, top to bottom:

1. the body is read with a byte limit (413), decoded as UTF-8 and parsed as JSON (400), then validated by a
   pydantic model (422); limits on inputs per request and characters per input answer 413; a missing or wrong
   API key 401; an unknown model 404. Every error is JSON, `{"error": {"message", "type", "code"}}`;
2. the texts go on the model's queue as one job; a full queue answers 429 at once;
3. the model's worker thread (one per model, so model work never blocks the event loop) takes the job and any
   jobs queued behind it up to a token budget (dynamic batching), counts their tokens, runs the model's
   `predict(texts)` once for all of them, and hands each job its rows back on the event loop;
4. the endpoint shapes the rows: OpenAI `/v1/embeddings`, TEI `/embed` and `/rerank` (a job's texts are then
   (query, text) pairs), `/similarity`, `/classify`, `/ner`;
   answers are `JSONResponse`s built from plain lists (FastAPI's `jsonable_encoder` walks every float of an
   embedding and cost more than the model per one-text request).

A model is any predictor of the task contract (core/contract.py), exported or torch, loaded by the caller's
`load(path, threads)` (api.serve: the registry): each route asks for an output kind (`OutputKind`), and `/models`
shows each predictor's own `served_info()`. Handlers, dependencies (`authorise`, `read_body`) and the route table
are module-level and read the app's `ServerState`; `create_app` only wires them. uvicorn drains in-flight requests
on Ctrl-C (`timeout_graceful_shutdown`), then the workers stop.

Adding an output kind's route: a handler here asking `pick(state, name, OutputKind.X)`, and a line in ROUTES.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import queue
import secrets
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.exceptions import HTTPException

from domaintune.core.contract import OutputKind
from domaintune.core.dimensions import check_dimensions, cut_embeddings
from domaintune.deploy.metrics import RequestMetricsMiddleware, ServerMetrics
from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")


@dataclass
class Limits:
    batch_tokens: int = 8192  # dynamic batching: tokens in one model call (0: one request at a time)
    max_queue: int = 2048  # texts waiting per model before 429
    max_inputs: int = 256  # texts per request before 413
    max_chars: int = 20_000  # characters per text before 413
    max_bytes: int = 4_000_000  # request body bytes before 413
    truncate: bool = True  # default for requests that do not say: cut texts over the model's length (else 413)
    batch_size: int = 32  # texts per forward pass inside one model call (length-sorted)


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


# ---------------------------------------------------------------------------------------------------- models


class Job:
    __slots__ = ("texts", "truncate", "future", "loop", "tokens")

    def __init__(self, texts: list[str], truncate: bool, future: asyncio.Future, loop):
        self.texts, self.truncate, self.future, self.loop, self.tokens = texts, truncate, future, loop, []


def _resolve(future: asyncio.Future, value=None, error: BaseException | None = None) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class ServedModel:
    """One model, its queue and its worker thread."""

    def __init__(self, name: str, predictor, limits: Limits):
        self.name, self.predictor, self.limits = name, predictor, limits
        self.capability: OutputKind = predictor.output_kind
        meta = dict(predictor.metadata)
        self.max_length = int(predictor.max_length)
        self.info = {"name": name, "task": meta.get("task"), "capability": self.capability.value,
                     "backend": meta.get("backend", "torch"), "precision": meta.get("precision", "fp32"),
                     "max_length": self.max_length, "path": meta.get("path"), **predictor.served_info()}
        self.queue: queue.Queue = queue.Queue()
        self.pending = 0  # texts queued or running
        self.lock = threading.Lock()
        self.served = {"requests": 0, "texts": 0, "batches": 0}
        self.observe_batch = lambda texts, tokens, seconds: None  # the app's /metrics, once wired (create_app)
        self.worker = threading.Thread(target=self._work, name=f"domaintune-{name}", daemon=True)
        self.worker.start()

    # -- event loop side
    async def submit(self, texts: list[str], truncate: bool):
        with self.lock:
            if self.pending + len(texts) > self.limits.max_queue:
                raise ApiError(429, f"model '{self.name}' is busy: {self.pending} texts queued (limit "
                                    f"{self.limits.max_queue}); retry shortly", "rate_limit_error")
            self.pending += len(texts)
        loop = asyncio.get_running_loop()
        job = Job(texts, truncate, loop.create_future(), loop)
        self.queue.put(job)
        try:
            return await job.future
        finally:
            with self.lock:
                self.pending -= len(texts)

    def stop(self) -> None:
        self.queue.put(None)
        self.worker.join(timeout=30)

    # -- worker side
    def _count(self, job: Job) -> None:
        """Tokens per text (capped at the model's length); a refusal when the job asked not to truncate."""
        tok = self.predictor.tokenizer
        lengths = [len(ids) for ids in tok(job.texts, add_special_tokens=True, truncation=False)["input_ids"]]
        if not job.truncate and self.capability is not OutputKind.SPANS:  # taggers window long texts: no cut
            over = [i for i, n in enumerate(lengths) if n > self.max_length]
            if over:
                raise ApiError(413, f"input {over[0]} has {lengths[over[0]]} tokens, more than the model's "
                                    f"{self.max_length}; send truncate=true to cut it")
        job.tokens = [min(n, self.max_length) for n in lengths]

    def _take(self, first: Job, carry: list) -> list[Job]:
        """`first` and the jobs queued behind it, up to the token budget; one that does not fit waits in carry."""
        batch, budget = [first], self.limits.batch_tokens
        used = sum(first.tokens)
        while budget > 0:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                carry.append(None)
                break
            if not self._counted(job):
                continue
            if used + sum(job.tokens) > budget:
                carry.append(job)
                break
            batch.append(job)
            used += sum(job.tokens)
        return batch

    def _counted(self, job: Job) -> bool:
        try:
            self._count(job)
            return True
        except ApiError as e:
            job.loop.call_soon_threadsafe(_resolve, job.future, None, e)
            return False

    def _work(self) -> None:
        carry: list = []
        while True:
            job = carry.pop() if carry else self.queue.get()
            if job is None:
                return
            if not job.tokens and not self._counted(job):
                continue
            batch = self._take(job, carry)
            texts = [t for j in batch for t in j.texts]
            t = time.perf_counter()
            try:
                rows = self.predictor.predict(texts, batch_size=self.limits.batch_size)
                error = None
                self.observe_batch(len(texts), sum(sum(j.tokens) for j in batch), time.perf_counter() - t)
            except Exception as e:  # noqa: BLE001 (one failed call answers its requests; the worker goes on)
                log.exception("model '%s' failed on a batch of %d texts", self.name, len(texts))
                rows, error = None, ApiError(500, f"model '{self.name}' failed: {type(e).__name__}: {e}",
                                             "server_error")
            self.served["batches"] += 1
            start = 0
            for j in batch:
                part = None if rows is None else rows[start:start + len(j.texts)]
                start += len(j.texts)
                self.served["requests"] += 1
                self.served["texts"] += len(j.texts)
                j.loop.call_soon_threadsafe(_resolve, j.future, (part, j.tokens), error)


def model_name(spec: str) -> tuple[str, str]:
    """NAME=PATH, or PATH named by its folder (RUN/model by its run folder)."""
    if "=" in spec and not Path(spec).exists():
        name, path = spec.split("=", 1)
        return name, path
    p = Path(spec.rstrip("/"))
    return (p.parent.name if p.name == "model" and p.parent.name else p.name) or spec, spec


def load_models(specs: list[str], limits: Limits, load, threads: int | None = None) -> dict[str, ServedModel]:
    """Each NAME=PATH (or PATH) through `load(path, threads)`: a predictor of the task contract."""
    served: dict[str, ServedModel] = {}
    for spec in specs:
        name, path = model_name(spec)
        if name in served:
            raise DomaintuneError(f"{spec}: a second model named '{name}'; name them: NAME=PATH")
        served[name] = ServedModel(name, load(path, threads), limits)
    return served


# ---------------------------------------------------------------------------------------------------- requests


class Request_(BaseModel):
    model_config = ConfigDict(extra="ignore")  # clients send fields of their own API (user, dimensions ...)
    model: str | None = None


class EmbeddingsRequest(Request_):  # OpenAI
    input: str | list[str]
    encoding_format: str = "float"
    dimensions: int | None = None


class EmbedRequest(Request_):  # text-embeddings-inference
    inputs: str | list[str]
    normalize: bool = True
    truncate: bool | None = None
    dimensions: int | None = None


class SimilarityRequest(Request_):
    source: str
    candidates: list[str]
    truncate: bool | None = None


class TextsRequest(Request_):  # /classify, /ner
    inputs: str | list[str]
    truncate: bool | None = None


class RerankRequest(Request_):  # text-embeddings-inference
    query: str
    texts: list[str]
    raw_scores: bool = False
    return_text: bool = False
    truncate: bool | None = None


def validation_message(e: ValidationError) -> str:
    """One line naming the field (and the list index) and what was expected; pydantic's union branch tags
    (`str`, `list[str]`) are read, not shown."""
    errors = e.errors()
    got = lambda err: type(err.get("input")).__name__.replace("NoneType", "null")  # noqa: E731
    for err in errors:  # a list whose item is wrong: name the item
        loc = err["loc"]
        if len(loc) > 2 and loc[1] == "list[str]" and isinstance(loc[2], int):
            return f"{loc[0]}[{loc[2]}]: expected a string (got {got(err)})"
    err = errors[0]
    loc = err["loc"]
    if len(loc) == 2 and loc[1] in ("str", "list[str]"):
        return f"{loc[0]}: expected a string or a list of strings (got {got(err)})"
    where = ".".join(str(x) for x in loc) or "body"
    if err["type"] == "missing":
        return f"{where}: required field missing"
    return f"{where}: {err['msg'].lower()} (got {got(err)})"


def check_texts(texts, field: str, limits: Limits) -> list[str]:
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise ApiError(422, f"{field}: empty list; send at least one text")
    if len(texts) > limits.max_inputs:
        raise ApiError(413, f"{field}: {len(texts)} texts, more than the limit of {limits.max_inputs} per request")
    for i, t in enumerate(texts):
        if not t.strip():
            raise ApiError(422, f"{field}[{i}]: empty text")
        if len(t) > limits.max_chars:
            raise ApiError(413, f"{field}[{i}]: {len(t)} characters, more than the limit of {limits.max_chars}")
    return texts


# ---------------------------------------------------------------------------------------------------- the app


@dataclass
class ServerState:
    """What the handlers read: the served models, the limits, the API key, the start time."""

    models: dict[str, ServedModel]
    limits: Limits
    api_key: str | None = None
    started: float = 0.0


def state_of(request: Request) -> ServerState:
    return request.app.state.domaintune


def error_response(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)


async def on_api_error(_, e: ApiError):
    return error_response(e.status, e.message, e.kind)


async def on_http_error(_, e: HTTPException):
    return error_response(e.status_code, str(e.detail), "invalid_request_error")


async def on_validation_error(_, e: RequestValidationError):
    return error_response(422, str(e.errors()[0].get("msg", e)), "invalid_request_error")


async def on_server_error(_, e: Exception):
    log.exception("unexpected error")
    return error_response(500, f"internal error: {type(e).__name__}", "server_error")


# ------------------------------------------------------------------ dependencies


def authorise(request: Request) -> None:
    """401 unless the request carries the API key (`Authorization: Bearer KEY` or `x-api-key`), when one is set."""
    key = state_of(request).api_key
    if key is None:
        return
    given = request.headers.get("authorization", "")
    token = given[7:] if given.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    if not secrets.compare_digest(token.encode(), key.encode()):
        raise ApiError(401, "missing or wrong API key: send 'Authorization: Bearer KEY'", "authentication_error")


async def read_body(request: Request, schema: type[BaseModel]):
    """The body within the byte limit (413), as UTF-8 (400) JSON (400) of an object (422) valid for `schema`
    (422, naming the field)."""
    limit = state_of(request).limits.max_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body of {declared} bytes, more than the limit of {limit}")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ApiError(413, f"body over the limit of {limit} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, f"body is not valid UTF-8 (byte {e.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ApiError(400, f"malformed JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    if not isinstance(data, dict):
        raise ApiError(422, f"body: expected a JSON object, got {type(data).__name__}")
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        raise ApiError(422, validation_message(e)) from None


def pick(state: ServerState, name: str | None, need: OutputKind) -> ServedModel:
    """The model named (404 if unknown), or the first that answers `need`; 400 if it answers something else."""
    models = state.models
    if name is not None and name not in models:
        raise ApiError(404, f"unknown model '{name}'; served: {', '.join(models)}", "not_found_error")
    candidates = [models[name]] if name is not None else [m for m in models.values() if m.capability is need]
    if not candidates or candidates[0].capability is not need:
        what = (f"model '{name}' gives {candidates[0].capability.value}" if candidates
                else "no model served gives it")
        raise ApiError(400, f"this endpoint needs {need.value}; {what} (served: "
                            f"{', '.join(f'{m.name} ({m.capability.value})' for m in models.values())})")
    return candidates[0]


def cut_to(m: ServedModel, requested: int | None) -> int | None:
    """The dimension to cut each embedding to (None: all of it); 422 outside the model's range, 400 for a model
    not trained for shorter embeddings (core/dimensions.py)."""
    full = m.info["dimension"]
    if requested is not None and not 1 <= requested <= full:
        raise ApiError(422, f"dimensions: {requested} is outside 1-{full} (model '{m.name}' gives {full})")
    try:
        return check_dimensions(requested, full, m.info.get("matryoshka_dims") or [], m.name)
    except DomaintuneError as e:
        raise ApiError(400, str(e)) from None


async def run_model(state: ServerState, m: ServedModel, texts: list[str], truncate: bool | None):
    return await m.submit(texts, state.limits.truncate if truncate is None else truncate)


# ------------------------------------------------------------------ handlers


async def openai_embeddings(request: Request):
    state, req = state_of(request), await read_body(request, EmbeddingsRequest)
    if req.encoding_format not in ("float", "base64"):
        raise ApiError(422, f"encoding_format: '{req.encoding_format}'; expected float or base64")
    m = pick(state, req.model, OutputKind.EMBEDDINGS)
    dims = cut_to(m, req.dimensions)
    emb, tokens = await run_model(state, m, check_texts(req.input, "input", state.limits), None)
    emb = emb if dims is None else cut_embeddings(emb, dims)
    enc = (lambda v: base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode()) if (
        req.encoding_format == "base64") else (lambda v: v.tolist())
    return JSONResponse({"object": "list", "model": m.name, "data": [
        {"object": "embedding", "index": i, "embedding": enc(v)} for i, v in enumerate(emb)],
        "usage": {"prompt_tokens": sum(tokens), "total_tokens": sum(tokens)}})


async def tei_embed(request: Request):
    state, req = state_of(request), await read_body(request, EmbedRequest)
    if not req.normalize:
        raise ApiError(422, "normalize: false is not offered: domaintune's embeddings are L2-normalised "
                            "(mean pooling and normalisation are part of the model)")
    m = pick(state, req.model, OutputKind.EMBEDDINGS)
    dims = cut_to(m, req.dimensions)
    emb, _ = await run_model(state, m, check_texts(req.inputs, "inputs", state.limits), req.truncate)
    return JSONResponse((emb if dims is None else cut_embeddings(emb, dims)).tolist())


async def similarity(request: Request):
    state, req = state_of(request), await read_body(request, SimilarityRequest)
    m = pick(state, req.model, OutputKind.EMBEDDINGS)
    texts = check_texts([req.source], "source", state.limits) + check_texts(req.candidates, "candidates",
                                                                            state.limits)
    emb, _ = await run_model(state, m, texts, req.truncate)
    return JSONResponse({"model": m.name, "scores": [round(float(s), 6) for s in emb[1:] @ emb[0]]})


async def rows_of(request: Request, need: OutputKind, key: str):
    state, req = state_of(request), await read_body(request, TextsRequest)
    m = pick(state, req.model, need)
    rows, _ = await run_model(state, m, check_texts(req.inputs, "inputs", state.limits), req.truncate)
    return JSONResponse({"model": m.name, key: rows})


async def classify(request: Request):
    return await rows_of(request, OutputKind.LABELS, "predictions")


async def ner(request: Request):
    return await rows_of(request, OutputKind.SPANS, "entities")


async def rerank(request: Request):
    """TEI's /rerank: the texts scored against the query, best first; a model whose activation is sigmoid gives
    0-1 scores unless raw_scores."""
    state, req = state_of(request), await read_body(request, RerankRequest)
    m = pick(state, req.model, OutputKind.SCORES)
    query = check_texts([req.query], "query", state.limits)[0]
    texts = check_texts(req.texts, "texts", state.limits)
    scores, _ = await run_model(state, m, [(query, t) for t in texts], req.truncate)
    if not req.raw_scores and m.info.get("activation") == "sigmoid":
        scores = 1 / (1 + np.exp(-np.asarray(scores, dtype=np.float64)))
    order = sorted(range(len(texts)), key=lambda i: (-scores[i], i))
    return JSONResponse([{"index": i, "score": round(float(scores[i]), 6), **(
        {"text": texts[i]} if req.return_text else {})} for i in order])


async def health(request: Request):
    state = state_of(request)
    return {"status": "ok", "models": list(state.models), "uptime_seconds": round(time.time() - state.started, 1),
            "queued_texts": {n: m.pending for n, m in state.models.items()},
            "served": {n: dict(m.served) for n, m in state.models.items()}}


async def metrics(request: Request):
    body, content_type = request.app.state.metrics.exposition()
    return Response(body, media_type=content_type)


async def list_models(request: Request):
    state = state_of(request)
    return {"data": [m.info for m in state.models.values()], "limits": asdict(state.limits)}


async def openai_models(request: Request):
    return {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "domaintune"}
                                       for n in state_of(request).models]}


# (method, path, handler, API key required)
ROUTES = [
    ("POST", "/v1/embeddings", openai_embeddings, True),
    ("POST", "/embed", tei_embed, True),
    ("POST", "/similarity", similarity, True),
    ("POST", "/classify", classify, True),
    ("POST", "/ner", ner, True),
    ("POST", "/rerank", rerank, True),
    ("GET", "/health", health, False),
    ("GET", "/metrics", metrics, True),
    ("GET", "/models", list_models, True),
    ("GET", "/v1/models", openai_models, True),
]
ERROR_HANDLERS = [(ApiError, on_api_error), (HTTPException, on_http_error),
                  (RequestValidationError, on_validation_error), (Exception, on_server_error)]


def create_app(models: dict[str, ServedModel], limits: Limits, api_key: str | None = None):
    @asynccontextmanager
    async def lifespan(app):
        yield
        for m in models.values():  # uvicorn has drained the in-flight requests by now
            m.stop()

    app = FastAPI(title="domaintune", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.domaintune = ServerState(models, limits, api_key, time.time())
    app.state.metrics = server_metrics = ServerMetrics({path for _, path, _, _ in ROUTES} | {"/docs", "/openapi.json"})
    app.add_middleware(RequestMetricsMiddleware, metrics=server_metrics)
    for m in models.values():
        server_metrics.watch_queue(m.name, lambda m=m: m.pending)
        m.observe_batch = lambda texts, tokens, seconds, name=m.name: server_metrics.observe_batch(
            name, texts, tokens, seconds)
    for exc, handler in ERROR_HANDLERS:
        app.add_exception_handler(exc, handler)
    for method, path, handler, keyed in ROUTES:
        app.add_api_route(path, handler, methods=[method], dependencies=[Depends(authorise)] if keyed else [])
    return app


def serve(specs: list[str], load, host: str = "127.0.0.1", port: int = 8000, limits: Limits | None = None,
          api_key: str | None = None, threads: int | None = None) -> None:
    import uvicorn
    from rich.console import Console

    limits = limits or Limits()
    console = Console(stderr=True)
    models = load_models(specs, limits, load, threads)
    app = create_app(models, limits, api_key)
    console.print(f"domaintune serve: http://{host}:{port}  (docs: http://{host}:{port}/docs)", highlight=False)
    for m in models.values():
        i = m.info
        extra = f"dimension {i['dimension']}" if "dimension" in i else f"{len(i.get('labels') or [])} labels"
        console.print(f"  model {m.name}: {i['task']} ({m.capability.value}), {i['backend']} {i['precision']}, "
                      f"max length {i['max_length']} tokens, {extra}  <- {i['path']}", highlight=False)
    console.print(f"  limits: {limits.max_inputs} texts per request, {limits.max_chars} characters per text, "
                  f"{limits.max_bytes} bytes per body; queue {limits.max_queue} texts per model (429 beyond); "
                  f"batches of up to {limits.batch_tokens} tokens "
                  f"({'dynamic batching' if limits.batch_tokens else 'one request at a time'}); "
                  f"over-length texts {'truncated' if limits.truncate else 'refused'} unless the request says",
                  highlight=False)
    console.print(f"  API key {'required' if api_key else 'not required'}; Ctrl-C drains in-flight requests and stops",
                  highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=30)
