"""The run folder: never lose an earlier run. Shared by every task."""

from __future__ import annotations

import shutil
from pathlib import Path

from domaintune.errors import DomaintuneError

RUN_MARKERS = ("recipe.yaml", "metrics.json", "checkpoints", "model")


def prepare_run_dir(recipe, resume: bool, overwrite: bool) -> Path:
    """Never lose an earlier run: an occupied folder is refused unless --resume or --overwrite."""
    model_name = getattr(getattr(recipe, "model", None), "name", None)
    if model_name and getattr(recipe, "strategy", None) != "frozen":
        # every other task and strategy trains its encoder: refuse a frozen-only one (USE) before writing anything
        from domaintune.models import check_fine_tunable

        check_fine_tunable(model_name)
    run_dir = Path(recipe.output.dir)
    occupied = run_dir.exists() and any((run_dir / m).exists() for m in RUN_MARKERS)
    if occupied and not (resume or overwrite):
        raise DomaintuneError(
            f"{run_dir}: already holds a run; pass --resume to continue it, --overwrite to replace it, "
            "or choose another output.dir"
        )
    if occupied and resume:
        saved = run_dir / "recipe.yaml"
        if saved.exists():
            from domaintune.recipe import load_recipe

            old = load_recipe(saved)
            if old.hash() != recipe.hash():
                raise DomaintuneError(
                    f"{run_dir}: --resume with a recipe that differs from the one this run started with "
                    f"({saved}); resume with that recipe, or start a new output.dir"
                )
    if occupied and overwrite and not resume:
        shutil.rmtree(run_dir)
    return run_dir  # created once the data has been read: a bad file leaves no empty folder behind
