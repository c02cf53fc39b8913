"""`domaintune export MODEL -o DIR --format onnx|openvino [--quantize int8]`, top to bottom:

1. take the predictor's `export_graph()` (any task's predictor, loaded by the caller: api.export): one torch
   module, (input_ids, attention_mask) -> embedding or logits, pooling / normalisation / head inside;
2. `torch.onnx.export` (the dynamo exporter: the TorchScript one mis-traces transformers 5's BERT by up to 0.1
   in cosine), with batch and sequence length dynamic;
3. ONNX: onnxruntime's own transformer optimiser, then for int8 `quantize_dynamic` (S8 weights per channel,
   7-bit; its activation scales cover the whole call, so the record tells the runtime to run one text per call:
   batch-independent); OpenVINO: `openvino.convert_model`, then `nncf.quantize` (int8 weights and activations,
   static scales calibrated on STS benchmark dev sentences, not the test ones the parity check scores; SmoothQuant
   0.5; the feed-forward down-projections kept in fp32);
4. tokenizer, the predictor's `export_meta()`, its marker files (`domaintune_*.json`), `domaintune_export.json`;
   where the predictor has a `token_states_graph()` (sentence-transformers models), also their own `onnx/` +
   `openvino/` layout (the bare transformer, as their backends expect);
5. the parity check (deploy/parity.py: the caller's evaluators and the predictor's agreement) on the folder as
   written, into `export.json` and the README; an export that loses more than `tolerance` points of a primary
   metric, or puts any text below `min_cosine` of its torch embedding, is refused unless `force`;
6. the folder is swapped into place whole (core/io.save_folder_atomically): a refused or failed export leaves
   nothing behind, and an existing folder is replaced only with `overwrite`.

The routes were measured on this project's CPU (AMD EPYC, AVX2, no VNNI): see docs/deploy.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import time
import warnings
from pathlib import Path

from domaintune.core.io import atomic_write_json, atomic_write_text, save_folder_atomically
from domaintune.deploy import parity
from domaintune.deploy.runtime import EXPORT_META, PARITY, load_exported
from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")

FORMATS = ("onnx", "openvino")
GRAPH_FILES = {"onnx": "model.onnx", "openvino": "model.xml"}
MARKERS = "domaintune_*.json"  # a saved model's own records (which task, labels, tags): copied as they are
ST_FILES = ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "config.json")
SAMPLE = ["A short sentence.", "A somewhat longer sentence, so that the batch carries some padding."]


def to_onnx(module, tokenizer, path: Path, output_name: str) -> None:
    import torch

    enc = tokenizer(SAMPLE, padding=True, return_tensors="pt")
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with torch.no_grad():
        torch.onnx.export(module.eval(), (enc["input_ids"], enc["attention_mask"]), str(path), dynamo=True,
                          input_names=["input_ids", "attention_mask"], output_names=[output_name],
                          dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
                          external_data=False, verbose=False)


def optimise_onnx(src: Path, dst: Path, config) -> None:
    """onnxruntime's transformer optimiser (fused LayerNorm / Gelu); a model it does not know is copied as is."""
    from onnxruntime.transformers.optimizer import optimize_model

    heads, hidden = getattr(config, "num_attention_heads", 0), getattr(config, "hidden_size", 0)
    try:
        optimize_model(str(src), model_type="bert", num_heads=heads, hidden_size=hidden).save_model_to_file(str(dst))
    except Exception as e:  # noqa: BLE001 (an optimiser failure must not stop the export: the graph is valid)
        log.warning("onnxruntime optimiser skipped (%s); the graph is exported unoptimised", e)
        shutil.copyfile(src, dst)


ACTIVATIONS = ("Gelu", "FastGelu", "BiasGelu", "Relu", "Swish", "HSwish", "Tanh", "Erf")


