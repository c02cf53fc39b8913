"""The server's `/metrics`, in Prometheus' text format (prometheus-client), one registry per app:

- `domaintune_requests_total{route, status}`: requests answered, by route and HTTP status (errors included);
- `domaintune_request_duration_seconds{route}`: a histogram of the time from the request's arrival to its answer;
- `domaintune_queue_texts{model}`: texts waiting or running on the model's queue, read at scrape time;
- `domaintune_batch_texts{model}`, `domaintune_batch_tokens{model}`: histograms of one model call's size
  (dynamic batching joins requests; these show how much);
- `domaintune_batch_duration_seconds{model}`: a histogram of the model call itself;
- `domaintune_texts_total{model}`, `domaintune_tokens_total{model}`: texts and tokens run through each model
  (tokens as counted for batching: capped at the model's maximum length).

Routes are labelled by the app's own paths; any other path counts as "other", so a scanner trying URLs cannot
grow the label set without bound.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TEXT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
TOKEN_BUCKETS = (8, 32, 128, 512, 1024, 2048, 4096, 8192, 16384, 32768)


class ServerMetrics:
    def __init__(self, paths: set[str]):
        self.paths = paths
        self.registry = r = CollectorRegistry()
        self.requests = Counter("domaintune_requests", "Requests answered, by route and HTTP status",
                                ["route", "status"], registry=r)
        self.duration = Histogram("domaintune_request_duration_seconds", "Seconds from a request's arrival to its "
                                  "answer", ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue = Gauge("domaintune_queue_texts", "Texts waiting or running on a model's queue", ["model"],
                           registry=r)
        self.batch_texts = Histogram("domaintune_batch_texts", "Texts in one model call (dynamic batching)",
                                     ["model"], buckets=TEXT_BUCKETS, registry=r)
        self.batch_tokens = Histogram("domaintune_batch_tokens", "Tokens in one model call", ["model"],
                                      buckets=TOKEN_BUCKETS, registry=r)
        self.batch_seconds = Histogram("domaintune_batch_duration_seconds", "Seconds of one model call", ["model"],
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.texts = Counter("domaintune_texts", "Texts run through a model", ["model"], registry=r)
        self.tokens = Counter("domaintune_tokens", "Tokens run through a model (capped at its maximum length)",
                              ["model"], registry=r)

    def watch_queue(self, model: str, pending) -> None:
        """The gauge reads `pending()` when scraped: no bookkeeping on the request path."""
        self.queue.labels(model).set_function(pending)

    def observe_batch(self, model: str, texts: int, tokens: int, seconds: float) -> None:
        self.batch_texts.labels(model).observe(texts)
        self.batch_tokens.labels(model).observe(tokens)
        self.batch_seconds.labels(model).observe(seconds)
        self.texts.labels(model).inc(texts)
        self.tokens.labels(model).inc(tokens)

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        route = path if path in self.paths else "other"
        self.requests.labels(route, str(status)).inc()
        self.duration.labels(route).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestMetricsMiddleware:
    """Plain ASGI middleware (no per-request task, unlike Starlette's BaseHTTPMiddleware): the status of the
    response it sends, the time to its last byte, and a 500 for an exception nothing below answered."""

    def __init__(self, app, metrics: ServerMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t, status = time.perf_counter(), 500

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe_request(scope["path"], status, time.perf_counter() - t)
