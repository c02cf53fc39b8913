"""The recipe core: one YAML file describes a whole job.

Each task's pydantic models (`domaintune/<task>/recipe.py`) are the single source of truth: validation, defaults,
the comments that `domaintune init` writes, and command-line overrides (`--set training.epochs=2`) all come from
them. This module holds what every task shares: the section base, the model, training and adapter sections, the
loader (which takes the task registry's recipe classes) and the YAML writer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domaintune.errors import DomaintuneError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    name: str = Field("all-MiniLM-L6-v2", description="base encoder: a name, a local folder or a hub id")
    max_seq_length: int = Field(128, ge=8, description="longer texts are truncated to this many tokens")
    pooling: Literal["mean", "cls", "max"] = Field(
        "mean", description="pooling for plain transformers encoders (sentence-transformers keep theirs)"
    )
    freeze_embeddings: bool = Field(False, description="keep the token embedding matrix fixed")
    freeze_layers: int = Field(0, ge=0, description="keep the lowest k transformer layers fixed")
    prefix: str | None = Field(
        None, description="text prefix for every text in training and evaluation (e5: 'query: '); null = the "
        "model's own default prompt, if it has one"
    )


class EarlyStoppingConfig(Section):
    patience: int = Field(0, ge=0, description="evaluations without improvement before stopping; 0 = off")
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as an improvement")


class TrainingBase(Section):
    """The optimisation settings every task shares (the same trainer mechanics for all: core/trainer.py)."""

    epochs: float = Field(1.0, gt=0, description="passes over the training data")
    max_steps: int = Field(-1, description="stop after this many optimiser steps (-1 = use epochs)")
    batch_size: int = Field(32, ge=1, description="rows per step and device")
    gradient_accumulation_steps: int = Field(1, ge=1, description="steps accumulated per optimiser update")
    learning_rate: float = Field(2e-5, gt=0, description="peak AdamW learning rate")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="share of steps spent warming up linearly")
    scheduler: Literal["linear", "cosine", "constant_with_warmup"] = Field(
        "linear", description="decay after warm-up"
    )
    max_grad_norm: float = Field(1.0, ge=0, description="gradient clipping norm (0 = off)")
    eval_steps: int = Field(100, ge=1, description="validate (and checkpoint) every N optimiser steps")
    save_total_limit: int = Field(2, ge=1, description="checkpoints kept besides the best one")
    group_by_length: bool = Field(True, description="batch rows of similar length: far less padding")
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig, description="early stopping")
    seed: int = Field(42, description="one seed for python, numpy and torch")
    tensorboard: bool = Field(True, description="write TensorBoard logs to RUN/tensorboard")
    device: Literal["auto", "cuda", "mps", "cpu"] = Field("auto", description="auto: cuda, else mps, else cpu")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 on a GPU that has it, else fp32 (always fp32 on a CPU)"
    )
    gradient_checkpointing: bool = Field(False, description="recompute activations in backward: less memory, slower")


class RecipeBase(Section):
    """A task's recipe. Every task's recipe declares `task`, `model`, `training` and `output` as pydantic fields of
    its own types (a pipeline has no `training`: its stages do); the shared run template reads them through the
    methods below, which tasks may refine."""

    if TYPE_CHECKING:  # the fields every task's recipe has, each with the task's own type and defaults
        task: str
        model: ModelConfig
        training: TrainingBase
        output: Section

    def seed(self) -> int | None:
        """The one seed for python, numpy and torch (training.seed)."""
        return self.training.seed

    def trains_encoder(self) -> bool:
        """False when the run leaves the encoder untouched (a frozen-feature classifier): a frozen-only encoder
        (the Universal Sentence Encoder) is allowed then."""
        return True

    def multi_process(self) -> bool:
        """Whether this run may go under torchrun / accelerate launch with several processes (rank-aware)."""
        return False

    def sub_recipes(self, recipes: dict[str, type[RecipeBase]]) -> list[RecipeBase]:
        """The recipes this one runs in turn (a pipeline's stages; `recipes`: the registry's classes)."""
        return []

    def as_ran(self, run_dir: Path) -> RecipeBase:
        """This recipe as the run in `run_dir` actually ran it (a task whose meaning of a field changed between
        versions reads its old run folders here); --resume and compare compare hashes of this."""
        return self

    def hash(self) -> str:
        """A short, stable hash of the resolved recipe (output folder excluded)."""
        data = self.model_dump(mode="json")
        data.pop("output", None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class AdapterConfig(Section):
    r: int = Field(16, ge=1, description="LoRA/LoHa/LoKr rank (16: 2.9% of MiniLM's weights trainable)")
    alpha: int = Field(16, ge=1, description="LoRA/LoHa/LoKr scaling alpha (update scale = alpha / r)")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout on the adapter input")
    target_modules: list[str] | str = Field(
        "all-linear", description="layers to adapt: all-linear, or names such as [query, value]"
    )
    learning_rate: float | None = Field(
        1e-3, gt=0, description="adapters want a higher rate than full fine-tuning (SST-2: r 16, alpha 16, 1e-3 beat "
        "r 8, alpha 16 at 2e-3 or 5e-4 by 1.5-1.6 test points); null = training's"
    )
    epochs: float | None = Field(
        None, gt=0, description="adapters often want more passes than full fine-tuning; null = training's"
    )
    dora: bool = Field(False, description="lora only: weight-decomposed LoRA (DoRA: a trained magnitude per output)")

    def training(self, training):
        """The training section an adapter run uses: its own learning rate and epochs where set."""
        update = {k: v for k, v in (("learning_rate", self.learning_rate), ("epochs", self.epochs)) if v}
        return training.model_copy(update=update) if update else training


def format_validation_error(err: ValidationError, source: str, prefix: str = "") -> str:
    problems = []
    for e in err.errors():
        key = prefix + ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            problems.append(f"unknown key '{key}'")
        elif e["type"] == "literal_error":  # e.g. "'strategy': unknown strategy 'dora'; expected one of ..."
            problems.append(f"'{key}': unknown {key.split('.')[-1]} {e.get('input')!r}; expected one of "
                            f"{e['ctx']['expected']}")
        else:
            problems.append(f"'{key}': {e['msg']} (got {e.get('input')!r})")
    return f"{source}: invalid recipe: " + "; ".join(problems)


def parse_override(text: str) -> tuple[list[str], Any]:
    """'training.epochs=2' -> (['training', 'epochs'], 2). The value is parsed as YAML."""
    if "=" not in text:
        raise DomaintuneError(f"override '{text}': expected KEY=VALUE, e.g. training.epochs=2")
    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value != "" else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            if node.get(k) is None:
                node[k] = {}
            node = node[k]
            if not isinstance(node, dict):
                raise DomaintuneError(f"override '{text}': '{k}' is not a section")
        node[keys[-1]] = value
    return data


def read_recipe_file(path: str | Path) -> dict:
    """The mapping in a recipe file. An empty file is refused (it would silently run every default); an explicit
    `{}` or `task: similarity` still means "all defaults"."""
    p = Path(path)
    if not p.is_file():
        raise DomaintuneError(f"{p}: recipe file not found" if not p.exists() else f"{p}: not a file")
    try:
        text = p.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except UnicodeDecodeError as e:
        raise DomaintuneError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        raise DomaintuneError(f"{p}: not valid YAML: {e}".replace("\n", " ")) from None
    if data is None:
        raise DomaintuneError(f"{p}: the recipe is empty; write `task: similarity` (or `{{}}`) for every default, "
                              "or `domaintune init TASK -o FILE` for a complete recipe")
    if not isinstance(data, dict):
        raise DomaintuneError(f"{p}: a recipe is a mapping of sections (task, model, data, ...)")
    return data


def load_recipe(path: str | Path | None, overrides: list[str] | None, task: str | None,
                recipes: dict[str, type[RecipeBase]]) -> RecipeBase:
    """Read a YAML recipe (or start from defaults when path is None) and apply KEY=VALUE overrides. The recipe's
    `task:` (or `task` when there is no file) picks the class in `recipes` (the registry's)."""
    source = str(path) if path else "<defaults>"
    data = read_recipe_file(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    if task and "task" not in data:
        data["task"] = task
    name = data.get("task", "similarity")
    if not isinstance(name, str) or name not in recipes:
        raise DomaintuneError(f"{source}: 'task': unknown task {name!r}; expected one of {', '.join(recipes)}")
    return validate_recipe(recipes[name], data, source, recipes)


def validate_recipe(cls: type[RecipeBase], data: dict, source: str, recipes: dict[str, type[RecipeBase]] | None,
                    prefix: str = "") -> RecipeBase:
    """`cls` validated from `data`; a recipe that nests others (pipeline stages) finds their classes in the
    validation context. Errors name the key ('stages.1.training.epocs')."""
    try:
        return cls.model_validate(data, context={"recipes": recipes})
    except ValidationError as e:
        raise DomaintuneError(format_validation_error(e, source, prefix)) from None


def save_recipe(recipe: RecipeBase, path: Path) -> None:
    from domaintune.core.io import atomic_write_text

    atomic_write_text(path, recipe_to_yaml(recipe, comments=True))


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, str) and ("\n" in value or "\t" in value):
        return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip().removesuffix(
        "\n..."
    ).strip()


def _emit(model: BaseModel, indent: int, lines: list[str], comments: bool) -> None:
    pad = "  " * indent
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        comment = f"  # {field.description}" if comments and field.description else ""
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:{comment}")
            _emit(value, indent + 1, lines, comments)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            lines.append(f"{pad}{name}:{comment}")
            for v in value:
                lines.append(f"{pad}  - {_yaml_scalar(v)}")
        else:
            if isinstance(value, list):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            lines.append(f"{pad}{name}: {_yaml_scalar(value)}{comment}")


def recipe_to_yaml(recipe: RecipeBase, comments: bool = True) -> str:
    """Every field, with its value and (optionally) a one-line comment: what `domaintune init` writes."""
    lines = ["# domaintune recipe: every default is shown; change what you need, delete nothing you keep."]
    _emit(recipe, 0, lines, comments)
    return "\n".join(lines) + "\n"
