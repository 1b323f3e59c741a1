"""One error tree: every exception the project defines derives from SuishenError and is drawn in keys/errors.py.

Every module of the four packages is imported (walked with pkgutil) and every exception class
defined in it is checked against the tree in `keys.errors.__doc__`: it derives from SuishenError,
it is drawn under its nearest project base, and the built-ins it also derives from are named.
Modules that cannot be imported as plain modules are read instead, and must define no class:
`__main__` modules run their command on import, and `app.db.migrations.env` is Alembic's script
(it reads `alembic.context.config`, which exists only while Alembic runs it). A module that needs
an optional package that is not installed is skipped the same way (none is, today).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import pytest

import keys.errors
from keys.errors import SuishenError

PACKAGES = ("keys", "verifier", "app", "scanner_client")
NOT_IMPORTED = ("app.db.migrations.env",)  # and every `__main__`
_LINE = re.compile(
    r"^    (?P<branch>(?:│   |    )*(?:├── |└── )?)(?P<name>\w+)(?: \((?P<also>[\w, ]+)\))? +(?P<module>[\w.]+):"
)


class Drawn(NamedTuple):
    module: str
    name: str
    parent: tuple[str, str] | None  # (module, name) of the class drawn above it, None for the root
    also: tuple[str, ...]  # the built-ins named in brackets


def drawn_tree(doc: str) -> dict[tuple[str, str], Drawn]:
    """The tree in a docstring: the block that starts at the line naming SuishenError."""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("    SuishenError "))
    tree: dict[tuple[str, str], Drawn] = {}
    stack: list[tuple[str, str]] = []
    for line in lines[start:]:
        if not line.strip():
            break
        match = _LINE.match(line)
        assert match is not None, f"not a line of the tree: {line!r}"
        depth = len(match["branch"]) // 4
        del stack[depth:]
        key = (match["module"], match["name"])
        also = tuple(sorted(a.strip() for a in match["also"].split(","))) if match["also"] else ()
        tree[key] = Drawn(*key, stack[-1] if stack else None, also)
        stack.append(key)
    return tree


def project_modules() -> tuple[list[ModuleType], list[str]]:
    """Every module of the packages, imported; and the names of those read instead (see the docstring)."""
    imported: list[ModuleType] = []
    read: list[str] = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        imported.append(root)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.endswith(".__main__") or info.name in NOT_IMPORTED:
                read.append(info.name)
                continue
            try:
                imported.append(importlib.import_module(info.name))
            except ModuleNotFoundError as exc:
                if (exc.name or "").split(".")[0] in PACKAGES:
                    raise
                read.append(info.name)  # an optional package that is not installed
    return imported, read


def exception_classes(modules: list[ModuleType]) -> list[type[BaseException]]:
    """The exception classes defined (not merely imported) in the modules."""
    found = {
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.__name__
    }
    return sorted(found, key=lambda cls: (cls.__module__, cls.__qualname__))


def problems(classes: list[type[BaseException]], tree: dict[tuple[str, str], Drawn]) -> list[str]:
    """Everything in which the classes and the drawn tree disagree, in words."""
    found = set(classes)
    out = []
    for cls in classes:
        key = (cls.__module__, cls.__qualname__)
        where = f"{cls.__module__}.{cls.__qualname__}"
        if not issubclass(cls, SuishenError):
            out.append(f"{where} does not derive from SuishenError")
        drawn = tree.get(key)
        if drawn is None:
            out.append(f"{where} is not drawn in the tree of keys/errors.py")
            continue
        base = next((b for b in cls.__mro__[1:] if b in found), None)
        parent = (base.__module__, base.__qualname__) if base is not None else None
        if drawn.parent != parent:
            out.append(f"{where} is drawn under {drawn.parent}, but derives from {parent}")
        also = tuple(sorted(b.__name__ for b in cls.__bases__ if b.__module__ == "builtins" and b is not Exception))
        if drawn.also != also:
            out.append(f"{where} is drawn as also deriving from {drawn.also}, but does from {also}")
    names = {(cls.__module__, cls.__qualname__) for cls in classes}
    out.extend(f"{m}.{n} is drawn in the tree but defined nowhere" for m, n in tree if (m, n) not in names)
    return out


def test_every_project_exception_derives_from_suishen_error_and_is_drawn_under_its_base() -> None:
    modules, _ = project_modules()
    classes = exception_classes(modules)
    assert len(classes) >= 30 and SuishenError in classes  # the walk found the tree
    assert problems(classes, drawn_tree(keys.errors.__doc__ or "")) == []


def test_the_modules_that_are_not_imported_define_no_class() -> None:
    _, read = project_modules()
    assert "app.db.migrations.env" in read
    for name in read:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        assert not [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)], name


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("class Stray(ValueError):\n    pass\n", "does not derive from SuishenError"),
        ("class Undrawn(SuishenError):\n    pass\n", "is not drawn in the tree"),
    ],
)
def test_a_new_class_outside_the_tree_is_caught(source: str, expected: str) -> None:
    module = ModuleType("app.synthetic")
    exec(source, {"__name__": "app.synthetic", "SuishenError": SuishenError}, vars(module))
    tree = drawn_tree(keys.errors.__doc__ or "")
    found = problems([SuishenError, *exception_classes([module])], tree)
    assert [p for p in found if p.startswith("app.synthetic.")] and expected in found[0]


def test_a_class_drawn_under_the_wrong_parent_or_missing_its_builtin_is_caught() -> None:
    doc = (
        "    SuishenError                 keys.errors: base\n"
        "    ├── KeyRingError             keys.ring: no ValueError named\n"
        "    │   └── KeyStorageError      keys.storage: under the wrong parent\n"
    )
    from keys.ring import KeyRingError
    from keys.storage import KeyStorageError

    found = problems([SuishenError, KeyRingError, KeyStorageError], drawn_tree(doc))
    assert found == [
        "keys.ring.KeyRingError is drawn as also deriving from (), but does from ('ValueError',)",
        "keys.storage.KeyStorageError is drawn under ('keys.ring', 'KeyRingError'), "
        "but derives from ('keys.errors', 'SuishenError')",
    ]


def test_verification_error_keeps_its_reason_and_venue_error_is_one_class() -> None:
    from app.verifying import VenueError as AppVenueError
    from scanner_client.venues import VenueError as GateVenueError
    from verifier.decide import VenueError
    from verifier.errors import Reason, VerificationError

    error = VerificationError(Reason.EXPIRED, "exp is past")
    assert isinstance(error, SuishenError) and error.reason is Reason.EXPIRED and error.detail == "exp is past"
    assert AppVenueError is GateVenueError is VenueError
    assert issubclass(VenueError, ValueError)  # callers that caught ValueError still do
