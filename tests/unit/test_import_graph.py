"""The package's dependency graph has no circles: neither between modules nor between the folders
(billing/, corrections/, ...), counting every import of the project's own code, those inside
functions and under TYPE_CHECKING too (a lazy import hides an edge, it does not remove it).

Imports sit at the top of their module, except in `commands/`: `telecom --help` loads every command
module, so those import what they run inside `run` (docs/ARCHITECTURE.md, "Imports")."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import telecom_billing

PACKAGE = Path(telecom_billing.__file__).parent
ROOT = "telecom_billing"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, modules: set[str]) -> Iterator[str]:
    """The project's modules `path` imports (a `from package import name` of a submodule counts as it)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith(ROOT))
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if not target.startswith(ROOT):
                continue
            submodules = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
            yield from submodules or [target]


def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): {m for m in imported(p, modules) if m in modules and m != module_name(p)}
            for p in paths}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
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


def folder(module: str) -> str:
    """The folder a module lives in (`telecom_billing.billing`), or the module itself at the top."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_circle_between_modules() -> None:
    assert circles(graph()) == []


def test_no_circle_between_folders() -> None:
    by_folder: dict[str, set[str]] = {}
    for module, targets in graph().items():
        if module == ROOT:  # the package's __init__ names nothing of its own
            continue
        by_folder.setdefault(folder(module), set()).update(folder(t) for t in targets if folder(t) != folder(module))
    assert circles(by_folder) == []


def test_the_checker_sees_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# What `telecom --help` must not load: each takes 0.1-0.2 s to import (pyspark with py4j 0.15 s,
# kafka-python 0.18 s, Faker 0.13 s, matplotlib more); --help itself takes 0.11 s.
HEAVY = ("pyspark", "py4j", "kafka", "faker", "jinja2", "matplotlib")


def lazy_imports(path: Path) -> list[str]:
    """`line: statement` of every import inside a function of `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found += [f"{s.lineno}: {ast.unparse(s)}" for s in ast.walk(node) if isinstance(s, ast.Import | ast.ImportFrom)]
    return found


def test_only_command_modules_import_inside_functions() -> None:
    outside = {str(p.relative_to(PACKAGE)): lazy_imports(p) for p in sorted(PACKAGE.rglob("*.py"))
               if p.parent.name != "commands"}
    assert {path: found for path, found in outside.items() if found} == {}


def test_help_loads_no_heavy_library() -> None:
    probe = ("import sys; from telecom_billing.cli import build_parser; build_parser(); "
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert sorted(set(loaded) & set(HEAVY)) == []
