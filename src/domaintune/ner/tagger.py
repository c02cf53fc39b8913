"""A token classifier (NER) as one object: words -> tags, raw texts -> entity spans with character offsets.

Sub-token alignment: the first sub-token of each word carries the word's tag, the others are ignored (-100).
A sentence whose sub-tokens do not fit `max_length` is cut into windows of whole words (ner/data.py: windows),
each predicted on its own and stitched back: nothing is truncated silently. The same code encodes training
rows and prediction inputs, and a saved folder (a standard AutoModelForTokenClassification folder, or a PEFT
adapter with its head) reloads to identical predictions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from domaintune.core.batching import padded_arrays
from domaintune.core.contract import OutputKind, Predictor
from domaintune.core.io import atomic_write_json
from domaintune.core.truncation import special_tokens_around
from domaintune.errors import DomaintuneError
from domaintune.ner.data import windows, words_with_offsets

META = "domaintune_tagger.json"


def encode_windows(tokenizer, sentences: list[list[str]], max_length: int, tag_ids: list[list[int]] | None = None):
    """Rows {input_ids, labels?, sentence, words: [first word, end word), word_of_token} for every window."""
    prefix, suffix = special_tokens_around(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    enc = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False, truncation=False, verbose=False)
    rows = []
    for s, words in enumerate(sentences):
        ids, word_ids = enc["input_ids"][s], enc.word_ids(s)
        per_word = [[] for _ in words]
        for tok, w in zip(ids, word_ids, strict=True):
            if w is not None:
                per_word[w].append(tok)
        for a, b in windows([len(p) for p in per_word], budget):
            input_ids, labels, word_of_token = list(prefix), [-100] * len(prefix), [-1] * len(prefix)
            for w in range(a, b):
                pieces = per_word[w][:budget]
                input_ids += pieces
                word_of_token += [w] + [-1] * (len(pieces) - 1)
                if tag_ids is not None:
                    labels += ([tag_ids[s][w]] + [-100] * (len(pieces) - 1)) if pieces else []
            input_ids, word_of_token = input_ids[:len(prefix) + budget] + suffix, word_of_token[:len(prefix) + budget]
            row = {"input_ids": input_ids, "sentence": s, "word_of_token": word_of_token + [-1] * len(suffix)}
            if tag_ids is not None:
                row["labels"] = labels[:len(prefix) + budget] + [-100] * len(suffix)
            rows.append(row)
    return rows


def spans_from_tags(tags: list[str]) -> list[tuple[int, int, str]]:
    """IOB2 word tags -> (first word, end word, type); an I- without a matching open entity starts one."""
    out, start, typ = [], None, None
    for k, t in enumerate([*tags, "O"]):
        if t == "O" or t.startswith("B-") or (t.startswith("I-") and t[2:] != typ):
            if start is not None:
                out.append((start, k, typ))
            start, typ = (k, t[2:]) if t != "O" else (None, None)
    return out


class Tagger(Predictor):
    output_kind = OutputKind.SPANS
    graph_output = ("`logits` [batch, tokens, tags]; tags in domaintune_tagger.json, one tag per word read off its "
                    "first sub-token")

    def __init__(self, model, tokenizer, tags: list[str], max_length: int, strategy: str, base: dict | None = None):
        self.model, self.tokenizer, self.tags = model, tokenizer, list(tags)
        self.max_length, self.strategy, self.base = max_length, strategy, base or {}

    def token_logits(self, input_ids, attention_mask):
        """Per-token logits [batch, tokens, tags] (numpy) for a padded batch; the exported tagger replaces this."""
        import torch

        self.model.eval()
        with torch.no_grad():
            return self.model(input_ids=torch.from_numpy(input_ids),
                              attention_mask=torch.from_numpy(attention_mask)).logits.float().numpy()

    def predict_words(self, sentences: list[list[str]], batch_size: int = 64) -> list[list[str]]:
        rows = encode_windows(self.tokenizer, sentences, self.max_length)
        out = [["O"] * len(words) for words in sentences]
        pad = self.tokenizer.pad_token_id or 0
        ids = [r["input_ids"] for r in rows]
        for idx, input_ids, mask in padded_arrays(ids, batch_size, pad):
            pred = self.token_logits(input_ids, mask).argmax(-1)
            for k, r in enumerate(idx):
                row = rows[r]
                for pos, w in enumerate(row["word_of_token"]):
                    if w >= 0:
                        out[row["sentence"]][w] = self.tags[int(pred[k, pos])]
        return out

    def predict_spans(self, texts: list[str], batch_size: int = 64) -> list[list[dict]]:
        """Entities with character offsets into each original text."""
        words = [words_with_offsets(t) for t in texts]
        tags = self.predict_words([[w for w, _, _ in ws] for ws in words], batch_size)
        return [[{"start": ws[a][1], "end": ws[b - 1][2], "label": typ, "text": text[ws[a][1]:ws[b - 1][2]]}
                 for a, b, typ in spans_from_tags(tg)] for text, ws, tg in zip(texts, words, tags, strict=True)]

    def predict(self, texts: list[str], batch_size: int = 64) -> list[list[dict]]:
        """The task contract's prediction: entity spans with character offsets, per text."""
        return self.predict_spans(texts, batch_size)

    def export_graph(self):
        from domaintune.deploy.graph import LogitsGraph

        return LogitsGraph(self.model).eval()

    def export_meta(self) -> dict:
        return {"task": "ner", "strategy": self.strategy, "tags": self.tags, "max_length": self.max_length,
                "base": self.base}

    @classmethod
    def from_export(cls, graph, tokenizer, meta: dict, info: dict) -> ExportedTagger:
        return ExportedTagger(graph, tokenizer, meta, info)

    def agreement(self, exported: Tagger, texts: list[str]) -> dict:
        """The share of texts given the same spans."""
        same = [x == y for x, y in zip(self.predict(texts), exported.predict(texts), strict=True)]
        return {"texts": len(texts), "same_spans": round(float(np.mean(same)), 4)}

    def served_info(self) -> dict:
        return {"labels": sorted({t.split("-", 1)[-1] for t in self.tags if t != "O"})}

    @property
    def metadata(self) -> dict:
        return {"task": "ner", "strategy": self.strategy, "tags": self.tags, "max_length": self.max_length,
                "base": self.base}

    def save(self, folder: Path) -> None:
        self.model.save_pretrained(str(folder))
        self.tokenizer.save_pretrained(str(folder))
        atomic_write_json(Path(folder) / META, {"format": 1, "strategy": self.strategy, "tags": self.tags,
                                                "max_length": self.max_length, "base": self.base})


