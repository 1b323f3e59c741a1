"""Policy drafts that try to exhaust the server: an alias bomb, deep brackets, deep JSON (app/policy_text.py).

They go through the real route of a real `suishen serve` process, and the same files through
`suishen catalogue validate`: each is answered with one located line, never a 500 or a traceback.
So are drafts that read without complaint but not as written: a key given twice (YAML and JSON
both keep the last) and an unquoted date that does not exist.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.services import ADMIN_KEY, ROOT, Place, Served

POLICY = "sh-museum-senior-free"
SUISHEN = str(Path(sys.executable).parent / "suishen")
LEVELS = 7  # each level holds ten aliases of the one before: 10^7 nodes once expanded


def alias_bomb(levels: int = LEVELS) -> str:
    """The policy file with a nested-alias bomb in it (a few hundred bytes)."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nbomb: *l{levels - 1}\n" + policy_file()


DEEP_YAML = f"id: {POLICY}\nversions: " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_JSON = '{"id": "' + POLICY + '", "versions": ' + "[" * 5000 + "]" * 5000 + "}"
REPEATED_KEY = "id: sh-another-policy\n"  # appended to the policy file, whose `id:` is on line 2
IMPOSSIBLE_DATE = ("effective_from: 2021-01-01", "effective_from: 2021-02-30")  # on line 21


def policy_file() -> str:
    return (ROOT / "data" / "catalogue" / f"{POLICY}.yaml").read_text(encoding="utf-8")


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


def test_a_key_given_twice_is_refused_naming_the_key_and_both_lines(served: Served) -> None:
    body = policy_file() + REPEATED_KEY
    line = len(body.splitlines())
    assert _put(served, body) == (200, {"policy_id": POLICY, "valid": False, "errors": [
        f'line {line}, column 1: duplicate key "id" (first at line 2): a key may appear only once in a mapping'
    ]})  # fmt: skip
    json_body = '{"id": "' + POLICY + '",\n "status": "draft",\n "id": "sh-another-policy"}'
    status, answer = _put(served, json_body, "application/json")
    assert (status, answer["valid"]) == (200, False), answer
    assert answer["errors"] == [
        'line 3, column 2: duplicate key "id" (first at line 1): a key may appear only once in a mapping'
    ]


def test_a_date_that_does_not_exist_is_refused_naming_its_field(served: Served) -> None:
    body = policy_file().replace(*IMPOSSIBLE_DATE)
    assert _put(served, body) == (200, {"policy_id": POLICY, "valid": False, "errors": [
        "line 21, column 21: effective_from: expected a date that exists, found 2021-02-30 "
        "(day is out of range for month)"
    ]})  # fmt: skip
    assert "Traceback" not in served.log.read_text()


def test_a_valid_draft_still_saves(served: Served) -> None:
    assert _put(served, policy_file()) == (200, {"policy_id": POLICY, "valid": True, "errors": []})


def test_catalogue_validate_reports_bombs_in_files_as_one_line_each(tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    folder.mkdir()
    (folder / "bomb.yaml").write_text(alias_bomb(), encoding="utf-8")
    (folder / "deep.yaml").write_text(DEEP_YAML, encoding="utf-8")
    (folder / "huge-number.yaml").write_text("id: x\nversion: " + "9" * 5000 + "\n", encoding="utf-8")
    (folder / "repeated-key.yaml").write_text(policy_file() + REPEATED_KEY, encoding="utf-8")
    (folder / "impossible-date.yaml").write_text(policy_file().replace(*IMPOSSIBLE_DATE), encoding="utf-8")
    done = subprocess.run([SUISHEN, "catalogue", "validate", str(folder)], capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in output, output
    assert "bomb.yaml: line 2, column 10: YAML aliases (*name) are not allowed in a policy" in output
    assert "deep.yaml: line 2, column " in output and "nested deeper than 64 levels" in output
    assert "huge-number.yaml: (file): a value cannot be read" in output
    assert 'repeated-key.yaml: line 28, column 1: duplicate key "id" (first at line 2)' in output
    assert "impossible-date.yaml: line 21, column 21: effective_from: expected a date that exists" in output
