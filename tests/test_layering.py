"""The direction of dependence (DESIGN.md, "Packages"): checked on the tree, and shown to catch each forbidden edge."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.layering import FORBIDDEN, cycles, edges, forbidden, modules

ROOT = Path(__file__).resolve().parents[1]


def test_no_package_imports_against_the_direction_of_dependence() -> None:
    known = modules(ROOT)
    assert "app.cli" in known and "verifier.verify" in known  # the walk found the tree
    assert forbidden(edges(ROOT, known)) == []


def test_no_import_cycle_anywhere() -> None:
    assert cycles(edges(ROOT, modules(ROOT))) == []


def _tree(tmp: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in ("keys", "verifier", "app", "app/cli", "app/api", "scanner_client"):
        (tmp / package).mkdir(parents=True, exist_ok=True)
        (tmp / package / "__init__.py").touch()
    return tmp


@pytest.mark.parametrize(("importer", "imported", "allowed"), FORBIDDEN)
def test_each_forbidden_edge_is_caught(tmp_path: Path, importer: str, imported: str, allowed: str | None) -> None:
    source = importer.replace(".", "/") + "/thing.py"
    target = imported.replace(".", "/") + "/other.py"
    lazy = f"def later() -> None:\n    from {imported}.other import x\n"  # inside a function: still counted
    root = _tree(tmp_path, {source: lazy, target: "x = 1\n"})
    assert forbidden(edges(root, modules(root))) == [f"{importer}.thing (line 2) imports {imported}.other"]
    if allowed is not None:  # the composition root may
        root = _tree(tmp_path / "allowed", {allowed.replace(".", "/") + "/root.py": lazy, target: "x = 1\n"})
        assert forbidden(edges(root, modules(root))) == []


def test_a_cycle_through_a_lazy_import_is_caught_and_type_checking_imports_are_not(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "app/a.py": "from app import b\n",
        "app/b.py": "def f() -> None:\n    from app.c import g\n",
        "app/c.py": "from .a import *\n",
        "app/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app.e import y\n",
        "app/e.py": "import app.d\n",
    })  # fmt: skip
    assert cycles(edges(root, modules(root))) == [["app.a", "app.b", "app.c"]]
