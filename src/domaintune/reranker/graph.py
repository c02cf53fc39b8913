"""The reranker's exported graph (torch side): (input_ids, attention_mask) of tokenised (query, text) pairs ->
one raw relevance score per pair, the CrossEncoder's logit."""

from __future__ import annotations

import torch
from torch import nn


class PairScoreGraph(nn.Module):
    output_name = "score"

    def __init__(self, model, sep_id: int | None):
        super().__init__()
        self.model, self.sep_id = model, sep_id  # sep_id None: the model reads no token types (RoBERTa, XLM-R)

    def forward(self, input_ids, attention_mask):
        kwargs = {}
        if self.sep_id is not None:
            # BERT-style pairs: segment 1 starts after the first [SEP]. Computed from the ids inside the graph, by
            # hand because no exporter derives it, so the export keeps the two inputs every domaintune graph has
            sep = (input_ids == self.sep_id).long()
            kwargs["token_type_ids"] = ((torch.cumsum(sep, dim=1) - sep) > 0).long() * attention_mask
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits[:, 0]
