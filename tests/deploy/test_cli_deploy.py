"""`domaintune export` and `domaintune serve` as a user runs them: one-line errors, the real uvicorn server on
loopback, and Ctrl-C draining the requests in flight."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import httpx

from tests.conftest import free_port
from tests.test_cli import ENV, assert_one_line_error, cli


def test_export_cli_writes_a_folder_and_prints_the_parity(tiny_bert, tmp_path):
    res = cli("export", tiny_bert, "-o", tmp_path / "x", "--format", "onnx", "--quantize", "none",
              "--parity-texts", "50")
    assert res.returncode == 0, res.stderr[-2000:]
    out = " ".join(res.stdout.split())
    assert f"wrote {tmp_path / 'x'} (onnx, fp32" in out and "worst drop 0.00 points (tolerance 0.5)" in out
    assert json.loads((tmp_path / "x" / "export.json").read_text())["parity"]["agreement"]["texts"] == 50


def test_export_and_serve_cli_bad_input_is_one_line(tiny_bert, exported_embedder, tmp_path):
    assert_one_line_error(cli("export", tmp_path / "nope", "-o", tmp_path / "x"), "not a model folder")
    assert_one_line_error(cli("export", tiny_bert, "-o", exported_embedder[1]), "exists; pass --overwrite")
    assert_one_line_error(cli("export", tiny_bert, "-o", tmp_path / "x", "--format", "tflite"), "unknown format")
    assert_one_line_error(cli("serve", f"a={exported_embedder[1]}", f"a={exported_embedder[1]}"),
                          "a second model named 'a'")


def test_serve_answers_on_loopback_and_ctrl_c_drains_requests_in_flight(exported_embedder):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "domaintune", "serve", str(exported_embedder[1]), "--port",
                             str(port), "--max-inputs", "256"], env=ENV, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        r = httpx.post(url + "/v1/embeddings", json={"input": ["nurse"]})
        assert r.status_code == 200 and len(r.json()["data"][0]["embedding"]) == 32
        n, texts = 6, [f"{'a long job title ' * 30} {i}" for i in range(256)]  # 128 tokens each
        results, ready = [], threading.Barrier(n + 1)

        def request():
            with httpx.Client(base_url=url, timeout=120) as client:
                client.get("/health")  # the connection is open and accepted before Ctrl-C
                ready.wait()
                results.append(client.post("/embed", json={"inputs": texts}))

        threads = [threading.Thread(target=request) for _ in range(n)]
        for t in threads:
            t.start()
        ready.wait()
        queued = 0
        while any(t.is_alive() for t in threads):  # Ctrl-C once every request has arrived and some still wait
            health = httpx.get(url + "/health").json()
            queued = sum(health["queued_texts"].values())
            answered = sum(m["texts"] for m in health["served"].values()) - 1  # less the first request's one
            if queued + answered >= n * len(texts):
                break
        proc.send_signal(signal.SIGINT)
        for t in threads:
            t.join(timeout=120)
        assert queued > 0, "no request was in flight when Ctrl-C came"
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    stderr = proc.stderr.read()
    assert f"http://127.0.0.1:{port}" in stderr and "limits: 256 texts per request" in stderr
    assert [r.status_code for r in results] == [200] * n  # every request in flight was answered
    assert all(len(r.json()) == 256 for r in results)
