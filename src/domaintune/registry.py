"""The one registry of tasks: name -> recipe class, the module that runs it, and its predictor's class.

`api`, `cli` and `pipeline` reach a task only through here; nothing else dispatches on a task's name (the one
documented exception to the layering: this module names the task packages; tests/test_structure.py). Each task
module (`domaintune/<task>/task.py`) fulfils `core.contract.TaskModule`:

    run(recipe, resume, overwrite, show_progress) -> metrics   the whole job, top to bottom (core/run.py's steps)
    write_report(run_dir, metrics, log_history=None) -> {"markdown": path, "html": path}
    load(path) -> a core.contract.Predictor                      (embeddings, labels with scores, or spans)
    optional: sections(metrics), parity_evaluators(recipe, run_dir, predictor)

`Task.predictor` names the task's predictor class, whose `from_export` rebuilds it around an exported graph without
torch; `Task.predictions`, for tasks whose models answer `domaintune predict`, a torch-free module with
`predict_file(predictor, input, output, column, batch_size)` and `PREDICTIONS_SUFFIX`.

Adding a task is one package plus one line in TASKS. The task modules are imported by name when first used, so
`domaintune --help` and recipe validation stay fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from domaintune.classification.recipe import ClassificationRecipe
from domaintune.core import recipe as core_recipe
from domaintune.core.contract import Predictor, TaskModule
from domaintune.core.recipe import RecipeBase
from domaintune.errors import DomaintuneError
from domaintune.fewshot.recipe import FewShotRecipe
from domaintune.mlm.recipe import MLMRecipe
from domaintune.ner.recipe import NERRecipe
from domaintune.pipeline.recipe import PipelineRecipe
from domaintune.reranker.recipe import RerankerRecipe
from domaintune.simcse.recipe import SimCSERecipe
from domaintune.similarity.recipe import SimilarityRecipe
from domaintune.tsdae.recipe import TSDAERecipe


@dataclass(frozen=True)
class Task:
    name: str
    recipe: type[RecipeBase]
    module: str  # run, write_report, load (core.contract.TaskModule)
    predictor: str = "domaintune.embedding.predictor:EmbeddingPredictor"  # module:class, imports no torch
    model_marker: str | None = None  # a file that marks a saved model of this task (None: a plain encoder folder)
    predictions: str | None = None  # module with predict_file (`domaintune predict`); imports no torch

    def impl(self) -> TaskModule:
        return TaskModule(importlib.import_module(self.module))

    def predictor_class(self) -> type[Predictor]:
        module, name = self.predictor.split(":")
        return getattr(importlib.import_module(module), name)

    def predictions_impl(self) -> ModuleType | None:
        return importlib.import_module(self.predictions) if self.predictions else None


TASKS: dict[str, Task] = {t.name: t for t in [
    Task("similarity", SimilarityRecipe, "domaintune.similarity.task"),
    Task("classification", ClassificationRecipe, "domaintune.classification.task",
         "domaintune.classification.model:Classifier", "domaintune_classifier.json",
         "domaintune.classification.predict"),
    Task("fewshot", FewShotRecipe, "domaintune.fewshot.task"),  # its models are classifier folders
    Task("mlm", MLMRecipe, "domaintune.mlm.task"),
    Task("ner", NERRecipe, "domaintune.ner.task", "domaintune.ner.tagger:Tagger", "domaintune_tagger.json",
         "domaintune.ner.predict"),
    Task("pipeline", PipelineRecipe, "domaintune.pipeline.task"),
    Task("tsdae", TSDAERecipe, "domaintune.tsdae.task"),  # raw text, no labels; saves a plain encoder
    Task("simcse", SimCSERecipe, "domaintune.simcse.task"),
    Task("reranker", RerankerRecipe, "domaintune.reranker.task", "domaintune.reranker.model:Reranker",
         "domaintune_reranker.json"),  # a cross-encoder: (query, text) -> a score; not exportable yet
]}
RECIPES: dict[str, type[RecipeBase]] = {name: t.recipe for name, t in TASKS.items()}
# run folders that are not one task's run, and the module that writes their report
OTHER_REPORTS = {"compare": "domaintune.classification.compare"}  # write_report(run_dir, metrics)


def get(name: str) -> Task:
    if name not in TASKS:
        raise DomaintuneError(f"unknown task '{name}'; available: {', '.join(TASKS)}")
    return TASKS[name]


def load_recipe(path: str | Path | None = None, overrides: list[str] | None = None,
                task: str | None = None) -> RecipeBase:
    """A recipe file (or the defaults of `task`) with KEY=VALUE overrides, validated by its task's class."""
    return core_recipe.load_recipe(path, overrides, task, RECIPES)


def run(recipe: RecipeBase, **kwargs) -> dict:
    """Run a recipe by its task, after the checks that need no data: the processes, and a frozen-only encoder
    (USE) refused before anything is written."""
    from domaintune.models import check_fine_tunable

    check_processes(recipe)
    if recipe.trains_encoder():
        check_fine_tunable(recipe.model.name)
    return get(recipe.task).impl().run(recipe, **kwargs)


def check_processes(recipe: RecipeBase) -> None:
    """Under torchrun / accelerate launch with several processes, only a rank-aware run may start (issue #15):
    another would have every process write the same run folder."""
    from domaintune.core.distributed import world_size

    if world_size() == 1:
        return
    for r in (recipe, *recipe.sub_recipes(RECIPES)):
        if not r.multi_process():
            raise DomaintuneError(f"this {r.task} run works in one process for now, and this is one of "
                                  f"{world_size()} (WORLD_SIZE; torchrun or accelerate launch); start "
                                  "`domaintune train` directly, on one GPU or the CPU (docs/scale.md)")


def report_module(kind: str):
    """What writes the report of a run folder whose metrics.json says `task: kind` (`.write_report(run_dir,
    metrics)`)."""
    if kind in OTHER_REPORTS:
        return importlib.import_module(OTHER_REPORTS[kind])
    return get(kind).impl()


def model_task(path: str | Path) -> Task:
    """The task whose saved model `path` is: by its marker file; a folder with none is an encoder (similarity)."""
    folder = Path(path)
    for t in TASKS.values():
        if t.model_marker and (folder / t.model_marker).exists():
            return t
    return TASKS["similarity"]


def load_model(path: str | Path, threads: int | None = None) -> Predictor:
    """Any domaintune model folder (or encoder name) as its task's predictor; an exported folder through
    onnxruntime / OpenVINO (`threads` per graph), without importing torch."""
    from domaintune.deploy.runtime import is_export, load_exported
    from domaintune.embedding.static import StaticEmbedder, is_static

    if is_static(path):  # `domaintune distill`: a static embedding model (model2vec), no torch
        return StaticEmbedder(path)
    task = model_task(path)
    if is_export(path):
        return load_exported(path, task.predictor_class(), threads)
    return task.impl().load(path)
