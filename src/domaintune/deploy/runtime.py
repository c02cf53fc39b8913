"""An exported folder (`domaintune export`) as a predictor, through onnxruntime or OpenVINO, without torch.

The graph runs here; the predictor around it is the task's own class, rebuilt by its `from_export` (core/
contract.py): `ExportedEmbedder` (embedding/predictor.py), `ExportedClassifier` (classification/model.py: the
same tokenising, truncation, probabilities and decisions as the torch classifier), `ExportedTagger` (ner/tagger.py:
the same word windows, stitching and character offsets). Which class is the caller's to say (the registry knows
it from the folder's marker file): nothing here knows a task or an output kind.

Nothing here imports torch (tests/deploy/test_export.py::test_exported_runtime_never_imports_torch holds it to that).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from domaintune.core.batching import padded_arrays
from domaintune.errors import DomaintuneError

EXPORT_META = "domaintune_export.json"
PARITY = "export.json"


def is_export(path) -> bool:
    try:
        return (Path(path) / EXPORT_META).is_file()
    except (OSError, TypeError, ValueError):
        return False


def default_threads() -> int:
    """Threads per graph: DOMAINTUNE_THREADS, else the cores this process may use."""
    env = os.environ.get("DOMAINTUNE_THREADS")
    return int(env) if env else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


class Graph:
    """An exported graph: (input_ids, attention_mask) -> one numpy array."""

    backend: str
    rows_per_call: int | None = None  # the export record's: 1 for dynamically quantised graphs (batch-independent)

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def run_batches(self, ids: list[list[int]], batch_size: int, pad_id: int) -> np.ndarray:
        """The graph over token ids in length-sorted padded batches; rows back in the given order."""
        out = None
        for rows, input_ids, mask in padded_arrays(ids, batch_size, pad_id):
            res = self(input_ids, mask)
            if out is None:
                out = np.zeros((len(ids), *res.shape[1:]), dtype=np.float32)
            out[rows] = res
        return out if out is not None else np.zeros((0,), dtype=np.float32)


class OnnxGraph(Graph):
    """onnxruntime. A graph whose record says one row per call (dynamic int8: its activation scales span the call)
    runs each row of a batch alone, cut to its own length, on `threads` single-threaded calls at once (onnxruntime
    releases the GIL): the same numbers whatever the batch, at nearly the batched speed (docs/deploy.md)."""

    backend = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None, rows_per_call: int | None = None):
        import onnxruntime as ort

        threads = threads or default_threads()
        self.rows_per_call = rows_per_call
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1 if rows_per_call == 1 else threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.pool = None
        if rows_per_call == 1:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(threads, thread_name_prefix="domaintune-onnx-row")

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        if self.pool is None or len(input_ids) == 1:
            return self.run(input_ids, attention_mask)
        lengths = attention_mask.sum(axis=1)
        rows = list(self.pool.map(lambda i: self.run(input_ids[i:i + 1, :lengths[i]], attention_mask[i:i + 1,
                                                                                                    :lengths[i]]),
                                  range(len(input_ids))))
        width = input_ids.shape[1]
        if rows[0].ndim >= 3:  # per-token outputs (a tagger's logits): padded back to the batch's width
            rows = [np.pad(r, [(0, 0), (0, width - r.shape[1])] + [(0, 0)] * (r.ndim - 2)) for r in rows]
        return np.concatenate(rows, axis=0)


class OpenVinoGraph(Graph):
    backend = "openvino"

    def __init__(self, path: Path, threads: int | None = None, rows_per_call: int | None = None):
        import openvino as ov

        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads or default_threads()}
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.lock = threading.Lock()  # one infer request: calls from several threads take turns

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        with self.lock:
            return np.array(self.compiled({"input_ids": input_ids, "attention_mask": attention_mask})[0])


GRAPHS = {"onnx": OnnxGraph, "openvino": OpenVinoGraph}  # by export format (the record's "format")


def read_record(folder) -> dict:
    folder = Path(folder)
    try:
        return json.loads((folder / EXPORT_META).read_text())
    except (OSError, ValueError) as e:
        raise DomaintuneError(f"{folder / EXPORT_META}: cannot read the export record ({e})") from None


def load_exported(folder, predictor_class, threads: int | None = None):
    """An exported folder as `predictor_class.from_export(...)` (a Predictor of core/contract.py)."""
    from transformers import PreTrainedTokenizerFast  # the tokenizers backend alone: no torch

    folder = Path(folder)
    record = read_record(folder)
    graph = GRAPHS[record["format"]](folder / record["graph"], threads, record.get("rows_per_call"))
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder))
    info = {"task": record["task"], "path": str(folder), "backend": graph.backend, "format": record["format"],
            "precision": record["precision"]}
    return predictor_class.from_export(graph, tokenizer, record["meta"], info)
