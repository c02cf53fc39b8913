"""Embedding throughput, side by side in one run: sentence-transformers' torch `encode` vs domaintune's torch
predictor vs the exports of `domaintune export` (ONNX fp32 / int8 through onnxruntime, OpenVINO fp32 / int8).

Corpora: the 2,758 STS benchmark test sentences and the 3,039 ESCO occupation titles (both shipped). Every system
encodes in batches of 32 with 2 threads, in its own subprocess (so peak memory is its own; whether torch was
imported is recorded: the exported systems do not import it). Reported: sentences/s (best of 3 passes), peak RSS,
STSb test Spearman, the ratio of each to sentence-transformers, each export's worst and 1st-percentile cosine to
torch (its parity record) and its batch dependence (a text alone vs in a batch); two more ONNX int8 routes (the
dynamic graph batched, static QDQ scales); the static model of `domaintune distill`, with the run's own
evaluators beside the model's. Then where the int8 exports spend their time: tokenising, padding, the graph,
the second thread.

    python bench/inference.py [--model all-MiniLM-L6-v2 | runs/demo/model] [--out bench/out/inference]
                              [--vocabulary-from auto | FILE]
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
# ONNX int8 routes besides the export's own (dynamic scales, one text per call), from the same graphs: the
# dynamic graph batched as before issue 26 (faster, batch-dependent), and static (calibrated) QDQ scales
ROUTES = {"ONNX int8, batched (batch-dependent)": "batched", "ONNX int8, static QDQ": "static"}
STATIC = "static model (model2vec)"
SYSTEMS = ["sentence-transformers torch", "domaintune torch", *EXPORTS, *ROUTES, STATIC]


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
    result["batch_dependence"] = batch_dependence(system, model, folder)
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
    for system, route in ROUTES.items():
        folder = system_folder(out, system)
        if not (folder / "model.onnx").exists():
            print(f"quantising {system} ...", flush=True)
            quantise_route(out, folder, route)
    return records


def quantise_route(out: Path, folder: Path, route: str) -> None:
    """A copy of an export with another int8 route: the dynamic int8 graph batched (rows_per_call dropped), or the
    fp32 graph with static QDQ scales calibrated as OpenVINO's are (feed-forward down-projections in fp32)."""
    import shutil

    if route == "batched":
        shutil.copytree(out / "onnx-int8", folder)
        record = json.loads((folder / "domaintune_export.json").read_text())
        (folder / "domaintune_export.json").write_text(json.dumps({**record, "rows_per_call": None}))
        return
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from transformers import PreTrainedTokenizerFast

    from domaintune.deploy.export import ACTIVATIONS, calibration_feeds

    fp32 = out / "onnx-none"
    shutil.copytree(fp32, folder)
    record = json.loads((folder / "domaintune_export.json").read_text())
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(fp32))
    feeds = iter(list(calibration_feeds(tokenizer, record["meta"]["max_length"])))

    class Feeds(CalibrationDataReader):
        def get_next(self):
            return next(feeds, None)

    graph = onnx.load(str(fp32 / "model.onnx")).graph
    producer = {o: n for n in graph.node for o in n.output}
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[0] in producer
            and any(a in producer[n.input[0]].op_type for a in ACTIVATIONS)]
    quantize_static(str(fp32 / "model.onnx"), str(folder / "model.onnx"), Feeds(), quant_format=QuantFormat.QDQ,
                    per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                    op_types_to_quantize=["MatMul"], nodes_to_exclude=keep)
    (folder / "domaintune_export.json").write_text(json.dumps({**record, "precision": "int8"}))


