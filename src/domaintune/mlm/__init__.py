"""Task `mlm`: continued masked-language-model pretraining (recipe, corpus, masking, perplexity, task)."""
