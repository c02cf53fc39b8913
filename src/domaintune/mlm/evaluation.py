"""Masked-language-model perplexity on held-out text, with masks fixed once (mlm/masking.py: mask_fixed), so
the before and after columns score the very same masked tokens. Lower is better."""

from __future__ import annotations

import math

import torch

from domaintune.core.evaluator import EvalResult, Evaluator


class PerplexityEvaluator(Evaluator):
    primary_metric = "perplexity"
    greater_is_better = False

    def __init__(self, name: str, rows: list[dict], collator, batch_size: int = 32):
        self.name, self.rows, self.collator, self.batch_size = name, rows, collator, batch_size

    @torch.no_grad()
    def evaluate(self, model) -> EvalResult:
        model.eval()
        total, count = 0.0, 0
        device = next(model.parameters()).device
        order = sorted(range(len(self.rows)), key=lambda i: len(self.rows[i]["input_ids"]))
        for start in range(0, len(order), self.batch_size):
            batch = self.collator([self.rows[i] for i in order[start:start + self.batch_size]])
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"]
            keep = labels != -100
            total += float(torch.nn.functional.cross_entropy(logits[keep], labels[keep], reduction="sum"))
            count += int(keep.sum())
        loss = total / max(count, 1)
        return EvalResult({"perplexity": math.exp(loss), "loss": loss, "masked_tokens": float(count)})
