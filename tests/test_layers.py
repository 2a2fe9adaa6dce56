"""Imports point one way, ``server -> schema -> resolvers -> {storage, imaging}``, and no package
imports itself round in a circle.

Every module's imports are read from its source with ``ast``, wherever they stand: at the top,
inside a function (a lazy import is still a dependency) or under ``if TYPE_CHECKING:`` (a type
named from a module is a dependency on it too).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# A package imports itself and the packages ranked below it, never one ranked at or above it.
RANK = {"server": 3, "schema": 2, "resolvers": 1, "storage": 0, "imaging": 0}
# The leaves know nothing of GraphQL execution or HTTP.
LEAVES = {"storage", "imaging"}
NOT_IN_LEAVES = {"strawberry", "starlette"}


@dataclass(frozen=True, slots=True)
class Import:
    target: str  # the dotted name imported: a module, or a name inside one
    line: int


def imports_of(source: str, module: str, *, package: bool) -> list[Import]:
    """Every import in ``source``, the source of ``module`` (an ``__init__`` if ``package``),
    relative ones made absolute; ``from a import b`` is the target ``a.b``."""
    here = module.split(".") if package else module.split(".")[:-1]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            origin = node.module or ""
            if node.level:
                parent = here[: len(here) - node.level + 1]
                origin = ".".join([*parent, *([origin] if origin else [])])
            found += [Import(f"{origin}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in RANK:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(modules: Mapping[str, Path]) -> dict[str, list[Import]]:
    return {
        name: imports_of(path.read_text(), name, package=path.name == "__init__.py")
        for name, path in modules.items()
    }


def _module_of(target: str, modules: Mapping[str, Path]) -> str | None:
    """The module of ours that ``target`` is or lives in; None for another distribution's."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        if (name := ".".join(parts[:end])) in modules:
            return name
    return None


def _where(module: str, modules: Mapping[str, Path], line: int) -> str:
    return f"{modules[module].relative_to(REPO)}:{line}"


def test_imports_point_one_way() -> None:
    modules = _modules()
    wrong: list[str] = []
    for module, imports in _imports(modules).items():
        package = module.split(".")[0]
        for imported in imports:
            top = imported.target.split(".")[0]
            upward = top in RANK and top != package and RANK[top] >= RANK[package]
            if upward or (package in LEAVES and top in NOT_IN_LEAVES):
                wrong.append(f"{_where(module, modules, imported.line)} imports {imported.target}")
    assert wrong == [], "imports pointing the wrong way:\n" + "\n".join(wrong)


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component: list[str] = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycle_inside_a_package() -> None:
    modules = _modules()
    imports = _imports(modules)
    edges: dict[str, dict[str, int]] = {module: {} for module in modules}
    for module, found in imports.items():
        for imported in found:
            target = _module_of(imported.target, modules)
            same_package = target is not None and target.split(".")[0] == module.split(".")[0]
            if target is not None and target != module and same_package:
                edges[module].setdefault(target, imported.line)
    report: list[str] = []
    for cycle in _cycles({module: set(targets) for module, targets in edges.items()}):
        report.append("cycle: " + ", ".join(cycle))
        for module in cycle:
            for target, line in sorted(edges[module].items()):
                if target in cycle:
                    report.append(f"  {_where(module, modules, line)} imports {target}")
    assert report == [], "\n".join(report)


def test_imports_in_functions_and_type_checking_blocks_are_read() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "from .. import uncle\n"
        "if TYPE_CHECKING:\n"
        "    from resolvers.context import Context\n"
        "def lazy() -> None:\n"
        "    import imaging.pipeline\n"
    )
    found = imports_of(source, "schema.mutations.posts", package=False)
    assert [imported.target for imported in found] == [
        "typing.TYPE_CHECKING",
        "schema.mutations.sibling",
        "schema.uncle",
        "resolvers.context.Context",
        "imaging.pipeline",
    ]
    assert imports_of("from . import base", "storage.objects", package=True) == [
        Import("storage.objects.base", 1)
    ]


def test_a_cycle_is_found_through_every_module_on_it() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set[str]()}
    assert _cycles(graph) == [["a", "b", "c"]]
