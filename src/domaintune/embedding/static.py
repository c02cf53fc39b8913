"""A static embedding model distilled from a tuned encoder (`domaintune distill`, model2vec): each token's
embedding is computed once, by the encoder, and a text's embedding is the mean of its tokens' (no attention, no
layers at inference), then normalised. Orders of magnitude faster than the encoder on a CPU, at some loss of quality:
`domaintune distill` measures both on the run's own evaluators.

The distillation is model2vec's (`distill_from_model`: the encoder's output for every vocabulary token, PCA to
`pca_dims`, SIF weighting). Domain words can join the vocabulary (`vocabulary_texts`): words of the user's text
that the tokenizer would split into pieces get an embedding of their own, computed by the tuned encoder.

`StaticEmbedder` serves the result through the predictor contract (core/contract.py), without torch.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np

from domaintune.embedding.predictor import EmbeddingPredictor, ModelCardData

MARKER = "domaintune_static.json"  # {"source": the tuned model, "pca_dims", "vocabulary_words_added"}


def domain_vocabulary(texts: list[str], tokenizer, min_count: int = 2, max_words: int = 20_000) -> list[str]:
    """Words of `texts` (the tokenizer's own normalising and pre-tokenising) seen at least `min_count` times and
    not already one token, most frequent first."""
    backend = tokenizer.backend_tokenizer
    normalize = backend.normalizer.normalize_str if backend.normalizer else (lambda s: s)
    split = backend.pre_tokenizer.pre_tokenize_str if backend.pre_tokenizer else (lambda s: [(w, None) for w in
                                                                                              s.split()])
    counts = collections.Counter(w for t in texts for w, _ in split(normalize(t)))
    vocab = tokenizer.get_vocab()
    words = [w for w, n in counts.most_common() if n >= min_count and w not in vocab and any(c.isalnum() for c in w)]
    return words[:max_words]


def distill(st, source: str | Path, folder: Path, pca_dims: int | None, vocabulary: list[str]) -> dict:
    """The static model of `st` (the sentence-transformers model loaded from `source`) saved into `folder`; its
    record."""
    from model2vec.distill import distill_from_model

    transformer = st[0]
    static = distill_from_model(model=transformer.auto_model, tokenizer=transformer.tokenizer,
                                vocabulary=vocabulary or None, pca_dims=pca_dims, device="cpu")
    static.save_pretrained(str(folder))
    record = {"source": str(Path(source).resolve()) if Path(source).exists() else str(source),
              "pca_dims": pca_dims, "dimension": int(static.dim), "vocabulary_words_added": len(vocabulary),
              "vocabulary_size": int(len(static.tokenizer.get_vocab()))}
    (folder / MARKER).write_text(json.dumps(record, indent=2))
    return record


def distill_card(record: dict) -> str:
    rows = "\n".join(f"| {name} | {m['metric']} | {m['model']:.4f} | {m['static']:.4f} | {100 * m['retained']:.1f}% |"
                     for name, m in record["evaluation"].items())
    return f"""---
library_name: model2vec
tags: [domaintune, static-embeddings]
---

# Static embedding model (model2vec), distilled by `domaintune distill`

From `{record['source']}`: {record['dimension']} dimensions (PCA {record['pca_dims']}), a vocabulary of
{record['vocabulary_size']} tokens ({record['vocabulary_words_added']} domain words added from
`{record['vocabulary_from']}`). A text's embedding is the mean of its tokens' embeddings, normalised: no
attention, no layers, no torch at inference.

- Load it: `domaintune embed|similarity|serve THIS_FOLDER`, `registry.load_model(path)`, or
  `model2vec.StaticModel.from_pretrained(path)`, or `SentenceTransformer(path)`.

## Beside the model it was distilled from

{record['data']}:

| evaluation | metric | model | static | retained |
|---|---|---|---|---|
{rows}
"""


def is_static(path) -> bool:
    try:
        return (Path(path) / MARKER).is_file()
    except (OSError, TypeError, ValueError):
        return False


class StaticEmbedder(EmbeddingPredictor):
    """A distilled static model as an embedding predictor (model2vec's numpy encoder; no torch)."""

    similarity_fn_name = "cosine"
    model_card_data = ModelCardData()
    max_length = 512  # tokens per text it reads; longer texts are cut (model2vec's default)

    def __init__(self, path: str | Path, threads: int | None = None):
        from model2vec import StaticModel
        from transformers import PreTrainedTokenizerFast

        self.path = Path(path)
        self.model = StaticModel.from_pretrained(str(self.path), normalize=True)
        self.dimension = int(self.model.dim)
        self.tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(self.path / "tokenizer.json"))  # counts tokens
        self.record = json.loads((self.path / MARKER).read_text())

    @property
    def metadata(self) -> dict:
        return {"task": "similarity", "path": str(self.path), "dimension": self.dimension,
                "max_length": self.max_length, "backend": "model2vec", "precision": "static"}

    def predict(self, texts: list[str], batch_size: int = 1024) -> np.ndarray:
        return self.encode(texts, batch_size=batch_size)

    def encode(self, sentences, batch_size: int = 1024, show_progress_bar=None, **_) -> np.ndarray:
        """sentence-transformers' `encode` as the evaluators call it: unit-length float32 rows."""
        single = isinstance(sentences, str)
        emb = self.model.encode([sentences] if single else list(sentences), batch_size=max(batch_size, 1024),
                                max_length=self.max_length, use_multiprocessing=False).astype(np.float32)
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return emb[0] if single else emb

    def get_embedding_dimension(self) -> int:
        return self.dimension

    get_sentence_embedding_dimension = get_embedding_dimension
