"""The layout's rules as checks that can fail: each takes a source tree (the package folder) and returns the
violations it finds, so tests/test_structure.py runs them on src/ and on small purpose-made trees.

- `layer_violations`: a package importing one it must not (core, models, ... import no task package; deploy no
  task package nor the registry; nothing below api / cli imports them).
- `package_cycles`: cycles between packages, counting every import (lazy ones inside functions too); the edges
  from `registry` to the task packages it names are the one documented exception.
- `cross_task_imports`: a task package importing another task's `task.py`.
- `long_functions`: functions over a line limit anywhere in the tree.
- `task_dispatch`: code outside the registry comparing a name (task, kind, name ...) with a task's name, or a
  table keyed by task names.
"""

from __future__ import annotations

import ast
from pathlib import Path

TASKS = frozenset({"similarity", "classification", "fewshot", "mlm", "ner", "pipeline", "tsdae", "simcse",
                   "reranker"})
FAMILIES = frozenset({"embedding", "unsupervised", "retrieval"})  # shared by several tasks, below them
LOW = frozenset({"core", "models", "sources", "use_encoder", "features", "adapters", "errors"})
EDGES = frozenset({"registry", "api", "cli", "__main__"})

# package -> what it must not import
FORBIDDEN = {
    **{p: TASKS | FAMILIES | EDGES | {"deploy"} for p in LOW},
    "deploy": TASKS | FAMILIES | EDGES,
    **{p: EDGES - {"registry"} for p in TASKS | FAMILIES},
    "registry": EDGES - {"registry"},
}
EXEMPT_CYCLE_EDGES = {("registry", t) for t in TASKS}  # the registry names the tasks


def package_of(module: str, root_name: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == root_name else None


def imports_of(path: Path, root_name: str) -> list[tuple[str, int]]:
    """(module, line) for every import of the tree's own modules in a file, lazy ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == root_name:  # `from domaintune import registry`
                out += [(f"{root_name}.{a.name}", node.lineno) for a in node.names]
            elif node.module.startswith(root_name + "."):
                out.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith(root_name + ".")]
    return out


def module_package(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def package_graph(root: Path) -> dict[str, dict[str, list[str]]]:
    """{package: {imported package: ["file:line", ...]}} over every .py file under `root`."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(root.rglob("*.py")):
        src = module_package(path, root)
        for module, line in imports_of(path, root.name):
            dst = package_of(module, root.name)
            if dst and dst != src:
                graph.setdefault(src, {}).setdefault(dst, []).append(f"{path.relative_to(root)}:{line}")
    return graph


def layer_violations(root: Path) -> list[str]:
    graph = package_graph(root)
    return [f"{where}: {src} imports {dst}" for src, deps in sorted(graph.items())
            for dst, places in sorted(deps.items()) if dst in FORBIDDEN.get(src, ()) for where in places]


def package_cycles(root: Path) -> list[str]:
    """Each cycle once, as 'a -> b -> a' with the places of its first edge."""
    graph = {src: {d for d in deps if (src, d) not in EXEMPT_CYCLE_EDGES}
             for src, deps in package_graph(root).items()}
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def cross_task_imports(root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        src = module_package(path, root)
        for module, line in imports_of(path, root.name):
            parts = module.split(".")
            if len(parts) == 3 and parts[1] in TASKS and parts[2] == "task" and parts[1] != src:
                out.append(f"{path.relative_to(root)}:{line}: {src} imports {module}")
        for node in ast.walk(ast.parse(path.read_text())):  # `from domaintune.similarity import task`
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[-1] in TASKS \
                    and node.module.startswith(root.name + ".") and any(a.name == "task" for a in node.names) \
                    and node.module.split(".")[1] != src:
                out.append(f"{path.relative_to(root)}:{node.lineno}: {src} imports {node.module}.task")
    return out


def long_functions(root: Path, limit: int = 60) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > limit:
                    out.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {n} lines")
    return out


NAMEISH = ("task", "kind", "name", "capability", "strategy_task")


def _names_a_task(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in TASKS
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_names_a_task(e) for e in node.elts)
    return False


def _nameish(node: ast.AST) -> bool:
    text = ast.unparse(node).lower()
    return any(w in text for w in NAMEISH)


def task_dispatch(root: Path, exempt: tuple[str, ...] = ("registry.py",)) -> list[str]:
    """Comparisons of a task / kind / name expression with a task's name, and dict tables keyed by two or more
    task names, outside the registry."""
    out = []
    for path in sorted(root.rglob("*.py")):
        if path.name in exempt:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                if any(_names_a_task(s) for s in sides) and any(_nameish(s) for s in sides
                                                               if not _names_a_task(s)):
                    out.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.Dict):
                keys = [k for k in node.keys if k is not None and _names_a_task(k)]
                if len(keys) >= 2:
                    out.append(f"{path.relative_to(root)}:{node.lineno}: a table keyed by task names")
    return out