def tag_config(tags: list[str]) -> dict:
    return {"num_labels": len(tags), "id2label": dict(enumerate(tags)), "label2id": {t: i for i, t in enumerate(tags)}}


def load_tagger(folder: str | Path) -> Tagger:
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from domaintune.adapters import base_folder

    folder = Path(folder)
    if not (folder / META).exists():
        raise DomaintuneError(f"{folder}: not a domaintune NER model folder (no {META})")
    meta = json.loads((folder / META).read_text())
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if meta["strategy"] == "full":
        model = AutoModelForTokenClassification.from_pretrained(str(folder))
    else:
        from peft import PeftModel

        base = AutoModelForTokenClassification.from_pretrained(str(base_folder(meta["base"], folder)),
                                                               **tag_config(meta["tags"]))
        model = PeftModel.from_pretrained(base, str(folder))
    return Tagger(model.eval(), tokenizer, meta["tags"], meta["max_length"], meta["strategy"], meta["base"])


class ExportedTagger(Tagger):
    """A tagger whose token logits come from an exported graph (deploy/runtime.py): no torch."""

    def __init__(self, graph, tokenizer, meta: dict, info: dict):
        super().__init__(None, tokenizer, meta["tags"], meta["max_length"], meta["strategy"], meta.get("base"))
        self.graph, self.info = graph, info

    def token_logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.graph(input_ids, attention_mask)

    @property
    def metadata(self) -> dict:
        return {**self.info, "tags": self.tags, "max_length": self.max_length, "strategy": self.strategy}
