"""Load on `domaintune serve`, bounded in requests and in time, on loopback only.

Starts the server (127.0.0.1, a free port) on an exported embedding model, then runs concurrent clients that each
send one text per request to `/v1/embeddings`, with dynamic batching on (the default token budget) and off
(`--batch-tokens 0`: one request per model call). Reported per phase: requests/s, texts/s, p50/p95/p99 latency
and errors; the ratio of texts/s with batching to without, at the same concurrency; and one client alone.

    python bench/serve_load.py [--model EXPORT ...] [--requests 10000] [--clients 32]

Without --model it exports all-MiniLM-L6-v2 to OpenVINO int8 and to ONNX int8 (bench/out/serve_load/) and loads
each in turn.
The clients are keep-alive connections over asyncio streams in one process (see Connection); the server and the
clients share the 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import free_port  # noqa: E402


def texts() -> list[str]:
    """Job titles as a search box would send them: ESCO alternative labels, shuffled."""
    import random

    import pandas as pd

    from domaintune.core.resources import resource_path

    esco = pd.read_csv(resource_path("esco_occupations_en.csv.gz"), dtype=str, keep_default_na=False)
    out = [a for cell in esco.alt_labels for a in cell.split("\n") if a]
    random.Random(0).shuffle(out)
    return out


class Server:
    def __init__(self, model: Path, batch_tokens: int, threads: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "domaintune", "serve", str(model), "--host", "127.0.0.1", "--port", str(self.port),
             "--batch-tokens", str(batch_tokens), "--threads", str(threads), "--max-queue", "100000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {self.proc.stderr.read()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        raise SystemExit("server did not start in 120 s")

    def stop(self) -> None:
        self.proc.terminate()  # SIGTERM: uvicorn drains in-flight requests, then exits
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Connection:
    """One keep-alive HTTP/1.1 connection over asyncio streams.

    Written by hand on purpose: on 2 shared cores, httpx's per-request CPU in the client (about 1 ms) was of the
    order of the server's own work and would be measured instead of the server. This sends a prepared request and
    reads one response (Content-Length framing, which uvicorn uses for these JSON answers); nothing else."""

    def __init__(self, host: str, port: int):
        self.host, self.port, self.reader, self.writer = host, port, None, None

    async def post(self, path: str, payload: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def load(url: str, pool: list[str], requests: int, clients: int, seconds: float) -> dict:
    """`clients` concurrent connections, one text per request, until `requests` are sent or `seconds` pass."""
    host, port = url.split("//")[1].split(":")
    payloads = [json.dumps({"input": t}).encode() for t in pool]
    latencies, errors, sent = [], [], 0
    deadline = time.perf_counter() + seconds

    async def client():
        nonlocal sent
        conn = Connection(host, int(port))
        try:
            while sent < requests and time.perf_counter() < deadline:
                payload = payloads[sent % len(payloads)]
                sent += 1
                t = time.perf_counter()
                try:
                    status, body = await conn.post("/v1/embeddings", payload)
                    if status != 200 or b'"embedding":[' not in body:
                        errors.append(f"{status} {body[:200]!r}")
                except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                    errors.append(repr(e))
                    conn.close()
                    conn = Connection(host, int(port))
                latencies.append(time.perf_counter() - t)
        finally:
            conn.close()

    warm = Connection(host, int(port))
    await warm.post("/v1/embeddings", json.dumps({"input": pool[:8]}).encode())
    warm.close()
    t = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - t
    lat = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(latencies), "seconds": round(elapsed, 1),
            "requests_per_second": round(len(latencies) / elapsed, 1),
            "texts_per_second": round(len(latencies) / elapsed, 1),
            "latency_ms": {p: round(float(np.percentile(lat, q)), 1) for p, q in
                           (("p50", 50), ("p95", 95), ("p99", 99))},
            "errors": len(errors), "first_errors": errors[:3]}


def phase(model: Path, batch_tokens: int, threads: int, pool, requests, clients, seconds) -> dict:
    server = Server(model, batch_tokens, threads)
    try:
        result = asyncio.run(load(server.url, pool, requests, clients, seconds))
        result["batches"] = httpx.get(server.url + "/health").json()["served"]
    finally:
        server.stop()
    return result


def default_models(out: Path) -> list[Path]:
    """all-MiniLM-L6-v2 exported to OpenVINO int8 (the default export) and ONNX int8."""
    from domaintune.api import export as export_model
    from domaintune.models import resolve_model

    folders = []
    for fmt in ("openvino", "onnx"):
        folder = out / f"{fmt}-int8"
        if not (folder / "export.json").exists():
            print(f"exporting all-MiniLM-L6-v2 to {fmt} int8 ...", flush=True)
            export_model(resolve_model("all-MiniLM-L6-v2")[0], folder, fmt, "int8", parity_texts=500)
        folders.append(folder)
    return folders


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, action="append", help="an exported embedding model (repeatable; default: "
                    "all-MiniLM-L6-v2 as OpenVINO int8 and as ONNX int8)")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "serve_load")
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=180, help="time bound of each phase")
    ap.add_argument("--threads", type=int, default=2, help="the model's threads in the server")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pool = texts()
    summary = {}
    for model in args.model or default_models(args.out):
        results = {}
        plan = [("batching on", 8192, args.clients, args.requests),
                ("batching off", 0, args.clients, args.requests),
                ("one client, batching on", 8192, 1, min(args.requests, 2000))]
        for name, budget, clients, requests in plan:
            print(f"{model.name}, {name}: {clients} clients, up to {requests} requests or {args.seconds:.0f} s ...",
                  flush=True)
            results[name] = phase(model, budget, args.threads, pool, requests, clients, args.seconds)
        on, off = results["batching on"], results["batching off"]
        summary[model.name] = {"model": str(model), "phases": results,
                               "batching_speedup": round(on["texts_per_second"] / off["texts_per_second"], 2),
                               "errors": sum(r["errors"] for r in results.values())}
    (args.out / "serve_load.json").write_text(json.dumps(summary, indent=2))
    print("\n| model | phase | clients | requests | errors | requests/s | texts/s | p50 ms | p95 ms | p99 ms "
          "| model calls |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, s in summary.items():
        for ph, r in s["phases"].items():
            lat = r["latency_ms"]
            calls = sum(v["batches"] for v in r["batches"].values())
            print(f"| {name} | {ph} | {r['clients']} | {r['requests']} | {r['errors']} | {r['requests_per_second']} "
                  f"| {r['texts_per_second']} | {lat['p50']} | {lat['p95']} | {lat['p99']} | {calls} |")
    for name, s in summary.items():
        print(f"{name}: dynamic batching gives {s['batching_speedup']}x the texts/s of one request per model call "
              f"({args.clients} clients); errors {s['errors']}")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
