"""Tasks: one module per task, each a single top-to-bottom `run` function."""
