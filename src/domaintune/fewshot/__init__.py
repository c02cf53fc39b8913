"""Task `fewshot`: SetFit-style few-shot classification (recipe, contrastive pairs, model, task)."""
