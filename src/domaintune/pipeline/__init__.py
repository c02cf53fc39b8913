"""Task `pipeline`: stages of other tasks in order, each stage's model the next one's base (recipe, task)."""
