"""The embedding family's predictor through the contract (core/contract.py): output kind, served info,
agreement with itself, and the class an export is rebuilt as."""

from __future__ import annotations

import numpy as np
import pytest

from domaintune.core.contract import OutputKind, Predictor
from domaintune.embedding.predictor import Embedder, EmbeddingPredictor, ExportedEmbedder


def test_an_embedder_declares_its_kind_and_agrees_with_itself(tiny_bert):
    emb = Embedder(tiny_bert)
    assert isinstance(emb, Predictor) and emb.output_kind is OutputKind.EMBEDDINGS
    assert emb.served_info() == {"dimension": 32, "matryoshka_dims": []}
    assert emb.max_length == emb.metadata["max_length"]
    out = emb.predict(["a nurse", "a welder"])
    assert out.shape == (2, 32) and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    agreement = emb.agreement(emb, ["a nurse", "a welder", "a judge"])
    assert agreement["worst_cosine"] > 0.9999 and agreement["texts"] == 3
    assert emb.export_meta()["dimension"] == 32 and emb.token_states_graph() is not None


def test_an_export_is_rebuilt_as_the_exported_embedder():
    class Graph:
        def run_batches(self, ids, batch_size, pad_id):
            return np.ones((len(ids), 4), dtype=np.float32) / 2

    class Tok:
        pad_token_id = 0

        def __call__(self, texts, **kwargs):
            return {"input_ids": [[1, 2, 3] for _ in texts]}

    exported = EmbeddingPredictor.from_export(Graph(), Tok(), {"max_length": 8, "dimension": 4}, {"task": "x"})
    assert isinstance(exported, ExportedEmbedder) and exported.output_kind is OutputKind.EMBEDDINGS


def test_a_predictor_must_answer_and_describe_itself():
    class Half(Predictor):
        output_kind = OutputKind.SCORES

    with pytest.raises(TypeError, match="abstract"):
        Half()