def quantize_onnx(src: Path, dst: Path) -> None:
    """Dynamic int8: S8 weights per channel in 7 bits (reduce_range: on AVX2 without VNNI the int8 kernels add
    pairs of u8 x s8 products in int16, which full-range weights can saturate; 7 bits cannot). Activation scales
    are computed per call over the whole batch, so the runtime runs this graph one text per call (ROWS_PER_CALL):
    measured on the demo model, that is both faster and closer to torch than static (calibrated) QDQ scales
    (docs/deploy.md)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)


def calibration_feeds(tokenizer, max_length: int, n: int = 320, batch: int = 16):
    """Token batches of STS benchmark dev sentences (not the test ones the parity check scores)."""
    from domaintune.core.resources import load_stsb

    df = load_stsb("dev")
    texts = (df.text_a.tolist() + df.text_b.tolist())[:n]
    for i in range(0, len(texts), batch):
        enc = tokenizer(texts[i:i + batch], padding=True, truncation=True, max_length=max_length, return_tensors="np")
        yield {"input_ids": enc["input_ids"].astype("int64"), "attention_mask": enc["attention_mask"].astype("int64")}


def openvino_activation_fed_matmuls(model) -> list[str]:
    """As onnx_activation_fed_matmuls, in an OpenVINO model (names for NNCF's ignored scope)."""
    def producer(op):
        node = op.input_value(0).get_node()
        while node.get_type_name() in ("Convert", "Reshape", "FakeQuantize"):
            node = node.input_value(0).get_node()
        return node.get_type_name()

    return [op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_type_name() == "MatMul" and producer(op) in ACTIVATIONS]


def to_openvino(onnx_path: Path, xml_path: Path, int8: bool, tokenizer, max_length: int) -> None:
    """OpenVINO IR; int8: NNCF's post-training quantisation, calibrated on 20 batches of 16 STS benchmark dev
    sentences. Two settings found on the demo model (2,000 job titles and sentences, cosine against torch): NNCF's
    default SmoothQuant strength for transformers (alpha 0.95) and int8 feed-forward down-projections each put
    texts far off (worst 0.857, 1st percentile 0.927); SmoothQuant alpha 0.5 with those MatMuls in fp32 gives worst
    0.985, 1st percentile 0.997 (docs/deploy.md)."""
    import openvino as ov

    model = ov.convert_model(str(onnx_path))
    if int8:
        import nncf
        from nncf.quantization.advanced_parameters import (
            AdvancedQuantizationParameters,
            AdvancedSmoothQuantParameters,
        )

        feeds = list(calibration_feeds(tokenizer, max_length))
        keep = openvino_activation_fed_matmuls(model)
        model = nncf.quantize(model, nncf.Dataset(feeds), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(feeds), ignored_scope=nncf.IgnoredScope(names=keep) if keep else None,
                              advanced_parameters=AdvancedQuantizationParameters(
                                  smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=0.5)))
    ov.save_model(model, str(xml_path), compress_to_fp16=False)


@contextlib.contextmanager
def quiet():
    """The exporters' chatter off the terminal: torch.onnx's registry warnings (torchvision ops), onnxruntime's
    shape-inference prints and the quantiser's root-logger advice. Real failures still raise."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "onnxruntime", "nncf", "")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def write_graph(module, tokenizer, target: Path, output_name: str, fmt: str, int8: bool, max_length: int) -> None:
    """One graph in `fmt` (int8 if asked) at `target` (.onnx, or .xml + .bin); intermediates removed."""
    with quiet():
        _write_graph(module, tokenizer, target, output_name, fmt, int8, max_length)


def _write_graph(module, tokenizer, target: Path, output_name: str, fmt: str, int8: bool, max_length: int) -> None:
    raw = target.with_name(f".{target.name}.raw.onnx")
    to_onnx(module, tokenizer, raw, output_name)
    if fmt == "onnx":
        opt = target.with_name(f".{target.name}.opt.onnx") if int8 else target
        optimise_onnx(raw, opt, encoder_config(module))
        if int8:
            quantize_onnx(opt, target)
            opt.unlink()
    else:
        to_openvino(raw, target, int8, tokenizer, max_length)
    raw.unlink()


def encoder_config(module):
    """The transformer's config inside a graph module (heads and width for the optimiser)."""
    return next((m.config for m in module.modules() if hasattr(getattr(m, "config", None), "num_attention_heads")),
                None)


