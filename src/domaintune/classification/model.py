"""A trained classifier of any strategy, as one object: texts -> class probabilities.

`Classifier` is the base: token ids, probabilities, decisions, the task contract's `predict(texts)` and
`metadata`, and the saved folder's `domaintune_classifier.json` (strategy, labels, multi-label, max length,
truncation, threshold, head). Each strategy is a subclass that knows how to compute logits, save its weights
and load them back (`load(folder, meta)`):

- `FrozenClassifier` (classification/frozen.py): a head on features of an untouched encoder; the folder holds the
  head only, the encoder is named and fingerprinted;
- `SequenceClassifier` (classification/sequence.py): `full` (a standard transformers encoder folder + the pooled
  head in `head.safetensors`, or an AutoModelForSequenceClassification folder with `model.pooling: pooler`) and
  adapters (`lora`, `ia3`, ...: the PEFT adapter with the head inside it);
- `FewShotClassifier` (classification/fewshot.py): the contrastively tuned sentence-transformers body
  (`body/`) + a head (trained by the fewshot task).

The same object predicts during a run's evaluation, in `domaintune predict`, and after a reload in a fresh
process (classification/loading.py), so "reloaded predicts like trained" holds by construction. Loading a head or
adapter on top of an encoder whose weights differ from the one it was trained on is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from domaintune.classification.scores import probabilities
from domaintune.core.contract import OutputKind, Predictor
from domaintune.core.io import atomic_write_json
from domaintune.core.truncation import encode_texts
from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")

META = "domaintune_classifier.json"


class Classifier(Predictor):
    strategy: str
    output_kind = OutputKind.LABELS
    graph_output = ("`logits` [batch, classes]; probabilities are softmax (sigmoid if multi-label), labels in "
                    "domaintune_classifier.json")

    def __init__(self, tokenizer, labels: list[str], multi_label: bool, max_length: int, truncation: str,
                 threshold: float = 0.5, base: dict | None = None, head_config: dict | None = None,
                 layers: int = 1, pooling: str = "mean"):
        self.tokenizer, self.labels = tokenizer, list(labels)
        self.multi_label, self.max_length, self.truncation = multi_label, max_length, truncation
        self.threshold, self.layers, self.pooling = threshold, layers, pooling
        self.base = base or {}
        self.head_config = head_config or {}

    # ------------------------------------------------------------------ what each strategy provides
    def logits_from_ids(self, ids: list[list[int]], batch_size: int = 64) -> np.ndarray:
        raise NotImplementedError

    def save_weights(self, folder: Path) -> None:
        raise NotImplementedError

    def parameters(self) -> dict:
        """Trainable and total parameter counts."""
        raise NotImplementedError

    @classmethod
    def load(cls, folder: Path, meta: dict) -> Classifier:
        raise NotImplementedError

    def export_graph(self):
        """A torch module (input_ids, attention_mask) -> logits, for deploy/export.py."""
        raise DomaintuneError(f"a '{self.strategy}' classifier cannot be exported")

    def export_meta(self) -> dict:
        return self.meta()

    @classmethod
    def from_export(cls, graph, tokenizer, meta: dict, info: dict) -> ExportedClassifier:
        return ExportedClassifier(graph, tokenizer, meta, info)

    def agreement(self, exported: Classifier, texts: list[str]) -> dict:
        """The share of texts given the same labels, and the largest difference of a class probability."""
        p, q = self.predict_proba(texts)[0], exported.predict_proba(texts)[0]
        same = [x == y for x, y in zip(self.decide(p), exported.decide(q), strict=True)]
        return {"texts": len(texts), "same_labels": round(float(np.mean(same)), 4),
                "max_probability_difference": round(float(np.abs(p - q).max()), 4)}

    def served_info(self) -> dict:
        return {"labels": self.labels}

    # ------------------------------------------------------------------ prediction
    def encode(self, texts: list[str]) -> tuple[list[list[int]], list[bool]]:
        return encode_texts(self.tokenizer, texts, self.max_length, self.truncation)

    def predict_proba_ids(self, ids: list[list[int]], batch_size: int = 64) -> np.ndarray:
        return probabilities(self.logits_from_ids(ids, batch_size), self.multi_label)

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> tuple[np.ndarray, list[bool]]:
        ids, truncated = self.encode(texts)
        return self.predict_proba_ids(ids, batch_size), truncated

    def predict(self, texts: list[str], batch_size: int = 64) -> list[dict]:
        """The task contract's prediction: per text, the label(s) decided and every class's probability."""
        probs, truncated = self.predict_proba(texts, batch_size)
        return [{"labels": labs, "scores": dict(zip(self.labels, map(float, p), strict=True)), "truncated": cut}
                for labs, p, cut in zip(self.decide(probs), probs, truncated, strict=True)]

    @property
    def metadata(self) -> dict:
        return {"task": "classification", **self.meta()}

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
        self.save_weights(Path(folder))
        atomic_write_json(Path(folder) / META, self.meta())


def common_settings(meta: dict) -> dict:
    """The base-class settings of a saved classifier, from its domaintune_classifier.json."""
    return dict(labels=meta["labels"], multi_label=meta["multi_label"], max_length=meta["max_length"],
                truncation=meta["truncation"], threshold=meta["threshold"], layers=meta["layers"],
                pooling=meta["pooling"], base=meta["base"], head_config=meta["head"])


def save_head(head, folder: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(Path(folder) / "head.safetensors"))


def load_head(meta: dict, folder: Path):
    """The frozen / few-shot head of a saved folder (logistic or MLP), in eval mode."""
    from safetensors.torch import load_file

    from domaintune.classification.heads import build_head

    hc = meta["head"]
    head = build_head(hc["kind"], hc["in_features"], len(meta["labels"]), hc.get("hidden", 512), hc.get("dropout", 0.1))
    head.load_state_dict(load_file(str(Path(folder) / "head.safetensors")))
    return head.eval()








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


class ExportedClassifier(Classifier):
    """A classifier whose logits come from an exported graph (deploy/runtime.py): no torch."""

    def __init__(self, graph, tokenizer, meta: dict, info: dict):
        super().__init__(tokenizer, **common_settings(meta))
        self.graph, self.info, self.strategy = graph, info, meta["strategy"]

    def logits_from_ids(self, ids: list[list[int]], batch_size: int = 64) -> np.ndarray:
        return self.graph.run_batches(ids, batch_size, self.tokenizer.pad_token_id or 0).reshape(
            len(ids), len(self.labels))

    @property
    def metadata(self) -> dict:
        return {**self.info, **self.meta()}
