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
        old = saved_recipe(run_dir)
        if old is not None and old.hash() != recipe.hash():
            raise DomaintuneError(
                f"{run_dir}: --resume with a recipe that differs from the one this run started with "
                f"({run_dir / 'recipe.yaml'}); resume with that recipe, or start a new output.dir"
            )
    if occupied and overwrite and not resume:
        shutil.rmtree(run_dir)
    return run_dir  # created once the data has been read: a bad file leaves no empty folder behind


def saved_recipe(run_dir: Path):
    """The recipe a run folder was started with (None: no run there), as it ran. A classification run from
    before the pooled head (session 7) trained transformers' [CLS] -> pooler head whatever its model.pooling
    said, so it reads as model.pooling: pooler: neither --resume nor compare takes it for a pooled-head run."""
    from domaintune.recipe import load_recipe

    saved = run_dir / "recipe.yaml"
    if not saved.exists():
        return None
    recipe = load_recipe(saved)
    if recipe.task == "classification" and recipe.strategy != "frozen" and recipe.model.pooling != "pooler":
        import json

        from domaintune.classifier.model import META, checkpoint_head_pooling, saved_head_pooling

        meta = run_dir / "model" / META
        checkpoint = next((run_dir / "checkpoints").glob("checkpoint-*"), None)  # any: all hold the same head
        if meta.exists():
            recipe.model.pooling = saved_head_pooling(json.loads(meta.read_text()))
        elif checkpoint is not None:
            recipe.model.pooling = checkpoint_head_pooling(checkpoint) or recipe.model.pooling
    return recipe
