"""Token ids for classification with head, tail or head+tail truncation: one function, used by training,
evaluation and prediction alike, so the model always sees texts cut the same way.

transformers' tokenizers only cut the end (or the start, with truncation_side="left"); head+tail (keep the
first quarter and the last three quarters of the budget: Sun et al. 2019, "How to Fine-Tune BERT for Text
Classification?") is not offered, hence this small function.
"""

from __future__ import annotations


def encode_texts(tokenizer, texts: list[str], max_length: int, truncation: str = "head",
                 batch_size: int = 1000) -> tuple[list[list[int]], list[bool]]:
    """Return (input ids with special tokens, was-truncated flag) per text."""
    if truncation not in ("head", "tail", "head+tail"):
        raise ValueError(f"unknown truncation {truncation!r}")
    prefix, suffix = special_tokens_around(tokenizer)
    budget = max(1, max_length - len(prefix) - len(suffix))
    ids_out, truncated = [], []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        raw = tokenizer(chunk, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        for ids in raw:
            cut = len(ids) > budget
            if cut:
                if truncation == "head":
                    ids = ids[:budget]
                elif truncation == "tail":
                    ids = ids[-budget:]
                else:
                    head = budget // 4
                    ids = ids[:head] + ids[len(ids) - (budget - head):]
            ids_out.append(prefix + list(ids) + suffix)
            truncated.append(cut)
    return ids_out, truncated


def special_tokens_around(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens a tokenizer puts before and after one sequence ([CLS] ... [SEP] for BERT)."""
    content = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(content) + 1):
        if full[i:i + len(content)] == content:
            return full[:i], full[i + len(content):]
    return [], []
