"""An exported folder (`domaintune export`) as a predictor, through onnxruntime or OpenVINO, without torch.

The predictors keep the task contract (`predict(texts)`, `metadata`) and the methods the task's own evaluators
call, so the parity check runs the very evaluators of the torch model on the export:

- `ExportedEmbedder`: `encode(texts, ...)` like sentence-transformers (normalised embeddings);
- `ExportedClassifier`: a `Classifier` (classification/model.py) whose logits come from the graph: the same
  tokenising, truncation, probabilities and decisions as the torch classifier;
- `ExportedTagger`: a `Tagger` (ner/tagger.py) whose token logits come from the graph: the same word windows,
  stitching and character offsets.

Nothing here imports torch (tests/deploy/test_runtime_without_torch.py holds it to that).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from domaintune.classification.model import Classifier, common_settings
from domaintune.core.batching import padded_arrays
from domaintune.core.truncation import encode_texts
from domaintune.errors import DomaintuneError
from domaintune.ner.tagger import Tagger

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


class OnnxGraph:
    backend = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]


class OpenVinoGraph:
    backend = "openvino"

    def __init__(self, path: Path, threads: int | None = None):
        import openvino as ov

        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads or default_threads()}
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.lock = threading.Lock()  # one infer request: calls from several threads take turns

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        with self.lock:
            return np.array(self.compiled({"input_ids": input_ids, "attention_mask": attention_mask})[0])


GRAPHS = {"onnx": OnnxGraph, "openvino": OpenVinoGraph}


def run_batches(graph, ids: list[list[int]], batch_size: int, pad_id: int) -> np.ndarray:
    """The graph over token ids in length-sorted padded batches; rows back in the given order."""
    out = None
    for rows, input_ids, mask in padded_arrays(ids, batch_size, pad_id):
        res = graph(input_ids, mask)
        if out is None:
            out = np.zeros((len(ids), *res.shape[1:]), dtype=np.float32)
        out[rows] = res
    return out if out is not None else np.zeros((0,), dtype=np.float32)


class ModelCardData:
    """sentence-transformers' evaluators record their metrics on the model's card data: nothing to record here."""

    def set_evaluation_metrics(self, *args, **kwargs) -> None:
        pass


class ExportedEmbedder:
    """Texts -> sentence embeddings (normalised in the graph), as sentence-transformers' `encode`."""

    similarity_fn_name = "cosine"
    model_card_data = ModelCardData()

    def __init__(self, graph, tokenizer, meta: dict, info: dict):
        self.graph, self.tokenizer, self.info = graph, tokenizer, info
        self.max_seq_length, self.prefix = meta["max_length"], meta.get("prefix", "")
        self.dimension = meta["dimension"]

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], list[bool]]:
        return encode_texts(self.tokenizer, [self.prefix + str(t).strip() for t in texts], self.max_seq_length, "head")

    def embed_ids(self, ids: list[list[int]], batch_size: int = 32) -> np.ndarray:
        out = run_batches(self.graph, ids, batch_size, self.tokenizer.pad_token_id or 0)
        return out.reshape(len(ids), self.dimension)

    def encode(self, sentences, batch_size: int = 32, convert_to_numpy: bool = True, show_progress_bar=None,
               normalize_embeddings: bool = True, **_) -> np.ndarray:
        single = isinstance(sentences, str)
        ids, _ = self.tokenize([sentences] if single else list(sentences))
        emb = self.embed_ids(ids, batch_size)  # already unit length: the graph normalises
        return emb[0] if single else emb

    def predict(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        return self.encode(texts, batch_size)

    def get_embedding_dimension(self) -> int:
        return self.dimension

    get_sentence_embedding_dimension = get_embedding_dimension  # sentence-transformers < 6

    @property
    def metadata(self) -> dict:
        return {**self.info, "dimension": self.dimension, "max_length": self.max_seq_length}


class ExportedClassifier(Classifier):
    def __init__(self, graph, tokenizer, meta: dict, info: dict):
        super().__init__(tokenizer, **common_settings(meta))
        self.graph, self.info, self.strategy = graph, info, meta["strategy"]

    def logits_from_ids(self, ids: list[list[int]], batch_size: int = 64) -> np.ndarray:
        return run_batches(self.graph, ids, batch_size, self.tokenizer.pad_token_id or 0).reshape(
            len(ids), len(self.labels))

    @property
    def metadata(self) -> dict:
        return {**self.info, **self.meta()}


class ExportedTagger(Tagger):
    def __init__(self, graph, tokenizer, meta: dict, info: dict):
        super().__init__(None, tokenizer, meta["tags"], meta["max_length"], meta["strategy"], meta.get("base"))
        self.graph, self.info = graph, info

    def token_logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.graph(input_ids, attention_mask)

    @property
    def metadata(self) -> dict:
        return {**self.info, "tags": self.tags, "max_length": self.max_length, "strategy": self.strategy}


PREDICTORS = {"embedding": ExportedEmbedder, "classification": ExportedClassifier, "ner": ExportedTagger}


def load_exported(folder, threads: int | None = None):
    """An exported folder as its predictor (embeddings, labels with scores, or spans)."""
    from transformers import PreTrainedTokenizerFast  # the tokenizers backend alone: no torch

    folder = Path(folder)
    try:
        record = json.loads((folder / EXPORT_META).read_text())
    except (OSError, ValueError) as e:
        raise DomaintuneError(f"{folder / EXPORT_META}: cannot read the export record ({e})") from None
    meta = record["meta"]
    graph = GRAPHS[record["format"]](folder / record["graph"], threads)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder))
    info = {"task": record["task"], "kind": meta["kind"], "path": str(folder), "backend": graph.backend,
            "format": record["format"], "precision": record["precision"]}
    return PREDICTORS[meta["kind"]](graph, tokenizer, meta, info)
