"""Matryoshka embeddings (Kusupati et al., 2022) for the embedding tasks: `training.matryoshka_dims` wraps the
task's loss in sentence-transformers' MatryoshkaLoss, so the first d numbers of an embedding, renormalised, are an
embedding of their own; the run is evaluated at each dimension too, and the saved model says which dimensions it
was trained for (MARKER), so `embed --dimensions` and the server's `dimensions` can honour them, and refuse a
model that was not trained for it (its first 64 numbers are not a 64-dimensional embedding).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from domaintune.core.evaluator import run_evaluators
from domaintune.core.io import atomic_write_text
from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")

MARKER = "domaintune_matryoshka.json"  # {"dims": [384, 128, 64]} in a model trained for them


class MatryoshkaTraining(BaseModel):
    """The recipe field, shared by the embedding tasks' training sections."""

    matryoshka_dims: list[int] = Field(
        [], description="Matryoshka: also train the first d numbers of each embedding as an embedding (e.g. [384, "
        "128, 64]; the full dimension is added when missing); evaluated at each; [] = off"
    )

    @field_validator("matryoshka_dims")
    @classmethod
    def _positive_distinct(cls, dims: list[int]) -> list[int]:
        if any(d < 1 for d in dims):
            raise ValueError("every dimension must be at least 1")
        return sorted(set(dims), reverse=True)


def training_dims(dims: list[int], model) -> list[int]:
    """The recipe's dims with the model's full dimension, largest first; a dim beyond it is refused."""
    full = model.get_embedding_dimension()
    over = [d for d in dims if d > full]
    if over:
        raise DomaintuneError(f"training.matryoshka_dims: {over[0]} is more than the model's dimension {full}")
    return sorted({*dims, full}, reverse=True)


def check_recipe(recipe) -> None:
    """Refuse matryoshka_dims beyond the model's dimension while the run's data is read, before its folder is
    written (the model is loaded once more for it: about a second for MiniLM)."""
    dims = getattr(recipe.training, "matryoshka_dims", [])
    if dims:
        from domaintune.models import load_sentence_model

        m = recipe.model
        training_dims(dims, load_sentence_model(m.name, m.max_seq_length, m.pooling, prefix=m.prefix))


def wrap_loss(loss, model, dims: list[int]):
    """The task's loss inside MatryoshkaLoss (one weight per dimension), or the loss as is when dims is empty."""
    if not dims:
        return loss
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss

    return MatryoshkaLoss(model, loss, matryoshka_dims=training_dims(dims, model))


def evaluate_at_dims(model, suite: list, dims: list[int], label: str) -> dict[str, dict]:
    """The suite at each dimension below the full one ({"<evaluator>@<d>d": metrics}): sentence-transformers'
    `truncate_dim` cuts every embedding the evaluators ask for, which then normalise as they always do."""
    full = model.get_embedding_dimension()
    out: dict[str, dict] = {}
    for d in [d for d in dims if d < full]:
        previous, model.truncate_dim = model.truncate_dim, d
        try:
            results, _ = run_evaluators(model, suite, f"{label} at {d} dimensions")
        finally:
            model.truncate_dim = previous
        out.update({f"{name}@{d}d": metrics for name, metrics in results.items()})
    return out


def save_model(model, folder: Path, recipe) -> None:
    """A sentence-transformers folder, and the Matryoshka marker when the recipe trained for it."""
    model.save_pretrained(str(folder))
    dims = getattr(recipe.training, "matryoshka_dims", [])  # tsdae's training section has none
    if dims:
        atomic_write_text(Path(folder) / MARKER, json.dumps({"dims": training_dims(dims, model)}))


def read_dims(folder) -> list[int]:
    """The dimensions a saved model (or its export: markers are copied) was trained for; [] when none."""
    try:
        return list(json.loads((Path(folder) / MARKER).read_text())["dims"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
