"""The multi-stage recipe (task: pipeline)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, model_validator

from domaintune.core.recipe import ModelConfig, RecipeBase, Section, validate_recipe
from domaintune.errors import DomaintuneError


class PipelineOutputConfig(Section):
    dir: str = Field("runs/pipeline", description="run folder: one sub-folder per stage, the baseline, the report")


class PipelineRecipe(RecipeBase):
    """Stages run in order; each stage's model is the next stage's base (e.g. mlm -> similarity)."""

    task: Literal["pipeline"] = Field("pipeline", description="what to train")
    model: ModelConfig = Field(default_factory=ModelConfig, description="the first stage's base encoder")
    stages: list[dict[str, Any]] = Field(
        [{"task": "mlm"}, {"task": "similarity"}],
        description="each a recipe of its task (model.name and output.dir are set by the pipeline)",
    )
    compare_last_stage_alone: bool = Field(
        True, description="also run the last stage alone on the original base model, to show what earlier stages bought"
    )
    output: PipelineOutputConfig = Field(default_factory=PipelineOutputConfig, description="where results go")

    @model_validator(mode="after")
    def _stages_are_valid_recipes(self, info: ValidationInfo):
        # a bad stage is refused when the recipe is read, not halfway through a run
        recipes = (info.context or {}).get("recipes")
        if recipes is not None:
            self.stage_recipes(recipes)
        return self

    def seed(self) -> int | None:
        return None  # no training section: each stage seeds its own run

    def multi_process(self) -> bool:
        return True  # itself: stages in turn, waiting for rank 0's model; each stage is checked too (sub_recipes)

    def sub_recipes(self, recipes: dict[str, type[RecipeBase]]) -> list[RecipeBase]:
        return self.stage_recipes(recipes)

    def stage_recipes(self, recipes: dict[str, type[RecipeBase]]) -> list[RecipeBase]:
        """Each stage validated as a recipe of its own task (`recipes`: the registry's classes); errors name the
        stage ('stages.1.training.epocs')."""
        out = []
        for k, stage in enumerate(self.stages):
            if not isinstance(stage, dict) or stage.get("task") not in recipes or stage.get("task") == self.task:
                raise DomaintuneError(f"recipe: 'stages.{k}': each stage needs task: one of "
                                      f"{', '.join(t for t in recipes if t != self.task)}")
            out.append(validate_recipe(recipes[stage["task"]], stage, "recipe", recipes, prefix=f"stages.{k}."))
        return out
