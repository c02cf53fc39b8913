"""Unsupervised SimCSE (Gao et al., 2021) on raw domain text: each text is its own positive, the two passes
differing only by dropout, and the other texts of the batch are the negatives (sentence-transformers'
MultipleNegativesRankingLoss on (text, text) rows). The run itself, top to bottom, is the one every label-free task
shares (unsupervised/run.py); this module gives its objective.
"""

from __future__ import annotations

from pathlib import Path

from domaintune.core.distributed import world_size
from domaintune.embedding.matryoshka import wrap_loss
from domaintune.simcse.recipe import SimCSERecipe
from domaintune.unsupervised.run import Objective, load, run_unsupervised, write_report

__all__ = ["run", "write_report", "load", "objective"]


def run(recipe: SimCSERecipe, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    return run_unsupervised(recipe, objective, resume, overwrite, show_progress)


def objective(recipe: SimCSERecipe, model, texts: list[str], run_dir: Path) -> Objective:
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    t = recipe.training
    loss = wrap_loss(MultipleNegativesRankingLoss(model, scale=t.scale, gather_across_devices=(
        t.gather_across_devices and world_size() > 1)), model, t.matryoshka_dims)
    return Objective({"anchor": texts, "positive": texts}, loss,
                     f"SimCSE (unsupervised): dropout positives, in-batch negatives, scale {t.scale:g}")
