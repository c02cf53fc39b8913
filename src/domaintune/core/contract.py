"""The task contract, as types: what every predictor declares, what every task module provides (with defaults for
its optional parts), and the one metrics envelope every run writes.

- `OutputKind`: what a predictor answers. `deploy` (export, parity, runtime, server) takes everything from the
  predictor's declared kind and the predictor's own methods; it keeps no table of tasks or kinds.
- `Predictor`: texts -> one output kind; its metadata, tokenizer, export graph and meta, how closely an export
  agrees with it, and how to rebuild it around an exported graph (`from_export`, no torch).
- `TaskModule`: a task's `task.py` as an object, the optional parts filled with their defaults.
- `metrics_envelope`: the keys every run's metrics.json starts with (`task`, `before`, `after`, `delta`,
  `directions`, `run`, `training`).

Nothing here imports torch or a task package.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from domaintune.core.evaluator import Evaluator, directions
from domaintune.errors import DomaintuneError


class OutputKind(str, Enum):
    """What a predictor answers, per text (or per pair of texts)."""

    EMBEDDINGS = "embeddings"  # a unit-length vector
    LABELS = "labels"  # the labels decided and every class's probability
    SPANS = "spans"  # entity spans with character offsets
    SCORES = "scores"  # a relevance score of a (query, text) pair: rerankers (predict takes pairs)


class Predictor(ABC):
    """A trained model as one object: `predict(texts)` answers its `output_kind`.

    Subclasses set `output_kind` and `graph_output` (what the exported graph's output is, for the export's card),
    and implement `predict`, `metadata` and, to be exportable, `export_graph` / `export_meta` / `from_export`.
    """

    output_kind: ClassVar[OutputKind]
    graph_output: ClassVar[str] = ""
    tokenizer: Any
    max_length: int

    @abstractmethod
    def predict(self, texts: list[str], batch_size: int = 64) -> Any:
        """One answer per text, of the declared output kind."""

    @property
    @abstractmethod
    def metadata(self) -> dict:
        """At least `task`; `path`, `backend` and `precision` where known."""

    # ------------------------------------------------------------------ serving
    def served_info(self) -> dict:
        """What `/models` shows beyond the common fields (an embedder's dimension, a classifier's labels)."""
        return {}

    # ------------------------------------------------------------------ export (deploy/)
    def export_graph(self):
        """One torch module, (input_ids, attention_mask) -> the output tensor (`output_name` on the module)."""
        raise DomaintuneError(f"a {type(self).__name__} cannot be exported")

    def export_meta(self) -> dict:
        """What `from_export` needs to rebuild this predictor around the graph (at least `max_length`)."""
        raise DomaintuneError(f"a {type(self).__name__} cannot be exported")

    def token_states_graph(self):
        """The bare transformer -> last_hidden_state, for a library's own export layout (sentence-transformers'
        `onnx/` and `openvino/`), or None when there is none to write."""
        return None

    @classmethod
    def from_export(cls, graph, tokenizer, meta: dict, info: dict) -> Predictor:
        """This predictor around an exported graph (a callable (input_ids, attention_mask) -> numpy array)."""
        raise DomaintuneError(f"a {cls.__name__} cannot be loaded from an export")

    def agreement(self, exported: Predictor, texts: list[str]) -> dict:
        """How closely an export of this predictor agrees with it, text by text (deploy/parity.py)."""
        raise DomaintuneError(f"a {type(self).__name__} has no export agreement measure")


def metrics_envelope(task: str, before: dict, after: dict, evaluators: list[Evaluator] | dict, run: dict,
                     training: dict, **more) -> dict:
    """The one shape of a run's metrics: {task, before, after, delta, directions, run, training, ...more}. The
    delta is after - before per metric; the directions come from the evaluators (or are given as a dict, where the
    figures are means over seeds)."""
    from domaintune.core.report import deltas

    ways = evaluators if isinstance(evaluators, dict) else directions(evaluators, after)
    return {"task": task, "before": before, "after": after, "delta": deltas(before, after), "directions": ways,
            "run": run, "training": training, **more}


class TaskModule:
    """A task's `task.py` through the contract. Required: `run(recipe, resume, overwrite, show_progress) ->
    metrics`, `write_report(run_dir, metrics, log_history=None)`, `load(path) -> Predictor`. Optional, with the
    defaults below: `sections(metrics)`, `parity_evaluators(recipe, run_dir, predictor)`."""

    REQUIRED = ("run", "write_report", "load")

    def __init__(self, module: ModuleType):
        missing = [f for f in self.REQUIRED if not callable(getattr(module, f, None))]
        if missing:
            raise TypeError(f"{module.__name__}: a task module must define {', '.join(missing)}")
        self.module = module
        self.name = module.__name__

    def run(self, recipe, **kwargs) -> dict:
        return self.module.run(recipe, **kwargs)

    def write_report(self, run_dir: Path, metrics: dict, log_history: list | None = None) -> dict:
        return self.module.write_report(run_dir, metrics, log_history)

    def load(self, path) -> Predictor:
        return self.module.load(path)

    def sections(self, metrics: dict) -> list[tuple[str, dict]]:
        """The before/after tables of a run's metrics: one untitled table unless the task has several."""
        own = getattr(self.module, "sections", None)
        return own(metrics) if own else [("", metrics)]

    def parity_evaluators(self, recipe, run_dir: Path | None, predictor: Predictor) -> list[Evaluator]:
        """What an export of this task's model is checked on: nothing beyond the agreement, unless the task says."""
        own = getattr(self.module, "parity_evaluators", None)
        return own(recipe, run_dir, predictor) if own else []
