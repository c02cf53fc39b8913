"""The few-shot classifier: a contrastively tuned sentence-transformers body (`body/`, loads in plain
sentence-transformers) and a head on its sentence embeddings (`head.safetensors`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from domaintune.classification.model import Classifier, common_settings, load_head, save_head
from domaintune.features import padded_batches


class FewShotClassifier(Classifier):
    strategy = "fewshot"

    def __init__(self, tokenizer, labels, multi_label, max_length, truncation, threshold=0.5, model=None, head=None,
                 **common):
        super().__init__(tokenizer, labels, multi_label, max_length, truncation, threshold, **common)
        self.model, self.head = model, head

    @torch.no_grad()
    def embed_ids(self, ids: list[list[int]], batch_size: int = 64) -> np.ndarray:
        """Sentence embeddings of the body (a SentenceTransformer) for token ids."""
        self.model.eval()
        out = None
        for rows, input_ids, mask in padded_batches(ids, batch_size, self.tokenizer.pad_token_id or 0):
            emb = self.model({"input_ids": input_ids, "attention_mask": mask})["sentence_embedding"].float().numpy()
            if out is None:
                out = np.zeros((len(ids), emb.shape[1]), dtype=np.float32)
            out[rows] = emb
        return out

    @torch.no_grad()
    def logits_from_ids(self, ids: list[list[int]], batch_size: int = 64) -> np.ndarray:
        self.head.eval()
        return self.head(torch.tensor(self.embed_ids(ids, batch_size))).numpy()

    def export_graph(self):
        from domaintune.deploy.graph import HeadGraph, SentenceEmbeddingGraph

        return HeadGraph(SentenceEmbeddingGraph(self.model, normalize=False), self.head).eval()

    def save_weights(self, folder: Path) -> None:
        save_head(self.head, folder)
        self.model.save_pretrained(str(Path(folder) / "body"))

    def parameters(self) -> dict:
        head = sum(p.numel() for p in self.head.parameters())
        return {"trainable": head + sum(p.numel() for p in self.model.parameters() if p.requires_grad),
                "total": head + sum(p.numel() for p in self.model.parameters())}

    @classmethod
    def load(cls, folder: Path, meta: dict) -> FewShotClassifier:
        from sentence_transformers import SentenceTransformer

        body = SentenceTransformer(str(Path(folder) / "body"), local_files_only=True)
        return cls(body.tokenizer, model=body.eval(), head=load_head(meta, folder), **common_settings(meta))
