"""The project's import rules, read from the source by a plain AST walk (nothing is imported).

`keys <- verifier <- {app, scanner_client}`; inside `app/`, only the command line (`app.cli`,
the composition root) imports `scanner_client`; no import cycle anywhere. Every import counts,
including those inside functions: a lazy import hides a cycle from Python, not from a reader.
Imports under `if TYPE_CHECKING:` are left out: they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

PACKAGES = ("keys", "verifier", "app", "scanner_client")

# (importer prefix, imported prefix, unless the importer starts with): forbidden edges.
FORBIDDEN: tuple[tuple[str, str, str | None], ...] = (
    ("keys", "verifier", None),
    ("keys", "app", None),
    ("keys", "scanner_client", None),
    ("verifier", "app", None),
    ("verifier", "scanner_client", None),
    ("scanner_client", "app", None),
    ("app", "scanner_client", "app.cli"),
)


class Edge(NamedTuple):
    importer: str
    imported: str
    line: int


def modules(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the packages under root."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def edges(root: Path, known: dict[str, Path]) -> list[Edge]:
    """Every import between project modules; `from a import b` names a.b when that is a module."""
    out: list[Edge] = []
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            for target in targets:
                while target and target not in known:
                    target = target.rpartition(".")[0]  # `import a.b.c` of a name inside a.b: the module a.b
                if target and target != name:
                    out.append(Edge(name, target, node.lineno))
    return out


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def forbidden(found: Iterable[Edge]) -> list[str]:
    """The edges that break the direction of dependence, one line each."""
    problems = []
    for edge in found:
        for importer, imported, allowed in FORBIDDEN:
            exempt = allowed is not None and _under(edge.importer, allowed)
            if _under(edge.importer, importer) and _under(edge.imported, imported) and not exempt:
                problems.append(f"{edge.importer} (line {edge.line}) imports {edge.imported}")
    return problems


def cycles(found: Iterable[Edge]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan), each sorted; a package's own
    `__init__` re-exporting from its modules would be one, so keep `__init__` files import-free."""
    graph: dict[str, set[str]] = {}
    for edge in found:
        graph.setdefault(edge.importer, set()).add(edge.imported)
        graph.setdefault(edge.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(start: str) -> None:  # iterative: deep graphs never hit the recursion limit
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def is_test_module(module: str) -> bool:
    """A module pytest collects (`test_*`) or loads itself (`conftest`): never imported by another file."""
    last = module.rpartition(".")[2]
    return last.startswith("test_") or last == "conftest"


def imports_of_test_modules(found: Iterable[Edge]) -> list[str]:
    """The imports of a test module or a conftest, one line each: shared helpers belong in tests/support.

    Importing one test module from another runs its module-level set-up twice over and ties
    unrelated tests together (a name made private in one breaks eleven others); importing a
    conftest by path loads a second copy beside the one pytest made.
    """
    lines = (f"{e.importer} (line {e.line}) imports {e.imported}" for e in found if is_test_module(e.imported))
    return list(dict.fromkeys(lines))  # `from m import a, b` is one import, not two
