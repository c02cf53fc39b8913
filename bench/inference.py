"""Embedding throughput, side by side in one run: sentence-transformers' torch `encode` vs domaintune's torch
predictor vs the exports of `domaintune export` (ONNX fp32 / int8 through onnxruntime, OpenVINO fp32 / int8).

Corpora: the 2,758 STS benchmark test sentences and the 3,039 ESCO occupation titles (both shipped). Every system
encodes in batches of 32 with 2 threads, in its own subprocess (so peak memory is its own; whether torch was
imported is recorded: the exported systems do not import it). Reported: sentences/s (best of 3 passes), peak RSS,
STSb test Spearman, and the ratio of each to sentence-transformers; three more ONNX int8 routes (S8 per tensor,
S8 per channel in 8 bits, U8U8). Then where the int8 exports spend their time: tokenising, padding, the graph,
the second thread.

    python bench/inference.py [--model all-MiniLM-L6-v2 | runs/demo/model] [--out bench/out/inference]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _machine import matmul_ceiling, peak_rss_mib  # noqa: E402

BATCH, THREADS, PASSES = 32, 2, 3
EXPORTS = {"ONNX fp32": ("onnx", "none"), "ONNX int8": ("onnx", "int8"), "OpenVINO fp32": ("openvino", "none"),
           "OpenVINO int8": ("openvino", "int8")}
# ONNX int8 routes besides the export's own (S8 weights per channel, 7-bit), quantised here from the fp32 export's
# optimised graph: on AVX2 without VNNI, which of S8S8, U8U8 and reduce_range runs fastest matters
ROUTES = {"ONNX int8 S8 per-channel, 8-bit": {"weight_type": "QInt8", "per_channel": True},
          "ONNX int8 S8 per-tensor, 8-bit": {"weight_type": "QInt8"},
          "ONNX int8 U8U8 per-channel": {"weight_type": "QUInt8", "per_channel": True}}
SYSTEMS = ["sentence-transformers torch", "domaintune torch", *EXPORTS, *ROUTES]


def corpora():
    import pandas as pd

    from domaintune.core.resources import load_stsb, resource_path

    stsb = load_stsb("test")
    esco = pd.read_csv(resource_path("esco_occupations_en.csv.gz"), dtype=str, keep_default_na=False)
    return stsb, {"stsb_test": stsb.text_a.tolist() + stsb.text_b.tolist(), "esco_titles":
                  esco.preferred_label.tolist()}


def encoder(system: str, model: str, folder: Path):
    """texts -> embeddings, for one system."""
    if system == "sentence-transformers torch":
        import torch
        from sentence_transformers import SentenceTransformer

        from domaintune.models import resolve_model

        torch.set_num_threads(THREADS)
        st = SentenceTransformer(resolve_model(model)[0], device="cpu")
        return lambda texts: st.encode(texts, batch_size=BATCH, convert_to_numpy=True, show_progress_bar=False)
    if system == "domaintune torch":
        import torch

        from domaintune import registry

        torch.set_num_threads(THREADS)
        predictor = registry.load_model(model)
        return lambda texts: predictor.predict(texts, batch_size=BATCH)
    from domaintune import registry

    predictor = registry.load_model(folder, THREADS)
    return lambda texts: predictor.predict(texts, batch_size=BATCH)


def run_system(system: str, model: str, folder: Path, out: Path) -> None:
    import numpy as np
    from scipy.stats import spearmanr

    stsb, texts = corpora()
    encode = encoder(system, model, folder)
    encode(texts["stsb_test"][:64])  # warm-up: first-call allocations, graph compilation
    result = {"system": system, "sentences_per_second": {}}
    for name, corpus in texts.items():
        best = float("inf")
        for _ in range(PASSES):
            t = time.perf_counter()
            emb = encode(corpus)
            best = min(best, time.perf_counter() - t)
        result["sentences_per_second"][name] = round(len(corpus) / best, 1)
        if name == "stsb_test":
            n = len(stsb)
            a, b = emb[:n], emb[n:]
            cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            result["stsb_test_spearman"] = round(float(spearmanr(cos, stsb.score).statistic), 4)
    result["peak_rss_mib"] = peak_rss_mib()
    result["torch_imported"] = "torch" in sys.modules  # the exported systems must not need it
    (out / f"{system.replace(' ', '_')}.json").write_text(json.dumps(result, indent=2))


def where_time_goes(folder: Path) -> dict:
    """One export on the STSb test sentences: tokenising, padding and the graph, each timed alone; the graph also
    on 1 thread (how the second core pays)."""
    from domaintune import registry
    from domaintune.core.batching import padded_arrays

    _, texts = corpora()
    texts = texts["stsb_test"]
    out = {"texts": len(texts)}
    for threads in (THREADS, 1):
        predictor = registry.load_model(folder, threads)
        predictor.predict(texts[:64])
        t = time.perf_counter()
        ids, _ = predictor.tokenize(texts)
        tokenise = time.perf_counter() - t
        batches = list(padded_arrays(ids, BATCH, predictor.tokenizer.pad_token_id or 0))
        t = time.perf_counter()
        for _, input_ids, mask in batches:
            predictor.graph(input_ids, mask)
        out[f"graph_seconds_{threads}_threads"] = round(time.perf_counter() - t, 3)
        if threads == THREADS:
            graph = out[f"graph_seconds_{threads}_threads"]
            real, padded = sum(len(x) for x in ids), sum(b[1].size for b in batches)
            out.update({"tokenise_seconds": round(tokenise, 3),
                        "tokenise_share": round(tokenise / (tokenise + graph), 3),
                        "real_tokens": real, "padded_tokens": padded, "padding_share": round(1 - real / padded, 3),
                        "graph_tokens_per_second": round(padded / graph)})
    out["second_thread_speedup"] = round(out["graph_seconds_1_threads"] / out[f"graph_seconds_{THREADS}_threads"], 2)
    return out


def export_all(model: str, out: Path) -> dict:
    from domaintune.api import export as export_model
    from domaintune.models import resolve_model

    source = resolve_model(model)[0]
    records = {}
    for system, (fmt, quantize) in EXPORTS.items():
        folder = out / f"{fmt}-{quantize}"
        if not (folder / "export.json").exists():
            print(f"exporting {system} ...", flush=True)
            export_model(source, folder, fmt, quantize, force=True, parity_texts=500)
        records[system] = json.loads((folder / "export.json").read_text())
    for route, options in ROUTES.items():
        folder = out / route.replace(" ", "_")
        if not (folder / "model.onnx").exists():
            print(f"quantising {route} ...", flush=True)
            quantise_route(out / "onnx-none", folder, options)
    return records


def quantise_route(fp32: Path, folder: Path, options: dict) -> None:
    """A copy of the fp32 ONNX export whose graph is quantised with other `quantize_dynamic` options."""
    import shutil

    from onnxruntime.quantization import QuantType, quantize_dynamic

    shutil.copytree(fp32, folder)
    options = {**options, "weight_type": getattr(QuantType, options["weight_type"])}
    quantize_dynamic(str(fp32 / "model.onnx"), str(folder / "model.onnx"), **options)
    record = json.loads((folder / "domaintune_export.json").read_text())
    (folder / "domaintune_export.json").write_text(json.dumps({**record, "precision": "int8"}))


def system_folder(out: Path, system: str) -> Path:
    if system in ROUTES:
        return out / system.replace(" ", "_")
    fmt, q = EXPORTS.get(system, ("", ""))
    return out / f"{fmt}-{q}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "inference")
    ap.add_argument("--system", help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.system:
        run_system(args.system, args.model, args.folder, args.out)
        return
    records = export_all(args.model, args.out)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1",
           "OMP_NUM_THREADS": str(THREADS)}
    results = {}
    for system in SYSTEMS:
        print(f"encoding with {system} ...", flush=True)
        subprocess.run([sys.executable, __file__, "--system", system, "--model", args.model, "--out", str(args.out),
                        "--folder", str(system_folder(args.out, system))], check=True, env=env)
        results[system] = json.loads((args.out / f"{system.replace(' ', '_')}.json").read_text())
    base = results["sentence-transformers torch"]
    for r in results.values():
        r["ratio"] = {k: round(v / base["sentences_per_second"][k], 2) for k, v in r["sentences_per_second"].items()}
        r["spearman_change_points"] = round(100 * (r["stsb_test_spearman"] - base["stsb_test_spearman"]), 2)
    summary = {"model": args.model, "batch": BATCH, "threads": THREADS, "systems": results,
               "export_parity": {s: r["parity"] for s, r in records.items()},
               "where_time_goes": {s: where_time_goes(system_folder(args.out, s))
                                   for s in ("ONNX int8", "OpenVINO int8")},
               "matmul_gflops": matmul_ceiling(THREADS)}
    (args.out / "inference.json").write_text(json.dumps(summary, indent=2))
    print(f"\nmodel {args.model}, batch {BATCH}, {THREADS} threads; fp32 matmul ceiling "
          f"{summary['matmul_gflops']['1024x1024x1024']} GFLOP/s\n")
    print("| system | STSb test sent/s | ratio | ESCO titles sent/s | ratio | peak RSS MiB | STSb test Spearman "
          "| change (points) | worst cosine vs torch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s, r in results.items():
        sps, ratio = r["sentences_per_second"], r["ratio"]
        worst = records[s]["parity"]["agreement"]["worst_cosine"] if s in records else "–"
        print(f"| {s} | {sps['stsb_test']:.0f} | {ratio['stsb_test']:.2f}x | {sps['esco_titles']:.0f} | "
              f"{ratio['esco_titles']:.2f}x | {r['peak_rss_mib']:.0f} | {r['stsb_test_spearman']:.4f} | "
              f"{r['spearman_change_points']:+.2f} | {worst} |")
    for s, w in summary["where_time_goes"].items():
        print(f"\nwhere {s}'s time goes (STSb test): {json.dumps(w)}")


if __name__ == "__main__":
    main()