def distil(model: str, out: Path, vocabulary_from: str | None) -> dict:
    """The static model, with the words of `vocabulary_from` (auto: the run's training pairs, when the model sits
    in a run folder) in its vocabulary; its record, with the run's own evaluators beside the model's."""
    from domaintune.api import distill
    from domaintune.models import resolve_model

    folder = out / "static"
    if not (folder / "distill.json").exists():
        source = Path(resolve_model(model)[0])
        train = source.parent / "data" / "train.csv"
        if vocabulary_from == "auto":
            vocabulary_from = None
            if train.exists():
                import pandas as pd

                pairs = pd.read_csv(train, dtype=str, keep_default_na=False)
                vocabulary_from = out / "domain_texts.txt"
                vocabulary_from.write_text("\n".join(t.replace("\n", " ") for t in pairs.text_a.tolist()
                                                     + pairs.text_b.tolist()))
        print("distilling the static model ...", flush=True)
        distill(source, folder, vocabulary_from)
    return json.loads((folder / "distill.json").read_text())


def batch_dependence(system: str, model: str, folder: Path) -> float:
    """The largest 1 - cosine of a text embedded alone vs in a batch of short texts vs beside a long one."""
    import numpy as np

    encode = encoder(system, model, folder)
    long = "a registered nurse working nights in a large city hospital, with patients of every age " * 4
    worst = 0.0
    for text in ("data scientist", "welder", "A man is playing a guitar.", "How do you do that?"):
        alone = encode([text])[0]
        for batch, at in ((["nurse", text, "baker", "a welder in a shipyard"], 1), ([long, text], 1)):
            other = encode(batch)[at]
            worst = max(worst, 1 - float(alone @ other / (np.linalg.norm(alone) * np.linalg.norm(other))))
    return worst


def system_folder(out: Path, system: str) -> Path:
    if system in ROUTES:
        return out / f"onnx-int8-{ROUTES[system]}"
    if system == STATIC:
        return out / "static"
    fmt, q = EXPORTS.get(system, ("", ""))
    return out / f"{fmt}-{q}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "inference")
    ap.add_argument("--vocabulary-from", default="auto", help="domain text for the static model's vocabulary "
                    "(auto: the run's training pairs when the model is RUN/model)")
    ap.add_argument("--system", help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.system:
        run_system(args.system, args.model, args.folder, args.out)
        return
    records = export_all(args.model, args.out)
    static = distil(args.model, args.out, args.vocabulary_from)
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
               "export_parity": {s: r["parity"] for s, r in records.items()}, "static_model": static,
               "where_time_goes": {s: where_time_goes(system_folder(args.out, s))
                                   for s in ("ONNX int8", "OpenVINO int8")},
               "matmul_gflops": matmul_ceiling(THREADS)}
    (args.out / "inference.json").write_text(json.dumps(summary, indent=2))
    print(f"\nmodel {args.model}, batch {BATCH}, {THREADS} threads; fp32 matmul ceiling "
          f"{summary['matmul_gflops']['1024x1024x1024']} GFLOP/s\n")
    print("| system | STSb test sent/s | ratio | ESCO titles sent/s | ratio | peak RSS MiB | STSb test Spearman "
          "| change (points) | worst / 1st-percentile cosine vs torch | batch dependence (1 - cos) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s, r in results.items():
        sps, ratio = r["sentences_per_second"], r["ratio"]
        agreement = records[s]["parity"]["agreement"] if s in records else {}
        worst = f"{agreement['worst_cosine']} / {agreement.get('p1_cosine', '–')}" if agreement else "–"
        print(f"| {s} | {sps['stsb_test']:.0f} | {ratio['stsb_test']:.2f}x | {sps['esco_titles']:.0f} | "
              f"{ratio['esco_titles']:.2f}x | {r['peak_rss_mib']:.0f} | {r['stsb_test_spearman']:.4f} | "
              f"{r['spearman_change_points']:+.2f} | {worst} | {r['batch_dependence']:.1e} |")
    print(f"\nstatic model: {static['dimension']} dimensions, {static['vocabulary_words_added']} domain words; "
          f"beside the model on {static['data']}:")
    for name, m in static["evaluation"].items():
        print(f"  {name} {m['metric']}: model {m['model']:.4f}, static {m['static']:.4f} "
              f"({100 * m['retained']:.1f}% kept)")
    for s, w in summary["where_time_goes"].items():
        print(f"\nwhere {s}'s time goes (STSb test): {json.dumps(w)}")


if __name__ == "__main__":
    main()
