"""Policy drafts that try to exhaust the server: an alias bomb, deep brackets, deep JSON (app/policy_text.py).

They go through the real route of a real `suishen serve` process, and the same files through
`suishen catalogue validate`: each is answered with one located line, never a 500 or a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.services.conftest import ADMIN_KEY, ROOT, Place, Served

POLICY = "sh-museum-senior-free"
SUISHEN = str(Path(sys.executable).parent / "suishen")
LEVELS = 7  # each level holds ten aliases of the one before: 10^7 nodes once expanded


def alias_bomb(levels: int = LEVELS) -> str:
    """The policy file with a nested-alias bomb in it (a few hundred bytes)."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    policy = (ROOT / "data" / "catalogue" / f"{POLICY}.yaml").read_text(encoding="utf-8")
    return "\n".join(lines) + f"\nbomb: *l{levels - 1}\n" + policy


DEEP_YAML = f"id: {POLICY}\nversions: " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_JSON = '{"id": "' + POLICY + '", "versions": ' + "[" * 5000 + "]" * 5000 + "}"


@pytest.fixture
def served(serve: Callable[..., Served], place: Place) -> Served:
    return serve(place)  # type: ignore[no-any-return]


def _put(served: Served, body: str, media: str = "application/yaml") -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": media}
    answer = served.client.put(f"/v1/admin/policies/{POLICY}", content=body.encode(), headers=headers, timeout=60)
    return answer.status_code, answer.json()


def test_an_alias_bomb_draft_is_refused_where_its_first_alias_is(served: Served) -> None:
    body = alias_bomb()
    assert len(body.encode()) < 2048
    status, answer = _put(served, body)
    assert status == 200, answer
    assert answer == {
        "policy_id": POLICY, "valid": False,
        "errors": ["line 2, column 10: YAML aliases (*name) are not allowed in a policy"],
    }  # fmt: skip
    assert served.client.get("/healthz").status_code == 200


@pytest.mark.parametrize(("body", "media"), [(DEEP_YAML, "application/yaml"), (DEEP_JSON, "application/json")])
def test_five_thousand_nested_brackets_get_one_clear_line(served: Served, body: str, media: str) -> None:
    status, answer = _put(served, body, media)
    assert status == 200, answer
    assert answer["valid"] is False
    errors = answer["errors"]
    assert isinstance(errors, list) and len(errors) == 1, errors
    error = str(errors[0])
    assert error.startswith("line 2, column ") or error.startswith("line 1, column "), error
    assert error.endswith("nested deeper than 64 levels"), error
    assert "Traceback" not in served.log.read_text()


def test_a_valid_draft_still_saves(served: Served) -> None:
    policy = (ROOT / "data" / "catalogue" / f"{POLICY}.yaml").read_text(encoding="utf-8")
    assert _put(served, policy) == (200, {"policy_id": POLICY, "valid": True, "errors": []})


def test_catalogue_validate_reports_bombs_in_files_as_one_line_each(tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    folder.mkdir()
    (folder / "bomb.yaml").write_text(alias_bomb(), encoding="utf-8")
    (folder / "deep.yaml").write_text(DEEP_YAML, encoding="utf-8")
    (folder / "huge-number.yaml").write_text("id: x\nversion: " + "9" * 5000 + "\n", encoding="utf-8")
    done = subprocess.run([SUISHEN, "catalogue", "validate", str(folder)], capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in output, output
    assert "bomb.yaml: line 2, column 10: YAML aliases (*name) are not allowed in a policy" in output
    assert "deep.yaml: line 2, column " in output and "nested deeper than 64 levels" in output
    assert "huge-number.yaml: (file): a value cannot be read" in output