def sentence_transformers_layout(predictor, source: Path, folder: Path, fmt: str, int8: bool) -> list[str]:
    """sentence-transformers' own files and its backend's graph, so `SentenceTransformer(folder, backend=fmt)`
    loads the folder wherever that backend (optimum) is installed."""
    states = predictor.token_states_graph()
    if states is None or not (source / "modules.json").exists():
        return []
    modules = {m["path"] for m in json.loads((source / "modules.json").read_text()) if m.get("path")}
    for f in source.iterdir():  # configs, pooling / dense / normalize module folders; no torch weights
        if f.name in ST_FILES or (f.is_dir() and f.name in modules):
            (shutil.copytree if f.is_dir() else shutil.copyfile)(f, folder / f.name)
    name = {"onnx": "onnx/model_qint8_avx2.onnx" if int8 else "onnx/model.onnx",
            "openvino": "openvino/openvino_model_qint8_quantized.xml" if int8 else "openvino/openvino_model.xml"}[fmt]
    (folder / name).parent.mkdir(exist_ok=True)
    write_graph(states, predictor.tokenizer, folder / name, "last_hidden_state", fmt, int8, predictor.max_length)
    return [name]


def check_request(source: Path, output: Path, fmt: str, quantize: str, overwrite: bool) -> None:
    """A one-line error for a bad export request, before anything is loaded or written."""
    if fmt not in FORMATS:
        raise DomaintuneError(f"--format: unknown format '{fmt}'; choose onnx or openvino")
    if quantize not in ("none", "int8"):
        raise DomaintuneError(f"--quantize: unknown '{quantize}'; choose none or int8")
    if not source.is_dir():
        raise DomaintuneError(f"{source}: not a model folder (pass a saved model, e.g. runs/demo/model)")
    if output.exists() and not (overwrite and output.is_dir()):
        raise DomaintuneError(f"{output}: exists; pass --overwrite to replace it (a folder), or choose another -o")


