"""Strategy `frozen`: the encoder never changes; its features are computed once (cached on disk) and a head
is trained on them in seconds. Also the linear probe, the "before" column of every classification report.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from domaintune.adapters import base_record, check_same_encoder
from domaintune.classification.heads import fit_logistic, train_mlp
from domaintune.classification.model import (
    Classifier,
    common_settings,
    load_head,
    save_head,
)
from domaintune.errors import DomaintuneError
from domaintune.features import (
    FeatureEncoder,
    cached_features,
    default_cache_dir,
    encode_features,
    pool,
)

log = logging.getLogger("domaintune")


def load_frozen_encoder(name: str) -> tuple:
    """(tokenizer, feature encoder, base record) of an untouched encoder: a transformers encoder, or the
    Universal Sentence Encoder (numpy; token ids in, sentence embeddings out)."""
    from domaintune.models import encoder_folder, is_use_folder, resolve_model

    path, is_local = resolve_model(name)
    if is_local and is_use_folder(Path(path)):
        from domaintune.use_encoder import UseFeatures

        encoder = UseFeatures()
    else:
        encoder = TransformerFeatures(encoder_folder(name))
    return encoder.tokenizer, encoder, base_record(name, encoder.fingerprint())


class TransformerFeatures(FeatureEncoder):
    def __init__(self, folder: Path):
        from transformers import AutoModel, AutoTokenizer

        from domaintune.models import fingerprint

        self.folder = Path(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModel.from_pretrained(str(folder)).eval()
        self._fingerprint = fingerprint(self.folder)

    @torch.no_grad()
    def features(self, input_ids, attention_mask, layers, pooling, noisy=False) -> np.ndarray:
        self.model.train(noisy)
        res = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=layers > 1)
        states = res.hidden_states[-layers:] if layers > 1 else [res.last_hidden_state]
        out = torch.cat([pool(h, attention_mask, pooling) for h in states], dim=-1).float().numpy()
        self.model.eval()
        return out

    def fingerprint(self) -> str:
        return self._fingerprint

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


class FrozenClassifier(Classifier):
    """A head on the features of an untouched encoder; the saved folder holds the head only."""

    strategy = "frozen"

    def __init__(self, tokenizer, labels, multi_label, max_length, truncation, threshold=0.5, encoder=None,
                 head=None, **common):
        super().__init__(tokenizer, labels, multi_label, max_length, truncation, threshold, **common)
        self.encoder, self.head = encoder, head
        self.feature_fn = None  # inside a run: features from the run's disk cache (the same numbers)

    @torch.no_grad()
    def logits_from_ids(self, ids: list[list[int]], batch_size: int = 64) -> np.ndarray:
        feats = (self.feature_fn(ids) if self.feature_fn else
                 encode_features(self.encoder, ids, self.tokenizer.pad_token_id or 0, self.layers, self.pooling,
                                 batch_size))
        self.head.eval()
        return self.head(torch.tensor(feats)).numpy()

    def save_weights(self, folder: Path) -> None:
        save_head(self.head, folder)

    def export_graph(self):
        from domaintune.deploy.graph import HeadGraph, PooledStatesGraph

        if not isinstance(self.encoder, TransformerFeatures):
            raise DomaintuneError("a frozen classifier on the Universal Sentence Encoder (numpy) cannot be exported "
                                  "to ONNX / OpenVINO; its folder already runs without torch")
        return HeadGraph(PooledStatesGraph(self.encoder.model, self.layers, self.pooling), self.head).eval()

    def parameters(self) -> dict:
        head = sum(p.numel() for p in self.head.parameters())
        return {"trainable": head, "total": head + self.encoder.parameter_count()}

    @classmethod
    def load(cls, folder: Path, meta: dict) -> FrozenClassifier:
        tokenizer, encoder, base = load_frozen_encoder(meta["base"]["name"])
        check_same_encoder(meta["base"], base["fingerprint"], folder)
        return cls(tokenizer, encoder=encoder, head=load_head(meta, folder), **common_settings(meta))


class FrozenEncoder:
    """An untouched encoder with its tokenizer, fingerprint and feature cache."""

    def __init__(self, name: str, cache_dir: str | None, batch_size: int = 64):
        self.tokenizer, self.encoder, self.base = load_frozen_encoder(name)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.batch_size = batch_size
        self.seconds_encoding = 0.0

    def features(self, ids: list[list[int]], layers: int, pooling: str, noise_pass: int = 0,
                 what: str = "") -> np.ndarray:
        t = time.perf_counter()
        feats, cached = cached_features(self.encoder, self.base["fingerprint"], ids, self.tokenizer.pad_token_id or 0,
                                        self.cache_dir, layers, pooling, self.batch_size, noise_pass, what)
        if not cached:
            self.seconds_encoding += time.perf_counter() - t
        return feats


def train_frozen(frozen: FrozenEncoder, cfg, recipe, labels: list[str], train_ids, y_train, val_ids, y_val,
                 class_weights: np.ndarray | None, layers: int | None = None,
                 head: str | None = None, pooling: str | None = None) -> tuple[Classifier, dict]:
    """Features once (plus optional dropout-noised passes of the training rows), then the head."""
    layers = layers or cfg.layers
    head = head or cfg.head
    if frozen.encoder.single_vector and (layers > 1 or cfg.noisy_passes):
        raise DomaintuneError(f"recipe: model '{recipe.model.name}' gives one sentence vector and has no dropout: "
                              "set frozen.layers: 1 and frozen.noisy_passes: 0")
    multi, pooling = recipe.data.multi_label, pooling or recipe.model.pooling
    start, encoding_before = time.perf_counter(), frozen.seconds_encoding
    x_train = [frozen.features(train_ids, layers, pooling, what="training")]
    for k in range(1, cfg.noisy_passes + 1):
        x_train.append(frozen.features(train_ids, layers, pooling, noise_pass=k, what="training"))
    x_val = frozen.features(val_ids, layers, pooling, what="validation")
    x = np.concatenate(x_train)
    y = np.concatenate([y_train] * len(x_train))
    t_head = time.perf_counter()
    if head == "mlp":
        model, info = train_mlp(x, y, x_val, y_val, len(labels), multi, cfg.mlp_hidden, cfg.mlp_dropout,
                                cfg.mlp_epochs, cfg.mlp_learning_rate, recipe.training.batch_size, class_weights,
                                recipe.evaluation.threshold, recipe.training.seed)
        head_config = {"kind": "mlp", "in_features": x.shape[1], "hidden": cfg.mlp_hidden, "dropout": cfg.mlp_dropout}
    else:
        model, info = fit_logistic(x, y, x_val, y_val, len(labels), multi, cfg.C, cfg.C_grid,
                                   class_weights is not None, recipe.evaluation.threshold, recipe.training.seed)
        head_config = {"kind": "logistic", "in_features": x.shape[1]}
    clf = FrozenClassifier(frozen.tokenizer, labels, multi, recipe.model.max_seq_length, recipe.model.truncation,
                           recipe.evaluation.threshold, encoder=frozen.encoder, head=model.eval(), layers=layers,
                           pooling=pooling, base=frozen.base, head_config=head_config)
    clf.feature_fn = lambda ids: frozen.features(ids, layers, pooling, what="evaluation")
    stats = {"seconds": round(time.perf_counter() - start, 2), "head_seconds": round(time.perf_counter() - t_head, 2),
             "encoding_seconds": round(frozen.seconds_encoding - encoding_before, 2), "feature_rows": len(x), **info}
    return clf, stats


def linear_probe(frozen: FrozenEncoder, recipe, labels, train_ids, y_train, val_ids, y_val) -> Classifier:
    """The untouched encoder (last layer, pooled) + logistic regression, C picked on validation."""
    from domaintune.classification.recipe import FrozenConfig

    # a full/adapter run with transformers' own head (pooling: pooler) is probed on mean-pooled features
    pooling = "mean" if recipe.model.pooling == "pooler" else recipe.model.pooling
    clf, _ = train_frozen(frozen, FrozenConfig(), recipe, labels, train_ids, y_train, val_ids, y_val, None,
                          layers=1, head="logistic", pooling=pooling)
    return clf
