"""The direction of dependence (DESIGN.md, "Packages"): checked on the tree, and shown to catch each forbidden edge."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.layering import FORBIDDEN, cycles, edges, forbidden, imports_of_test_modules, modules

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


def test_no_test_module_or_conftest_is_imported_by_another_file() -> None:
    known = modules(ROOT, ("tests", "benchmarks"))
    assert "tests.support.world" in known and "tests.app.test_matching_sql" in known  # the walk found the tree
    assert imports_of_test_modules(edges(ROOT, known)) == []


def test_an_import_of_a_test_module_is_caught_wherever_it_is(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "tests/__init__.py": "",
        "tests/conftest.py": "NOW = 1\n",
        "tests/support/__init__.py": "",
        "tests/support/world.py": "NOW = 1\n",
        "tests/app/__init__.py": "",
        "tests/app/test_a.py": "def _helper() -> None: ...\n",
        "tests/app/test_b.py": "from tests.app.test_a import _helper\n",
        "tests/app/test_c.py": "def f() -> None:\n    from .test_a import _helper\n",  # relative, in a function
        "tests/app/test_d.py": "import tests.app.test_a\n",
        "tests/app/test_e.py": "from tests.app import test_a\n",
        "tests/app/test_f.py": "from tests.conftest import NOW\n",
        "tests/app/test_ok.py": "from tests.support.world import NOW\n",
        "benchmarks/__init__.py": "",
        "benchmarks/run.py": "from tests.app.test_a import _helper\n",
    })  # fmt: skip
    assert sorted(imports_of_test_modules(edges(root, modules(root, ("tests", "benchmarks"))))) == [
        "benchmarks.run (line 1) imports tests.app.test_a",
        "tests.app.test_b (line 1) imports tests.app.test_a",
        "tests.app.test_c (line 2) imports tests.app.test_a",
        "tests.app.test_d (line 1) imports tests.app.test_a",
        "tests.app.test_e (line 1) imports tests.app.test_a",
        "tests.app.test_f (line 1) imports tests.conftest",
    ]
