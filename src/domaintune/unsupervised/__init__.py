"""Tasks `tsdae` and `simcse`: adapt a sentence encoder on raw domain text, no labels (recipe, noise, task)."""
