"""Task `ner`: token classification (recipe, CoNLL / span data, tagger, seqeval evaluation, task)."""
