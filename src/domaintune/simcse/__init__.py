"""Task `simcse`: unsupervised SimCSE adapts a sentence encoder on raw domain text (recipe, task)."""
