"""The torch modules that are exported: each maps (input_ids, attention_mask) to one tensor, with pooling,
normalisation and the head inside the graph, so the exported folder needs no code beyond tokenising and
(for classifiers and taggers) reading off labels. Each predictor class builds its own in `export_graph()`."""

from __future__ import annotations

import torch
from torch import nn


class SentenceEmbeddingGraph(nn.Module):
    """A SentenceTransformer (transformer + pooling [+ dense]) -> sentence embedding, L2-normalised if asked."""

    output_name = "sentence_embedding"

    def __init__(self, sentence_model, normalize: bool = True):
        super().__init__()
        self.model, self.normalize = sentence_model, normalize

    def forward(self, input_ids, attention_mask):
        emb = self.model({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]
        return nn.functional.normalize(emb, dim=-1) if self.normalize else emb


class LogitsGraph(nn.Module):
    """A transformers model with a head (sequence or token classification) -> its logits. PEFT adapters are
    merged into the weights first: the graph is the plain model."""

    output_name = "logits"

    def __init__(self, model):
        super().__init__()
        self.model = merged(model)

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


class HeadGraph(nn.Module):
    """Features from `body` (a graph above, or pooled encoder states) -> a head's logits."""

    output_name = "logits"

    def __init__(self, body: nn.Module, head: nn.Module):
        super().__init__()
        self.body, self.head = body, head

    def forward(self, input_ids, attention_mask):
        return self.head(self.body(input_ids, attention_mask))


class PooledStatesGraph(nn.Module):
    """An untouched encoder's last `layers` hidden states, each pooled, concatenated (the frozen features)."""

    def __init__(self, encoder, layers: int, pooling: str):
        super().__init__()
        self.encoder, self.layers, self.pooling = encoder, layers, pooling

    def forward(self, input_ids, attention_mask):
        from domaintune.features import pool

        res = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=self.layers > 1)
        states = res.hidden_states[-self.layers:] if self.layers > 1 else [res.last_hidden_state]
        return torch.cat([pool(h, attention_mask, self.pooling) for h in states], dim=-1)


class TokenStatesGraph(nn.Module):
    """The bare transformer -> last_hidden_state: the graph sentence-transformers' ONNX / OpenVINO backends
    load (`onnx/model.onnx`), pooling done by their own modules."""

    output_name = "last_hidden_state"

    def __init__(self, transformer):
        super().__init__()
        self.transformer = transformer

    def forward(self, input_ids, attention_mask):
        return self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def merged(model):
    """A PEFT model with its adapter merged into the base weights (a copy; the loaded model is left as is)."""
    if hasattr(model, "merge_and_unload"):  # peft.PeftModel; imported lazily, so checked by its method
        import copy

        return copy.deepcopy(model).merge_and_unload()
    return model
