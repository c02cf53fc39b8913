"""Task `similarity`: Siamese bi-encoder fine-tuning on pairs or a taxonomy (recipe, data, taxonomy, losses,
trainer, evaluation, task)."""
