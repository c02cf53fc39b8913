"""Which layers cause OpenVINO int8's outliers (issue 26), one run: NNCF's quantisation of a model with groups of
MatMuls kept in fp32 (ignored scope: the attention's Q/K/V, its output, the feed-forward up- and down-projections,
the attention products, each layer in turn), another preset, and SmoothQuant's strength; for each, the worst,
1st-percentile and mean cosine to torch on 2,000 texts (1,000 ESCO titles, 1,000 STS benchmark test sentences)
and titles/s, sentences/s at batch 32 on 2 threads. deploy/export.py uses the last variant.

    python bench/int8_outliers.py --model runs/demo/model [--only "default,fp32 ffn_down"]

Results: bench/out/int8_outliers/result-*.json and the terminal.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import nncf
import numpy as np
import openvino as ov
import pandas as pd
from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters

from domaintune.core.resources import load_stsb, resource_path
from domaintune.deploy.export import calibration_feeds, quiet, to_onnx
from domaintune.deploy.runtime import OpenVinoGraph
from domaintune.embedding.predictor import Embedder, ExportedEmbedder

ROLES = ("qkv", "attn_out", "ffn_up", "ffn_down", "sdpa")


def roles(model) -> tuple[dict[str, list[str]], dict[str, int]]:
    """MatMul names by role, and each one's layer: a weight-free MatMul is an attention product; with weights, one
    widening the features is the feed-forward up-projection, one narrowing them the down-projection, three reading
    the same input Q/K/V (a new layer), the other the attention output."""
    out: dict[str, list[str]] = {r: [] for r in ROLES}
    layer_of: dict[str, int] = {}
    layer = -1
    for op in model.get_ordered_ops():
        if op.get_type_name() != "MatMul":
            continue
        name, weight = op.get_friendly_name(), op.input_value(1).get_node()
        if weight.get_type_name() not in ("Constant", "Convert"):
            role = "sdpa"
        else:
            shape = list(weight.get_output_shape(0))
            width_in, width_out = (shape[1], shape[0]) if op.get_transpose_b() else (shape[0], shape[1])
            readers = sum(t.get_node().get_type_name() == "MatMul" for t in op.input_value(0).get_target_inputs())
            role = ("ffn_up" if width_out > width_in else "ffn_down" if width_in > width_out
                    else "qkv" if readers >= 3 else "attn_out")
        if role == "qkv" and len(out["qkv"]) % 3 == 0:
            layer += 1
        out[role].append(name)
        layer_of[name] = layer
    return out, layer_of


def smoothquant(alpha: float) -> AdvancedQuantizationParameters:
    return AdvancedQuantizationParameters(smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=alpha))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "int8_outliers")
    ap.add_argument("--only", help="comma-separated variant names")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    emb = Embedder(args.model)
    module, meta, tok = emb.export_graph(), emb.export_meta(), emb.tokenizer
    titles = pd.read_csv(resource_path("esco_occupations_en.csv.gz"), dtype=str).preferred_label.tolist()[:1000]
    stsb = load_stsb("test")
    sents = (stsb.text_a.tolist() + stsb.text_b.tolist())[:1000]
    texts = titles + sents
    ref = emb.encode(texts, batch_size=32)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    raw = args.out / "raw.onnx"
    with quiet():
        to_onnx(module, tok, raw, module.output_name)
    by_role, layer_of = roles(ov.convert_model(str(raw)))
    print({k: len(v) for k, v in by_role.items()}, flush=True)
    feeds = list(calibration_feeds(tok, meta["max_length"]))

    def quantize(ignored: list[str] | None = None, **kw):
        with quiet():
            return nncf.quantize(ov.convert_model(str(raw)), nncf.Dataset(feeds), model_type=nncf.ModelType.TRANSFORMER,
                                 subset_size=len(feeds), ignored_scope=nncf.IgnoredScope(names=ignored) if ignored
                                 else None, **kw)

    def speed(predictor, ts: list[str]) -> float:
        predictor.encode(ts[:64], batch_size=32)
        best = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            predictor.encode(ts, batch_size=32)
            best = min(best, time.perf_counter() - t)
        return round(len(ts) / best, 1)

    def evaluate(model, name: str) -> dict:
        path = args.out / f"{name.replace(' ', '-')}.xml"
        ov.save_model(model, str(path), compress_to_fp16=False)
        predictor = ExportedEmbedder(OpenVinoGraph(path, 2), tok, meta, {"task": "similarity", "path": str(path)})
        e = predictor.encode(texts, batch_size=32)
        cos = (ref * e).sum(1) / np.linalg.norm(e, axis=1)
        return {"worst": round(float(cos.min()), 4), "p1": round(float(np.percentile(cos, 1)), 4),
                "mean": round(float(cos.mean()), 5), "worst_titles": round(float(cos[:len(titles)].min()), 4),
                "worst_texts": [texts[i] for i in np.argsort(cos)[:3]], "titles_per_s": speed(predictor, titles[:500]),
                "sents_per_s": speed(predictor, sents[:500])}

    variants = {
        "default": lambda: quantize(),
        **{f"fp32 {r}": (lambda r=r: quantize(by_role[r])) for r in ROLES},
        **{f"fp32 layer {i}": (lambda i=i: quantize([n for n, at in layer_of.items() if at == i]))
           for i in sorted(set(layer_of.values()))},
        "preset mixed": lambda: quantize(preset=nncf.QuantizationPreset.MIXED),
        "smoothquant 0.5": lambda: quantize(advanced_parameters=smoothquant(0.5)),
        "smoothquant off": lambda: quantize(advanced_parameters=smoothquant(-1)),
        "smoothquant off + fp32 ffn_down": lambda: quantize(by_role["ffn_down"], advanced_parameters=smoothquant(-1)),
        "smoothquant 0.5 + fp32 ffn_down": lambda: quantize(by_role["ffn_down"], advanced_parameters=smoothquant(0.5)),
    }
    results = {}
    for name, make in variants.items():
        if args.only and name not in args.only.split(","):
            continue
        t = time.perf_counter()
        results[name] = {**evaluate(make(), name), "seconds": round(time.perf_counter() - t, 1)}
        print(name, json.dumps(results[name]), flush=True)
    (args.out / f"result-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
