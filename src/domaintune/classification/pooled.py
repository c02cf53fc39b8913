"""A sequence classifier that reads a pooled sentence vector: encoder -> masked mean (or max, or the raw [CLS]
state) of the last hidden states -> dropout -> linear layer.

transformers' AutoModelForSequenceClassification classifies from the [CLS] token through the pretrained pooler
(dense + tanh). That suits BERT, whose pooler was trained (next-sentence prediction); a sentence-transformers
model such as all-MiniLM-L6-v2 was trained on the *mean* of its token states, and its [CLS] state and pooler
were never trained to summarise the text. An adapter (LoRA) changes the encoder too little to re-learn that,
so for such models the head reads the pooling the encoder was trained with (`model.pooling`).
transformers has no mean-pooled sequence-classification head, hence this small module; the pooling itself is
the same code as the frozen strategy's features (features.pool).

Saved as a standard transformers encoder folder (config.json + weights, loads with AutoModel) plus
`head.safetensors` (the linear layer); an adapter run saves the PEFT adapter with the head inside it
(modules_to_save), as for the pooler head.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from domaintune.features import pool

HEAD_FILE = "head.safetensors"


class PooledSequenceClassifier(nn.Module):
    base_model_prefix = "encoder"  # models.freeze finds the transformer body here, as on a transformers model
    # the loss below is a mean over this batch's rows, not normalised by the Trainer's `num_items_in_batch`: without
    # this the Trainer would multiply it by the number of processes (it did: 2.17 per process against 1.14)
    accepts_loss_kwargs = False

    def __init__(self, encoder, num_labels: int, multi_label: bool, pooling: str = "mean",
                 dropout: float | None = None):
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config  # PEFT and the Trainer read model.config
        self.pooling, self.multi_label = pooling, multi_label
        if dropout is None:  # transformers' rule for classification heads: classifier_dropout, else hidden_dropout
            dropout = getattr(encoder.config, "classifier_dropout", None)
            dropout = dropout if dropout is not None else getattr(encoder.config, "hidden_dropout_prob", 0.1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        from transformers.modeling_outputs import SequenceClassifierOutput

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = self.classifier(self.dropout(pool(hidden, attention_mask, self.pooling)))
        loss = None
        if labels is not None:  # the same losses as AutoModelForSequenceClassification's problem types
            loss = (nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
                    if self.multi_label else nn.functional.cross_entropy(logits, labels))
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def save_pretrained(self, folder: str | Path, **kwargs) -> None:
        from safetensors.torch import save_file

        self.encoder.save_pretrained(str(folder), **kwargs)
        save_file({k: v.contiguous() for k, v in self.classifier.state_dict().items()}, str(Path(folder) / HEAD_FILE))

    @classmethod
    def from_encoder(cls, folder: str | Path, num_labels: int, multi_label: bool, pooling: str,
                     head: str | Path | None = None) -> PooledSequenceClassifier:
        """The encoder of `folder` (AutoModel, no pooler) with a fresh head, or the head saved in `head`."""
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "pooler.dense.* UNEXPECTED": the unused pooler, expected, not news
        try:  # BERT-like encoders carry a pooler this head does not use
            encoder = AutoModel.from_pretrained(str(folder), add_pooling_layer=False)
        except TypeError:  # architectures without one (DistilBERT) take no such argument
            encoder = AutoModel.from_pretrained(str(folder))
        finally:
            hf_logging.set_verbosity(verbosity)
        model = cls(encoder, num_labels, multi_label, pooling)
        if head is not None:
            from safetensors.torch import load_file

            model.classifier.load_state_dict(load_file(str(head)))
        return model
