"""The run folder: never lose an earlier run. Shared by every task."""

from __future__ import annotations

import shutil
from pathlib import Path

from domaintune.errors import DomaintuneError

RUN_MARKERS = ("recipe.yaml", "metrics.json", "checkpoints", "model")


def prepare_run_dir(recipe, resume: bool, overwrite: bool) -> Path:
    """Never lose an earlier run: an occupied folder is refused unless --resume or --overwrite."""
    run_dir = Path(recipe.output.dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise DomaintuneError(f"{run_dir}: output.dir is an existing file, not a folder; choose another output.dir")
    occupied = run_dir.exists() and any((run_dir / m).exists() for m in RUN_MARKERS)
    if occupied and not (resume or overwrite):
        raise DomaintuneError(
            f"{run_dir}: already holds a run; pass --resume to continue it, --overwrite to replace it, "
            "or choose another output.dir"
        )
    if occupied and resume:
        old = saved_recipe(run_dir, type(recipe))
        if (run_dir / "recipe.yaml").exists() and (old is None or old.hash() != recipe.hash()):
            raise DomaintuneError(
                f"{run_dir}: --resume with a recipe that differs from the one this run started with "
                f"({run_dir / 'recipe.yaml'}); resume with that recipe, or start a new output.dir"
            )
    if occupied and overwrite and not resume:
        shutil.rmtree(run_dir)
    return run_dir  # created once the data has been read: a bad file leaves no empty folder behind


def saved_recipe(run_dir: Path, recipe_class):
    """The recipe a run folder was started with, as it ran (RecipeBase.as_ran), read as a `recipe_class`; None
    when there is no run there, or when it is another task's run (it differs from any recipe of this class)."""
    from domaintune.core.recipe import read_recipe_file, validate_recipe

    saved = Path(run_dir) / "recipe.yaml"
    if not saved.exists():
        return None
    data = read_recipe_file(saved)
    if data.get("task", "similarity") != recipe_class.model_fields["task"].default:
        return None
    return validate_recipe(recipe_class, data, str(saved), None).as_ran(Path(run_dir))
