"""A sentence encoder as a predictor of the task contract (core/contract.py): texts -> L2-normalised
embeddings. `Embedder` runs the torch model (sentence-transformers); `ExportedEmbedder` runs an exported graph
(deploy/runtime.py's onnxruntime or OpenVINO graph) and imports no torch. Both also answer sentence-transformers'
`encode`, so the task's own evaluators score either."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domaintune.core.contract import OutputKind, Predictor
from domaintune.core.truncation import encode_texts
from domaintune.embedding.matryoshka import read_dims


class EmbeddingPredictor(Predictor):
    """What both embedders share: the output kind, the served dimension and the export agreement."""

    output_kind = OutputKind.EMBEDDINGS
    graph_output = ("`sentence_embedding` [batch, dimension], L2-normalised (pooling and normalisation are inside "
                    "the graph)")
    dimension: int
    matryoshka_dims: list[int] = []  # the dimensions it was trained for (embedding/matryoshka.py); [] = full only

    def encode(self, sentences, batch_size: int = 32, **kwargs) -> np.ndarray:
        raise NotImplementedError

    def served_info(self) -> dict:
        return {"dimension": self.dimension, "matryoshka_dims": self.matryoshka_dims}

    def encode_query(self, sentences, batch_size: int = 32, convert_to_tensor: bool = False, **_):
        """sentence-transformers' `encode_query` / `encode_document` as its retrieval evaluator calls them (a torch
        tensor when asked): the same embedding for both, the model's prefix being part of it."""
        emb = self.encode(sentences, batch_size=batch_size)
        if convert_to_tensor:
            import torch

            return torch.from_numpy(np.ascontiguousarray(emb))
        return emb

    encode_document = encode_query

    def similarity(self, a, b):
        """sentence-transformers' `similarity` (cosine), which its retrieval evaluator calls; imported here, at
        evaluation only, so serving an export never loads torch."""
        from sentence_transformers.util import cos_sim

        return cos_sim(a, b)

    def agreement(self, exported: EmbeddingPredictor, texts: list[str]) -> dict:
        """Cosine of each text's embedding, torch vs export: the worst (and its text), the 1st percentile and the
        mean (an export is refused below a worst cosine: deploy/export.py)."""
        a, b = self.encode(texts, batch_size=32), exported.encode(texts, batch_size=32)
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        cos = (a * b).sum(axis=1) / np.linalg.norm(b, axis=1)
        worst = int(np.argmin(cos))
        return {"texts": len(texts), "worst_cosine": round(float(cos[worst]), 4),
                "p1_cosine": round(float(np.percentile(cos, 1)), 4), "mean_cosine": round(float(cos.mean()), 5),
                "worst_text": texts[worst]}

    @classmethod
    def from_export(cls, graph, tokenizer, meta: dict, info: dict) -> ExportedEmbedder:
        return ExportedEmbedder(graph, tokenizer, meta, info)


class Embedder(EmbeddingPredictor):
    """A saved similarity / tsdae / simcse model (or any encoder) as a predictor."""

    def __init__(self, path: str | Path, task: str = "similarity"):
        from domaintune.models import load_sentence_model

        self.model = load_sentence_model(str(path))
        self.dimension = self.model.get_embedding_dimension()
        self.matryoshka_dims = read_dims(path)
        self._metadata = {"task": task, "path": str(path), "dimension": self.dimension,
                          "max_length": self.model.max_seq_length}

    @property
    def metadata(self) -> dict:
        return self._metadata

    @property
    def max_length(self) -> int:
        return self.model.max_seq_length

    def predict(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False,
                                 normalize_embeddings=True)

    def encode(self, sentences, batch_size: int = 32, **kwargs) -> np.ndarray:
        return self.model.encode(sentences, batch_size=batch_size, **kwargs)

    def encode_query(self, *args, **kwargs):  # the model's own, with its query prompt
        return self.model.encode_query(*args, **kwargs)

    def encode_document(self, *args, **kwargs):
        return self.model.encode_document(*args, **kwargs)

    def __getattr__(self, name: str):
        """The rest of sentence-transformers' interface (what its evaluators read) from the model."""
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)

    # ------------------------------------------------------------------ export (deploy/export.py)
    @property
    def tokenizer(self):
        return self.model.tokenizer

    def export_graph(self):
        from domaintune.deploy.graph import SentenceEmbeddingGraph

        return SentenceEmbeddingGraph(self.model, normalize=True)

    def export_meta(self) -> dict:
        prompt = (self.model.prompts or {}).get(self.model.default_prompt_name or "", "")
        return {"dimension": self.dimension, "max_length": self.model.max_seq_length, "normalize": True,
                "prefix": prompt, "truncation": "head", "matryoshka_dims": self.matryoshka_dims}

    def token_states_graph(self):
        """The bare transformer, for sentence-transformers' own `onnx/` and `openvino/` layout."""
        from domaintune.deploy.graph import TokenStatesGraph

        return TokenStatesGraph(self.model[0].auto_model)


class ModelCardData:
    """sentence-transformers' evaluators record their metrics on the model's card data: nothing to record here."""

    def set_evaluation_metrics(self, *args, **kwargs) -> None:
        pass


class ExportedEmbedder(EmbeddingPredictor):
    """Texts -> sentence embeddings (normalised in the graph), as sentence-transformers' `encode`."""

    similarity_fn_name = "cosine"
    model_card_data = ModelCardData()

    def __init__(self, graph, tokenizer, meta: dict, info: dict):
        self.graph, self.tokenizer, self.info = graph, tokenizer, info
        self.max_seq_length, self.prefix = meta["max_length"], meta.get("prefix", "")
        self.dimension = meta["dimension"]
        self.matryoshka_dims = list(meta.get("matryoshka_dims", []))

    @property
    def max_length(self) -> int:
        return self.max_seq_length

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], list[bool]]:
        return encode_texts(self.tokenizer, [self.prefix + str(t).strip() for t in texts], self.max_seq_length, "head")

    def embed_ids(self, ids: list[list[int]], batch_size: int = 32) -> np.ndarray:
        return self.graph.run_batches(ids, batch_size, self.tokenizer.pad_token_id or 0).reshape(
            len(ids), self.dimension)

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
