"""A trained classifier of any strategy, as one object: texts -> class probabilities.

The same `Classifier` predicts during a run's evaluation, in `domaintune predict`, and after a reload in a
fresh process, so "reloaded predicts like trained" holds by construction. Saved folders:

- `full`: a standard transformers folder: the encoder (AutoModel) + tokenizer, and the pooled head's linear layer
  in `head.safetensors` (classifier/pooled.py); with `model.pooling: pooler`, an
  AutoModelForSequenceClassification folder;
- adapters (`lora`, `ia3`, ...): the PEFT adapter, with the classification head (and pooler) inside it
  (modules_to_save), plus the tokenizer; the base encoder is named and fingerprinted;
- `frozen`: the head's weights only; the base encoder is named and fingerprinted;
- `fewshot`: the contrastively tuned sentence-transformers encoder (`body/`, loads in plain
  sentence-transformers) and the head (`head.safetensors`).

Each also holds `domaintune_classifier.json`: strategy, labels, multi-label, max length, truncation, threshold.
Loading a head or adapter on top of an encoder whose weights differ from the one it was trained on is refused.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from domaintune.classifier.features import encode_features, padded_batches
from domaintune.classifier.heads import build_head, probabilities
from domaintune.data.truncation import encode_texts
from domaintune.errors import DomaintuneError
from domaintune.utils import atomic_write_json

log = logging.getLogger("domaintune")

META = "domaintune_classifier.json"


class Classifier:
    def __init__(self, strategy: str, tokenizer, labels: list[str], multi_label: bool, max_length: int,
                 truncation: str, threshold: float = 0.5, model=None, encoder=None, head=None,
                 layers: int = 1, pooling: str = "mean", base: dict | None = None, head_config: dict | None = None):
        self.strategy, self.tokenizer, self.labels = strategy, tokenizer, list(labels)
        self.multi_label, self.max_length, self.truncation = multi_label, max_length, truncation
        self.threshold = threshold
        self.model, self.encoder, self.head = model, encoder, head  # model: sequence classifier; encoder+head: frozen
        self.layers, self.pooling = layers, pooling
        self.base = base or {}
        self.head_config = head_config or {}
        self.feature_fn = None  # frozen, inside a run: features from the run's disk cache (the same numbers)

    # ------------------------------------------------------------------ prediction
    def encode(self, texts: list[str]) -> tuple[list[list[int]], list[bool]]:
        return encode_texts(self.tokenizer, texts, self.max_length, self.truncation)

    @torch.no_grad()
    def logits_from_ids(self, ids: list[list[int]], batch_size: int = 64) -> np.ndarray:
        pad = self.tokenizer.pad_token_id or 0
        if self.strategy == "frozen":
            feats = (self.feature_fn(ids) if self.feature_fn else
                     encode_features(self.encoder, ids, pad, self.layers, self.pooling, batch_size))
            self.head.eval()
            return self.head(torch.tensor(feats)).numpy()
        self.model.eval()
        if self.strategy == "fewshot":
            self.head.eval()
            return self.head(torch.tensor(self.embed_ids(ids, batch_size))).numpy()
        out = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        device = next(self.model.parameters()).device
        for rows, input_ids, mask in padded_batches(ids, batch_size, pad):
            out[rows] = self.model(input_ids=input_ids.to(device),
                                   attention_mask=mask.to(device)).logits.float().cpu().numpy()
        return out

    @torch.no_grad()
    def embed_ids(self, ids: list[list[int]], batch_size: int = 64) -> np.ndarray:
        """fewshot: sentence embeddings of the body (a SentenceTransformer) for token ids."""
        self.model.eval()
        out = None
        for rows, input_ids, mask in padded_batches(ids, batch_size, self.tokenizer.pad_token_id or 0):
            emb = self.model({"input_ids": input_ids, "attention_mask": mask})["sentence_embedding"].float().numpy()
            if out is None:
                out = np.zeros((len(ids), emb.shape[1]), dtype=np.float32)
            out[rows] = emb
        return out

    def predict_proba_ids(self, ids: list[list[int]], batch_size: int = 64) -> np.ndarray:
        return probabilities(self.logits_from_ids(ids, batch_size), self.multi_label)

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> tuple[np.ndarray, list[bool]]:
        ids, truncated = self.encode(texts)
        return self.predict_proba_ids(ids, batch_size), truncated

    def decide(self, probs: np.ndarray) -> list[list[str]]:
        if self.multi_label:
            return [[self.labels[k] for k in np.where(p >= self.threshold)[0]] for p in probs]
        return [[self.labels[int(p.argmax())]] for p in probs]

    # ------------------------------------------------------------------ saving
    def meta(self) -> dict:
        return {"format": 1, "strategy": self.strategy, "labels": self.labels, "multi_label": self.multi_label,
                "max_length": self.max_length, "truncation": self.truncation, "threshold": self.threshold,
                "layers": self.layers, "pooling": self.pooling, "base": self.base, "head": self.head_config}

    def save(self, folder: Path) -> None:
        """Write into `folder` (the caller swaps it into place atomically)."""
        folder = Path(folder)
        if self.strategy in ("frozen", "fewshot"):
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in self.head.state_dict().items()}, str(folder / "head.safetensors"))
            if self.strategy == "fewshot":
                self.model.save_pretrained(str(folder / "body"))
        else:
            self.model.save_pretrained(str(folder))
            self.tokenizer.save_pretrained(str(folder))
        atomic_write_json(folder / META, self.meta())

    def parameters(self) -> dict:
        """Trainable and total parameter counts (frozen: the head is what was trained)."""
        if self.strategy == "frozen":
            head = sum(p.numel() for p in self.head.parameters())
            total = head + sum(p.numel() for p in self.encoder.parameters())
            return {"trainable": head, "total": total}
        extra = sum(p.numel() for p in self.head.parameters()) if self.strategy == "fewshot" else 0
        return {"trainable": extra + sum(p.numel() for p in self.model.parameters() if p.requires_grad),
                "total": extra + sum(p.numel() for p in self.model.parameters())}


def base_record(name: str) -> dict:
    """How a saved head or adapter names its encoder: the name as given (absolute when a local path),
    and the weights' fingerprint."""
    from domaintune.models import PACKAGED, encoder_folder, fingerprint

    folder = encoder_folder(name)
    p = Path(name).expanduser()
    stored = str(p.resolve()) if p.exists() and name.strip().lower() not in PACKAGED else name
    return {"name": stored, "fingerprint": fingerprint(folder)}