def export_model(predictor, source: str | Path, task: str, output: str | Path, fmt: str = "openvino",
                 quantize: str = "int8", tolerance: float = 0.5, force: bool = False,
                 evaluators: list | None = None, data: str = "agreement only", parity_texts: int | None = None,
                 min_cosine: float = 0.95) -> dict:
    """Export `predictor` (loaded from `source`, a model of `task`) to `output`; returns the export record with
    its parity check on `evaluators` (described by `data`). The caller checks the request first (check_request)."""
    source, output = Path(source), Path(output)
    module, meta = predictor.export_graph(), predictor.export_meta()
    int8 = quantize == "int8"
    t = time.perf_counter()

    def write_into(folder: Path) -> None:
        nonlocal record
        graph = GRAPH_FILES[fmt]
        write_graph(module, predictor.tokenizer, folder / graph, module.output_name, fmt, int8, meta["max_length"])
        predictor.tokenizer.save_pretrained(str(folder))
        for marker in source.glob(MARKERS):
            shutil.copyfile(marker, folder / marker.name)
        st = sentence_transformers_layout(predictor, source, folder, fmt, int8)
        record = {"format_version": 2, "format": fmt, "precision": "int8" if int8 else "fp32", "graph": graph,
                  "rows_per_call": 1 if (int8 and fmt == "onnx") else None,  # dynamic scales: one text per call
                  "task": task, "output_kind": predictor.output_kind.value, "graph_output": predictor.graph_output,
                  "source": str(source.resolve()), "meta": meta, "sentence_transformers_files": st,
                  "export_seconds": round(time.perf_counter() - t, 1)}
        atomic_write_json(folder / EXPORT_META, record)
        log.info("exported %s to %s (%s, %s) in %.0f s; checking parity", source, fmt, record["precision"],
                 graph, time.perf_counter() - t)
        result = parity.check(predictor, load_exported(folder, type(predictor)), evaluators or [], data, parity_texts)
        record["parity"] = {**result, "tolerance_points": tolerance, "worst_drop_points": parity.worst_drop(result),
                            "min_cosine": min_cosine}
        atomic_write_json(folder / PARITY, record)
        atomic_write_text(folder / "README.md", card(record))
        drop = record["parity"]["worst_drop_points"]
        if drop > tolerance and not force:
            raise DomaintuneError(
                f"{source}: the {record['precision']} {fmt} export loses {drop:.2f} points of a primary metric "
                f"(tolerance {tolerance}): {summary(record['parity'])}; nothing was written. Export without "
                "--quantize, raise --tolerance, or pass --force to keep it anyway")
        worst = record["parity"]["agreement"].get("worst_cosine")  # embedding models: each text vs torch
        if worst is not None and worst < min_cosine and not force:
            agreement = record["parity"]["agreement"]
            raise DomaintuneError(
                f"{source}: the {record['precision']} {fmt} export puts a text at cosine {worst:.4f} from its torch "
                f"embedding (minimum {min_cosine}; 1st percentile {agreement.get('p1_cosine')}, text: "
                f"{agreement.get('worst_text')!r}); nothing was written. Export without --quantize, try the other "
                "--format, lower --min-cosine, or pass --force to keep it anyway")

    record: dict = {}
    save_folder_atomically(output, write_into)
    return record


def summary(par: dict) -> str:
    parts = [f"{name} {m['metric']} {m['torch']:.4f} -> {m['exported']:.4f}" for name, m in par["metrics"].items()]
    parts += [f"{k.replace('_', ' ')} {v}" for k, v in par["agreement"].items() if k not in ("texts", "worst_text")]
    return "; ".join(parts)


def card(record: dict) -> str:
    par, meta = record["parity"], record["meta"]
    rows = [f"| {name} | {m['metric']} | {m['torch']:.4f} | {m['exported']:.4f} | {m['delta_points']:+.2f} |"
            for name, m in par["metrics"].items()]
    agreement = "\n".join(f"- {k.replace('_', ' ')}: {v}" for k, v in par["agreement"].items())
    output = record["graph_output"]
    return f"""# Exported {record['task']} model ({record['format']}, {record['precision']})

Exported by `domaintune export` from `{record['source']}`.

- Graph: `{record['graph']}`, inputs `input_ids` and `attention_mask` (int64, [batch, tokens]); output {output}.
- Tokenizer: `tokenizer.json` here (maximum length {meta['max_length']} tokens{', prefix ' + repr(meta.get('prefix'))
  if meta.get('prefix') else ''}).
- Load it without torch: `domaintune embed|predict|similarity|serve THIS_FOLDER`, or
  `from domaintune import registry; registry.load_model(path).predict(texts)`.
{'- sentence-transformers: `SentenceTransformer(path, backend="' + record['format'] + '")` reads '
 + ', '.join(record['sentence_transformers_files']) if record['sentence_transformers_files'] else ''}

## Parity with the torch model

{par['data']}; tolerance {par['tolerance_points']} points of a primary metric (worst drop here:
{par['worst_drop_points']:.2f}){'; minimum cosine of any text to its torch embedding ' + str(par['min_cosine'])
 if 'worst_cosine' in par['agreement'] and 'min_cosine' in par else ''}.

| evaluation | metric | torch | exported | change (points) |
|---|---|---|---|---|
{chr(10).join(rows) if rows else '| (no labelled evaluation data) | | | | |'}

Agreement, text by text, on the STS benchmark test sentences:

{agreement}
"""
