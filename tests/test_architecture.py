"""The shape of the package, checked from the source: imports flow one way, and the modules the quick
commands use never import torch.

The graph is built with ``ast`` from every module under ``src/trainwise``: every ``import`` and
``from ... import`` of a ``trainwise`` module, including imports inside functions (hiding an import in a
function hides a cycle, it does not remove it). A package's lazy re-exports (its ``_EXPORTS`` table, see
``trainwise._lazy``) are followed as Python follows them: ``from trainwise import Trainer`` imports
``trainwise.loop``, ``import trainwise`` alone imports none of them. ``python tests/test_architecture.py`` prints the graph's cycles and layer
violations (none) without pytest.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "trainwise"

# Layers: a module of an earlier line may not import a module of a later line (nor anything not listed
# here that sits above it: the loop, compare, lr-find, the CLI).
LOWER = ("trainwise.metrics", "trainwise.history", "trainwise.diagnostics", "trainwise.data", "trainwise.report")
ABOVE_LOWER = ("trainwise.cli", "trainwise.loop", "trainwise.compare", "trainwise.lrfind")
# Modules that must stay torch-free at import time (only imports at module level count here: an import
# inside a function runs when that function does, e.g. when `fit` starts training).
TORCH_FREE = ("trainwise", "trainwise._lazy", "trainwise.errors", "trainwise.policy", "trainwise.decision",
              "trainwise.io", "trainwise.history", "trainwise.diagnostics", "trainwise.data.tables",
              "trainwise.data.preprocess", "trainwise.report.terminal", "trainwise.metrics.arrays",
              "trainwise.cli", "trainwise.cli.main", "trainwise.cli.options", "trainwise.cli.output",
              "trainwise.cli.diagnose", "trainwise.cli.evaluate", "trainwise.cli.report")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The trainwise module ``name`` refers to (itself, or the package holding the attribute)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _exports(module: str) -> dict[str, str]:
    """A package's ``_EXPORTS`` table: public name -> the module that defines it."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


EXPORTS = {module: _exports(module) for module, path in MODULES.items() if path.name == "__init__.py"}


def imports(module: str, *, top_level_only: bool = False) -> Iterator[tuple[str, int]]:
    """``(imported module, line)`` for every import in ``module``; third-party modules by their top name."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for inner in ast.walk(node)}   # never run
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                lazy = EXPORTS.get(base, {}).get(alias.name)
                yield (full if full in MODULES else lazy or base), node.lineno


def graph(*, top_level_only: bool = False) -> dict[str, set[str]]:
    """trainwise module -> the trainwise modules it imports (a submodule's package excluded: importing
    ``trainwise.data.tables`` runs ``trainwise/data/__init__.py`` first, which is no dependency of its own)."""
    edges: dict[str, set[str]] = {}
    for module in MODULES:
        targets = {_resolve(name) for name, _ in imports(module, top_level_only=top_level_only)
                   if name.split(".")[0] == "trainwise"}
        edges[module] = {t for t in targets if t and t != module}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    """Lower layers importing the loop, compare, lr-find or the CLI; CLI modules importing `cli.main`
    (the table of commands sits above every command)."""
    bad = [f"{m} -> {t}" for m, targets in edges.items() if _within(m, LOWER)
           for t in targets if _within(t, ABOVE_LOWER)]
    bad += [f"{m} -> {t}" for m, targets in edges.items() if _within(m, ("trainwise.cli",))
            and m not in ("trainwise.cli", "trainwise.cli.main") for t in targets if t == "trainwise.cli.main"]
    return sorted(bad)


def torch_importers() -> dict[str, list[str]]:
    """For each module of TORCH_FREE: the chain of module-level imports that reaches torch, if any."""
    edges: dict[str, set[str]] = {}
    for module in MODULES:
        names = {name for name, _ in imports(module, top_level_only=True)}
        edges[module] = {_resolve(n) or n.split(".")[0] for n in names}
        edges[module].discard(module)
        # importing a submodule runs its packages' __init__ first
        parent = module.rpartition(".")[0]
        if parent and module not in ("trainwise",):
            edges[module].add(parent)
    chains: dict[str, list[str]] = {}
    for start in TORCH_FREE:
        if start not in MODULES:
            continue
        seen, todo = {start: [start]}, [start]
        while todo:
            node = todo.pop()
            for target in sorted(edges.get(node, ())):
                if target not in seen:
                    seen[target] = [*seen[node], target]
                    todo.append(target)
        if "torch" in seen:
            chains[start] = seen["torch"]
    return chains


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_no_upward_import():
    assert upward_imports(graph()) == []


def test_quick_paths_do_not_import_torch():
    assert torch_importers() == {}


def test_every_lazy_export_is_in_all_and_importable():
    import importlib

    for package, exports in EXPORTS.items():
        if not exports:
            continue
        module = importlib.import_module(package)
        assert set(module.__all__) - {"__version__"} == set(exports), package
        for name in exports:
            assert getattr(module, name) is not None


def test_the_cli_package_exports_main_only():
    tree = ast.parse((PACKAGE / "cli" / "__init__.py").read_text(encoding="utf-8"))
    names = {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
             for alias in node.names}
    assert names == {"main"}


if __name__ == "__main__":
    found = {"cycles": cycles(graph()), "upward imports": upward_imports(graph()), "torch on quick paths":
             torch_importers()}
    for title, items in found.items():
        print(f"{title}: {items or 'none'}")
    sys.exit(1 if any(found.values()) else 0)