def _check_same_encoder(base: dict, now: str, folder: Path) -> None:
    if now != base["fingerprint"]:
        raise DomaintuneError(f"{folder}: trained on encoder '{base['name']}' with weights {base['fingerprint']}, "
                              f"but that name now holds different weights ({now}); point it at the original encoder")


def _base_folder(base: dict, folder: Path) -> Path:
    from domaintune.models import encoder_folder, fingerprint

    enc = encoder_folder(base["name"])
    _check_same_encoder(base, fingerprint(enc), folder)
    return enc


def load_classifier(folder: str | Path) -> Classifier:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(folder)
    meta_path = folder / META
    if not meta_path.exists():
        raise DomaintuneError(f"{folder}: not a domaintune classifier folder (no {META}); for a run folder, "
                              "pass RUN/model")
    meta = json.loads(meta_path.read_text())
    common = dict(labels=meta["labels"], multi_label=meta["multi_label"], max_length=meta["max_length"],
                  truncation=meta["truncation"], threshold=meta["threshold"], layers=meta["layers"],
                  pooling=meta["pooling"], base=meta["base"], head_config=meta["head"])
    strategy = meta["strategy"]
    if strategy == "frozen":
        from safetensors.torch import load_file

        from domaintune.classifier.frozen import load_frozen_encoder

        tokenizer, encoder, base = load_frozen_encoder(meta["base"]["name"])
        _check_same_encoder(meta["base"], base["fingerprint"], folder)
        hc = meta["head"]
        head = build_head(hc["kind"], hc["in_features"], len(meta["labels"]), hc.get("hidden", 512),
                          hc.get("dropout", 0.1))
        head.load_state_dict(load_file(str(folder / "head.safetensors")))
        return Classifier("frozen", tokenizer, encoder=encoder, head=head.eval(), **common)
    if strategy == "fewshot":
        from safetensors.torch import load_file
        from sentence_transformers import SentenceTransformer

        body = SentenceTransformer(str(folder / "body"), local_files_only=True)
        hc = meta["head"]
        head = build_head(hc["kind"], hc["in_features"], len(meta["labels"]), hc.get("hidden", 512),
                          hc.get("dropout", 0.1))
        head.load_state_dict(load_file(str(folder / "head.safetensors")))
        return Classifier("fewshot", body.tokenizer, model=body.eval(), head=head.eval(), **common)
    from domaintune.classifier.pooled import HEAD_FILE
    from domaintune.classifier.sequence import sequence_model

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    pooling = saved_head_pooling(meta)
    if strategy == "full":
        model = (AutoModelForSequenceClassification.from_pretrained(str(folder)) if pooling == "pooler" else
                 sequence_model(folder, meta["labels"], meta["multi_label"], pooling, head=folder / HEAD_FILE))
    else:
        from peft import PeftModel

        enc_dir = _base_folder(meta["base"], folder)
        model = PeftModel.from_pretrained(sequence_model(enc_dir, meta["labels"], meta["multi_label"], pooling),
                                          str(folder))
    common["pooling"] = pooling
    return Classifier(strategy, tokenizer, model=model.eval(), **common)


def saved_head_pooling(meta: dict) -> str:
    """What the head of a saved full/adapter classifier reads: its `pooling`, or "pooler" for folders written
    before the pooled head existed (no "sequence_head" in their meta): those hold transformers' head."""
    return meta["pooling"] if meta.get("head", {}).get("sequence_head") == "pooled" else "pooler"


def checkpoint_head_pooling(checkpoint: Path) -> str | None:
    """The same for a training checkpoint (an interrupted run has no saved folder yet): "pooler" when its weights
    are transformers' sequence classifier (`bert.…`), None when they are the pooled head's (`encoder.…`)."""
    from safetensors import safe_open

    files = [f for f in ("model.safetensors", "adapter_model.safetensors") if (checkpoint / f).exists()]
    if not files:
        return None
    with safe_open(str(checkpoint / files[0]), "pt") as f:
        keys = [k.removeprefix("base_model.model.") for k in f.keys()]
    return None if any(k.startswith("encoder.") for k in keys) else "pooler"


def label_config(labels: list[str], multi_label: bool) -> dict:
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
            "label2id": {lab: i for i, lab in enumerate(labels)},
            "problem_type": "multi_label_classification" if multi_label else "single_label_classification"}
