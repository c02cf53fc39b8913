"""The layout's promises, held by checks that can fail (tests/structure.py): each check passes on src/ and
reports a purpose-made violation in a small tree."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests import structure

SRC = Path(__file__).resolve().parents[1] / "src" / "domaintune"


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """A small package named domaintune with the given files (path -> source)."""
    root = tmp_path / "domaintune"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != root and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")
        path.write_text(textwrap.dedent(text))
    return root


CHECKS = [structure.layer_violations, structure.package_cycles, structure.cross_task_imports,
          structure.long_functions, structure.task_dispatch]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_src_passes(check):
    assert check(SRC) == [], "\n".join(check(SRC))


def test_core_or_deploy_importing_a_task_is_reported(tmp_path):
    root = tree(tmp_path, {
        "core/run.py": "def f():\n    from domaintune.similarity.data import load_pairs\n",  # lazy, still counted
        "deploy/server.py": "from domaintune.ner.tagger import Tagger\n",
        "deploy/export.py": "from domaintune import registry\n",
        "similarity/data.py": "", "ner/tagger.py": "", "registry.py": ""})
    found = structure.layer_violations(root)
    assert any("core imports similarity" in f for f in found)
    assert any("deploy imports ner" in f for f in found)
    assert any("deploy imports registry" in f for f in found)


def test_a_package_cycle_is_reported_and_the_registry_naming_tasks_is_not(tmp_path):
    root = tree(tmp_path, {
        "classification/loading.py": "from domaintune.fewshot.model import FewShotClassifier\n",
        "fewshot/task.py": "from domaintune.classification.data import read\n",
        "classification/data.py": "", "fewshot/model.py": "",
        "registry.py": "from domaintune.pipeline.recipe import PipelineRecipe\n",
        "pipeline/recipe.py": "", "pipeline/task.py": "from domaintune import registry\n"})
    cycles = structure.package_cycles(root)
    assert cycles == ["classification -> fewshot -> classification"]


def test_a_task_importing_another_tasks_task_module_is_reported(tmp_path):
    root = tree(tmp_path, {
        "similarity/task.py": "",
        "mlm/task.py": "def load(p):\n    from domaintune.similarity.task import Embedder\n",
        "tsdae/task.py": "from domaintune.similarity import task\n",
        "similarity/evaluation.py": "from domaintune.similarity.task import run\n"})  # its own: fine
    found = structure.cross_task_imports(root)
    assert len(found) == 2 and all("similarity" in f for f in found)
    assert any(f.startswith("mlm/task.py") for f in found) and any(f.startswith("tsdae/task.py") for f in found)


def test_a_long_function_anywhere_is_reported(tmp_path):
    body = "".join(f"    x{k} = {k}\n" for k in range(60))
    root = tree(tmp_path, {"deploy/server.py": f"def create_app():\n{body}", "core/ok.py": "def f():\n    pass\n"})
    assert structure.long_functions(root) == ["deploy/server.py:1 create_app: 61 lines"]


@pytest.mark.parametrize("line", ['if task == "ner":', "if meta['kind'] in ('classification', 'ner'):",
                                  'if name != "similarity":', 'TABLE = {"ner": 1, "classification": 2}'])
def test_dispatch_on_a_task_name_is_reported(tmp_path, line):
    root = tree(tmp_path, {"deploy/parity.py": f"task = kind = name = meta = None\n{line}\n    pass\n"
                           if line.startswith("if") else f"{line}\n"})
    assert len(structure.task_dispatch(root)) == 1, line


def test_dispatch_check_leaves_the_registry_and_plain_strings_alone(tmp_path):
    root = tree(tmp_path, {"registry.py": 'def get(task):\n    return task == "ner"\n',
                           "core/x.py": 'def f(task):\n    log = "ner"\n    return task == "other"\n'})
    assert structure.task_dispatch(root) == []


def test_one_package_per_task_registered_each_through_the_contract():
    from domaintune import registry
    from domaintune.core.contract import Predictor, TaskModule

    assert sorted(registry.TASKS) == sorted(structure.TASKS)
    for name, task in registry.TASKS.items():
        assert task.module == f"domaintune.{name}.task" and task.recipe.__module__ == f"domaintune.{name}.recipe"
        assert isinstance(task.impl(), TaskModule)  # run, write_report and load, or a TypeError naming them
        assert issubclass(task.predictor_class(), Predictor)


def test_a_task_module_missing_a_required_part_is_refused():
    import types

    from domaintune.core.contract import TaskModule

    half = types.ModuleType("half")
    half.run = lambda *a, **k: None
    with pytest.raises(TypeError, match="must define write_report, load"):
        TaskModule(half)
    module = types.ModuleType("full")
    module.run = module.write_report = module.load = lambda *a, **k: None
    t = TaskModule(module)
    assert t.sections({"before": {}}) == [("", {"before": {}})] and t.parity_evaluators(None, None, None) == []
