"""The service's import graph (``ticketing/`` and ``api/``): no circles, and no imports
inside functions to hide one.

Read from the source with ``ast`` (nothing is imported). An import at module level, or in
a class body, runs when the module is loaded and is an edge of the graph; one under
``if TYPE_CHECKING:`` never runs and is not. An import of a project module inside a
function is refused unless it is listed in ``LAZY_IMPORTS`` with the reason it is lazy,
and that reason may not be a circle: a circle is redrawn (the shared part moves down),
not hidden.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ticketing", "api")

# (importing module, imported module) -> why the import is inside a function. None today:
# every function-level import of a project module was a circle dodge, and is gone.
LAZY_IMPORTS: dict[tuple[str, str], str] = {}


@dataclass
class ImportGraph:
    """The project's modules, what each imports when loaded, and its function-level imports."""

    modules: dict[str, Path]
    edges: dict[str, set[str]] = field(default_factory=dict)
    # (importing module, line, imported module)
    lazy: list[tuple[str, int, str]] = field(default_factory=list)

    def cycles(self) -> list[list[str]]:
        """Each group of modules that import each other, directly or round a circle."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        found: list[list[str]] = []

        # Tarjan's strongly connected components, iterative (no recursion limit).
        for start in sorted(self.modules):
            if start in index:
                continue
            work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(self.edges[start])))]
            index[start] = low[start] = len(index)
            stack.append(start)
            on_stack.add(start)
            while work:
                node, targets = work[-1]
                advanced = False
                for target in targets:
                    if target not in index:
                        index[target] = low[target] = len(index)
                        stack.append(target)
                        on_stack.add(target)
                        work.append((target, iter(sorted(self.edges[target]))))
                        advanced = True
                        break
                    if target in on_stack:
                        low[node] = min(low[node], index[target])
                if advanced:
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1 or node in self.edges[node]:
                        found.append(sorted(group))
        return found


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_graph(root: Path, packages: tuple[str, ...]) -> ImportGraph:
    """The import graph of these packages under ``root``."""
    modules = {
        module_name(root, path): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
    }
    graph = ImportGraph(modules=modules, edges={name: set() for name in modules})
    for name, path in modules.items():
        _Reader(graph, name, is_package=path.name == "__init__.py").visit(
            ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        )
    return graph


class _Reader(ast.NodeVisitor):
    def __init__(self, graph: ImportGraph, module: str, *, is_package: bool) -> None:
        self.graph = graph
        self.module = module
        self.is_package = is_package
        self.in_function = 0

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.in_function += 1
        self.generic_visit(node)
        self.in_function -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.orelse:
                self.visit(statement)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self._add(node.lineno, [alias.name for alias in node.names])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.split(".")
            if not self.is_package:
                package = package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        # ``from a import b``: b is a module of a, or a name defined in a.
        self._add(
            node.lineno,
            [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in self.graph.modules else base
                for alias in node.names
            ],
        )

    def _add(self, line: int, names: list[str]) -> None:
        for raw in names:
            target = raw
            while target and target not in self.graph.modules:
                target = target.rpartition(".")[0]
            if not target or target == self.module:
                continue
            if self.in_function:
                self.graph.lazy.append((self.module, line, target))
            else:
                self.graph.edges[self.module].add(target)


@pytest.fixture(scope="module")
def project() -> ImportGraph:
    return read_graph(ROOT, PACKAGES)


class TestProject:
    def test_it_reads_the_whole_service(self, project: ImportGraph) -> None:
        # A reader that found nothing would pass everything.
        assert "ticketing.services.access" in project.modules
        assert "api.routers.tickets" in project.modules
        assert "ticketing.services.access" in project.edges["api.routers.tickets"]

    def test_no_import_circles(self, project: ImportGraph) -> None:
        assert project.cycles() == []

    def test_no_function_level_imports_of_project_modules(self, project: ImportGraph) -> None:
        unexplained = [
            f"{module}:{line} imports {target} inside a function"
            for module, line, target in project.lazy
            if (module, target) not in LAZY_IMPORTS
        ]
        assert unexplained == []
        # An allowance outlives its import only by mistake; each says why in words.
        present = {(module, target) for module, _, target in project.lazy}
        for pair, reason in LAZY_IMPORTS.items():
            assert pair in present, f"{pair} is allowed but no longer lazy: drop it"
            assert len(reason.split()) >= 4, f"{pair} needs a reason in words"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


class TestReader:
    """The checks catch what they are for (on a small made-up package)."""

    def test_finds_a_circle_across_three_modules(self, tmp_path: Path) -> None:
        write(
            tmp_path,
            {
                "desk/__init__.py": "",
                "desk/a.py": "from desk import b\n",
                "desk/b.py": "from desk.c import thing\n",
                "desk/c.py": "from . import a\nthing = 1\n",
                "desk/d.py": "import desk.a\n",
            },
        )
        assert read_graph(tmp_path, ("desk",)).cycles() == [["desk.a", "desk.b", "desk.c"]]

    def test_finds_an_import_hidden_in_a_function_and_ignores_type_checking(
        self, tmp_path: Path
    ) -> None:
        write(
            tmp_path,
            {
                "desk/__init__.py": "",
                "desk/a.py": (
                    "from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n"
                    "    from desk.b import B\n"
                    "def f():\n"
                    "    from desk import b\n"
                    "    import json\n"
                    "    return b\n"
                ),
                "desk/b.py": "from desk import a\nclass B: ...\n",
            },
        )
        graph = read_graph(tmp_path, ("desk",))
        assert graph.cycles() == []
        assert graph.lazy == [("desk.a", 5, "desk.b")]
        assert graph.edges["desk.b"] == {"desk.a"}
