"""Masked-language-model batches: blocks of token ids, masked by transformers' DataCollatorForLanguageModeling.

Two things it does not do, added here:
- whole-word masking needs each row's offset mapping padded with the batch, which its padding step cannot do;
- held-out perplexity needs the *same* masks before and after training: rows that already carry `labels`
  (masked once, with a fixed seed, by `mask_fixed`) are only padded, never masked again.
"""

from __future__ import annotations

import torch
from transformers import DataCollatorForLanguageModeling


def blocks_from_documents(tokenizer, docs: list[str], max_length: int, packing: str,
                          whole_word: bool = False) -> list[dict]:
    """Rows of {input_ids[, offset_mapping]} with special tokens: documents concatenated and cut into full
    blocks (`packed`), or one truncated document per row (`line_by_line`)."""
    from domaintune.core.truncation import special_tokens_around

    prefix, suffix = special_tokens_around(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    enc = tokenizer(docs, add_special_tokens=False, truncation=False, return_offsets_mapping=whole_word,
                    verbose=False)
    rows = []
    if packing == "line_by_line":
        for k, ids in enumerate(enc["input_ids"]):
            row = {"input_ids": prefix + ids[:budget] + suffix}
            if whole_word:
                row["offset_mapping"] = ([(0, 0)] * len(prefix) + [tuple(o) for o in enc["offset_mapping"][k][:budget]]
                                         + [(0, 0)] * len(suffix))
            rows.append(row)
        return rows
    sep = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    ids_stream, offsets_stream = [], []
    for k, ids in enumerate(enc["input_ids"]):
        ids_stream += ids + [sep]
        if whole_word:
            offsets_stream += [tuple(o) for o in enc["offset_mapping"][k]] + [(0, 0)]
    for start in range(0, len(ids_stream) - budget + 1, budget):  # full blocks only; the short tail is dropped
        row = {"input_ids": prefix + ids_stream[start:start + budget] + suffix}
        if whole_word:
            row["offset_mapping"] = ([(0, 0)] * len(prefix) + offsets_stream[start:start + budget]
                                     + [(0, 0)] * len(suffix))
        rows.append(row)
    if not rows and ids_stream:  # less text than one block: one short block
        rows.append({"input_ids": prefix + ids_stream[:budget] + suffix})
    return rows


# transformers supports only [MASK] replacement with whole-word masking (it warns and forces this otherwise)
WHOLE_WORD_REPLACEMENT = {"mask_replace_prob": 1.0, "random_replace_prob": 0.0}


class MaskingCollator:
    def __init__(self, tokenizer, mlm_probability: float, whole_word: bool, seed: int | None = None):
        self.tokenizer = tokenizer
        self.whole_word = whole_word
        self.inner = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability,
                                                     whole_word_mask=whole_word, seed=seed,
                                                     **(WHOLE_WORD_REPLACEMENT if whole_word else {}))

    def __call__(self, rows: list[dict]) -> dict:
        pad = self.tokenizer.pad_token_id or 0
        width = max(len(r["input_ids"]) for r in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, :len(r["input_ids"])] = torch.tensor(r["input_ids"])
            mask[i, :len(r["input_ids"])] = 1
        if "labels" in rows[0]:  # fixed evaluation masks: pad only
            labels = torch.full((len(rows), width), -100, dtype=torch.long)
            for i, r in enumerate(rows):
                labels[i, :len(r["labels"])] = torch.tensor(r["labels"])
            return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
        special = torch.tensor([[1 if (t in self.tokenizer.all_special_ids) else 0 for t in row]
                                for row in input_ids.tolist()])
        offsets = None
        if self.whole_word:
            import numpy as np

            offsets = np.zeros((len(rows), width, 2), dtype=np.int64)
            for i, r in enumerate(rows):
                offsets[i, :len(r["offset_mapping"])] = np.asarray(r["offset_mapping"])
        if self.inner.seed is not None and self.inner.generator is None:
            self.inner.create_rng("pt")
        masked, labels = self.inner.torch_mask_tokens(input_ids, special_tokens_mask=special, offset_mapping=offsets)
        labels[mask == 0] = -100
        return {"input_ids": masked, "attention_mask": mask, "labels": labels}


def mask_fixed(tokenizer, rows: list[dict], mlm_probability: float, whole_word: bool, seed: int) -> list[dict]:
    """Mask held-out rows once, with a fixed seed: before and after are scored on identical masks."""
    collator = MaskingCollator(tokenizer, mlm_probability, whole_word, seed=seed)
    out = []
    for r in rows:
        b = collator([r])
        n = int(b["attention_mask"][0].sum())
        out.append({"input_ids": b["input_ids"][0, :n].tolist(), "labels": b["labels"][0, :n].tolist()})
    return out
