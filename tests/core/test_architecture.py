"""The layout's promises: no import cycle inside src/, no dispatch on task names outside the registry, one
package per task, no function longer than 60 lines in a task package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "domaintune"
TASK_PACKAGES = ["similarity", "classification", "fewshot", "mlm", "ner", "pipeline", "tsdae", "simcse"]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every domaintune module a file imports, at module level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("domaintune"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # `from domaintune.core import plots`
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("domaintune"))
    return out


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in SRC.rglob("*.py")}
    return {m: {i for i in imports(p) if i in files and i != m} for m, p in files.items()}


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str):
        state[m] = 1
        stack.append(m)
        for n in sorted(g[m]):
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)


def test_no_dispatch_on_task_names_outside_the_registry():
    names = "|".join(TASK_PACKAGES)
    pattern = re.compile(rf"""(task|kind)\\b[^\\n]*(==|!=| in )\\s*[\\(\\[]?["']({names})["']""")
    offenders = [f"{p.relative_to(SRC)}:{k + 1}: {line.strip()}"
                 for p in SRC.rglob("*.py") if p.name != "registry.py"
                 for k, line in enumerate(p.read_text().splitlines()) if pattern.search(line)]
    assert not offenders, "\n".join(offenders)


def test_one_package_per_task_registered():
    from domaintune import registry

    assert sorted(registry.TASKS) == sorted(TASK_PACKAGES)
    for name, task in registry.TASKS.items():
        assert task.module == f"domaintune.{name}.task"
        module = task.impl()
        for fn in ("run", "write_report", "load"):
            assert callable(getattr(module, fn, None)), f"{name}: task module has no {fn}()"
        assert task.recipe.__module__ == f"domaintune.{name}.recipe"


def test_no_function_longer_than_60_lines_in_a_task_package():
    long = []
    for pkg in TASK_PACKAGES:
        for p in (SRC / pkg).glob("*.py"):
            for node in ast.walk(ast.parse(p.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    if n > 60:
                        long.append(f"{p.relative_to(SRC)}:{node.lineno} {node.name}: {n} lines")
    assert not long, "\n".join(long)
