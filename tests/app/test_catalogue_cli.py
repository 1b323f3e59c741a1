"""The catalogue as departments write it (YAML files) and the `suishen catalogue` / `verify` commands.

In-process tests use app.catalogue; command tests run the installed `suishen` with a passphrase
file in the environment, as a person would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.catalogue import load_catalogue, next_version, publish
from keys.algorithms import ES256, generate_private_key
from verifier.catalogue import load_snapshot

SUISHEN = str(Path(sys.executable).parent / "suishen")
NOW = 1_800_000_000

PARK_FREE = """\
# 老年人免费游览公园
id: sh-park-senior-free
title:
  zh: 本市老年人免费游览城市公园
  en: Free entry to city parks for senior residents
lead_department: 上海市绿化和市容管理局
data_departments: [上海市公安局]
legal_basis:
  title: 《中华人民共和国老年人权益保障法》
  reference: 第五十八条
delivery: scan
subject: person
status: published
region_scope: residents
venues:
  types: [park, botanical_garden]
versions:
  - version: 1
    effective_from: 2019-01-01
    effective_to: 2024-12-31
    eligibility:
      age: {">=": 70}
    benefit:
      kind: free_entry
  - version: 2
    effective_from: 2025-01-01
    eligibility:
      age: {">=": 65}
    benefit:
      kind: free_entry
      companions: 1
"""

SUBSIDY = """\
id: sh-disability-living-subsidy
title: {zh: 困难残疾人生活补贴, en: Living subsidy for persons with disabilities}
lead_department: 上海市民政局
legal_basis: {title: 国发〔2015〕52号}
delivery: confirm
pays: monthly
commitment:
  version: 1
  zh: 以上信息真实；情况变化30日内报告。
  en: The facts above are true; I report a change within 30 days.
subject: person
status: published
region_scope: everyone
versions:
  - version: 1
    effective_from: 2023-07-01
    parameters:
      income_limit:
        - {from: 2023-07-01, value: 1420}
        - {from: 2024-07-01, value: 1510}
    eligibility:
      all:
        - member_of: disabled_persons
        - income.monthly: {"<": {param: income_limit}}
        - not:
            credit.blacklisted: {"==": true}
    benefit: {kind: amount, amount_yuan: 710}
"""

DRAFT = PARK_FREE.replace("sh-park-senior-free", "sh-museum-draft").replace("status: published", "status: draft")

# Three broken files, each broken in its own way.
BAD_SCAN = (
    PARK_FREE.replace("sh-park-senior-free", "sh-bad-scan")
    .replace('age: {">=": 65}', 'income.monthly: {"<": 2000}')
    .replace("kind: free_entry\n      companions: 1", "kind: amount\n      amount_yuan: 50")
)
BAD_AGE = PARK_FREE.replace("sh-park-senior-free", "sh-bad-age").replace('{">=": 70}', '{">=": 62}')
BAD_YAML = "id: sh-broken\ntitle: [unclosed\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def good_folder(root: Path) -> Path:
    return write(
        root / "catalogue",
        {
            "sh-park-senior-free.yaml": PARK_FREE,
            "sh-disability-living-subsidy.yaml": SUBSIDY,
            "sh-museum-draft.yaml": DRAFT,
        },
    )


def bad_folder(root: Path) -> Path:
    return write(
        root / "bad",
        {
            "sh-park-senior-free.yaml": PARK_FREE,
            "sh-bad-scan.yaml": BAD_SCAN,
            "sh-bad-age.yaml": BAD_AGE,
            "sh-broken.yaml": BAD_YAML,
        },
    )


BAD_PROBLEMS = [
    "sh-bad-age.yaml: versions[0].eligibility: expected age bounds a code can show: [60, 65, 70, 80], found 62",
    "sh-bad-scan.yaml: versions[1].eligibility: expected attributes a code carries (scan-mode policy), "
    "found 'income.monthly'",
    "sh-bad-scan.yaml: versions[1].benefit.kind: expected free_entry or discount on site; amount for direct or "
    "confirm, found 'amount'",
]


# --- app.catalogue in process --------------------------------------------------------------


def test_a_good_catalogue_loads_and_publishes_a_verifiable_snapshot(tmp_path: Path) -> None:
    catalogue = load_catalogue(good_folder(tmp_path))
    assert catalogue.problems == ()
    assert sorted(p.id for p in catalogue.policies) == [
        "sh-disability-living-subsidy",
        "sh-museum-draft",
        "sh-park-senior-free",
    ]
    park = next(s for s in catalogue.sources if s["id"] == "sh-park-senior-free")
    assert park["versions"][0]["effective_from"] == "2019-01-01"  # YAML dates as text, ready for JSON
    root = generate_private_key(ES256)
    document = publish(catalogue, root, version=7, now=NOW, max_age=86400)
    snapshot = load_snapshot(document, root.public_key())
    assert snapshot.version == 7
    assert snapshot.expires_at == NOW + 86400
    assert [p.id for p in snapshot.policies] == ["sh-disability-living-subsidy", "sh-park-senior-free"]  # no draft
    park_policy = snapshot.policies[1]
    assert park_policy.versions[1].benefit.companions == 1
    subsidy = snapshot.policies[0].versions[0]
    assert subsidy.params["income_limit"].values == [1420, 1510]


def test_every_problem_in_every_file_is_listed_and_nothing_is_published(tmp_path: Path) -> None:
    catalogue = load_catalogue(bad_folder(tmp_path))
    shown = [str(p) for p in catalogue.problems]
    for line in BAD_PROBLEMS:
        assert line in shown
    broken = [p for p in catalogue.problems if p.file == "sh-broken.yaml"]
    assert len(broken) == 1
    assert broken[0].path.startswith("line ")
    assert "not valid YAML" in broken[0].message
    assert len(shown) == len(BAD_PROBLEMS) + 1
    assert [p.id for p in catalogue.policies] == ["sh-park-senior-free"]  # the good file still parses
    with pytest.raises(ValueError, match="the catalogue has 4 problem\\(s\\): nothing is published"):
        publish(catalogue, generate_private_key(ES256), version=1, now=NOW, max_age=86400)


def test_file_names_and_ids(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "ids",
        {"park.yaml": PARK_FREE, "sh-park-senior-free.yml": PARK_FREE},
    )
    shown = [str(p) for p in load_catalogue(folder).problems]
    assert shown == [
        "park.yaml: id: file name must be sh-park-senior-free.yaml",
        "sh-park-senior-free.yml: id: sh-park-senior-free is already the id of park.yaml",
    ]


def test_empty_folder_missing_folder_and_not_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert [str(p) for p in load_catalogue(tmp_path / "empty").problems] == [
        f"{tmp_path / 'empty'}: (folder): no .yaml policy files"
    ]
    assert [str(p) for p in load_catalogue(tmp_path / "nowhere").problems] == [
        f"{tmp_path / 'nowhere'}: (folder): not a folder"
    ]
    folder = write(tmp_path / "list", {"sh-list.yaml": "- just\n- a list\n"})
    assert [str(p) for p in load_catalogue(folder).problems] == [
        "sh-list.yaml: (file): expected a mapping of policy fields, found ['just', 'a list']"
    ]


def test_next_version(tmp_path: Path) -> None:
    assert next_version(tmp_path / "none.json") == 1
    root = generate_private_key(ES256)
    out = tmp_path / "snapshot.json"
    out.write_bytes(publish(load_catalogue(good_folder(tmp_path)), root, version=4, now=NOW, max_age=60))
    assert next_version(out) == 5
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ValueError, match="is not a catalogue snapshot"):
        next_version(tmp_path / "other.json")


# --- the installed command ------------------------------------------------------------------


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([SUISHEN, *args], capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_validate_lists_all_problems_across_all_files_and_exits_1(tmp_path: Path, env: dict[str, str]) -> None:
    folder = bad_folder(tmp_path)
    result = run("catalogue", "validate", str(folder), env=env)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    for line in BAD_PROBLEMS:
        assert line in lines
    assert any(line.startswith("sh-broken.yaml: line ") and "not valid YAML" in line for line in lines)
    assert lines[-1] == f"4 problem(s) in {folder}"
    assert len(lines) == 5
    assert result.stdout == ""


def test_validate_a_good_catalogue(tmp_path: Path, env: dict[str, str]) -> None:
    result = run("catalogue", "validate", str(good_folder(tmp_path)), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("3 policies, no problems")
    assert "'scan': 2" in result.stdout and "'confirm': 1" in result.stdout


def test_publish_refuses_a_bad_catalogue_and_writes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    keys = tmp_path / "keys"
    assert run("keys", "init", "--dir", str(keys), env=env).returncode == 0
    out = tmp_path / "snapshot.json"
    result = run("catalogue", "publish", str(bad_folder(tmp_path)), "--out", str(out), "--keys", str(keys), env=env)
    assert result.returncode == 2
    assert not out.exists()
    assert f"error: 4 problem(s) in {tmp_path / 'bad'}: nothing published" in result.stderr
    for line in BAD_PROBLEMS:
        assert line in result.stderr


def test_publish_show_and_decide_at_a_venue(tmp_path: Path, env: dict[str, str]) -> None:
    keys = tmp_path / "keys"
    run("keys", "init", "--dir", str(keys), env=env)
    trust = tmp_path / "trust.json"
    assert run("keys", "trust-list", "export", "--dir", str(keys), "--out", str(trust), env=env).returncode == 0
    out = tmp_path / "snapshot.json"
    folder = good_folder(tmp_path)
    published = run("catalogue", "publish", str(folder), "--out", str(out), "--keys", str(keys), env=env)
    assert published.returncode == 0, published.stderr
    assert "version 1, 2 published policies" in published.stdout
    again = run("catalogue", "publish", str(folder), "--out", str(out), "--keys", str(keys), env=env)
    assert "version 2" in again.stdout
    shown = run("catalogue", "show", str(out), "--root", str(keys / "root.pub.pem"), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "catalogue snapshot version 2" in shown.stdout
    assert "sh-park-senior-free" in shown.stdout and "sh-museum-draft" not in shown.stdout

    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"subject": "00112233445566ff", "age_over": 65, "residence": 310000}))
    text = run("issue", "--keys", str(keys), "--profile", str(profile), env=env).stdout.strip()
    assert text.startswith("SP1:")
    common = ("verify", "--trust-list", str(trust), "--root", str(keys / "root.pub.pem"), "--catalogue", str(out))

    park = run(*common, "--venue-type", "park", text, "--json", env=env)
    assert park.returncode == 0, park.stderr
    decision = json.loads(park.stdout)["decision"]
    assert decision["result"] == "GRANTED"
    assert decision["privileges"][0]["policy_id"] == "sh-park-senior-free"
    assert decision["privileges"][0]["version"] == 2
    assert decision["privileges"][0]["benefit"] == "free entry, with 1 companion(s)"
    assert decision["venue"]["type"] == "park"

    museum = run(*common, "--venue-type", "museum", text, "--json", env=env)
    assert museum.returncode == 1
    assert json.loads(museum.stdout)["decision"]["reason"] == "NO_POLICY_FOR_VENUE"

    venue = tmp_path / "venue.json"
    venue.write_text(json.dumps({"id": "botanical-007", "type": "botanical_garden", "region": 310000}))
    garden = run(*common, "--venue", str(venue), text, env=env)
    assert garden.returncode == 0, garden.stderr
    assert "GRANTED" in garden.stdout and "free entry, with 1 companion(s)" in garden.stdout

    other = tmp_path / "other.json"
    other.write_text(json.dumps({"subject": "0011223344556677", "age_over": 65, "residence": 320000}))
    outsider = run("issue", "--keys", str(keys), "--profile", str(other), env=env).stdout.strip()
    refused = run(*common, "--venue-type", "park", outsider, "--json", env=env)
    assert refused.returncode == 1
    body = json.loads(refused.stdout)
    assert body["result"] == "VALID" and body["decision"]["reason"] == "NOT_ELIGIBLE"
    assert any("for residents of 310000 only (code: 320000)" in line["en"] for line in body["decision"]["explanation"])
    assert any("仅限 310000 居民（码中为 320000）" in line["zh"] for line in body["decision"]["explanation"])

    bad_type = run(*common, "--venue-type", "casino", text, env=env)
    assert bad_type.returncode == 2 and "--venue-type must be one of" in bad_type.stderr
    no_catalogue = run("verify", "--trust-list", str(trust), "--venue-type", "park", text, env=env)
    assert no_catalogue.returncode == 2 and "need --catalogue" in no_catalogue.stderr


def tampered_setup(tmp_path: Path, env: dict[str, str]) -> tuple[Path, Path, Path]:
    """(keys, trust list, snapshot) where one byte of the snapshot's payload was changed after signing."""
    keys = tmp_path / "keys"
    run("keys", "init", "--dir", str(keys), env=env)
    trust = tmp_path / "trust.json"
    run("keys", "trust-list", "export", "--dir", str(keys), "--out", str(trust), env=env)
    out = tmp_path / "snapshot.json"
    run("catalogue", "publish", str(good_folder(tmp_path)), "--out", str(out), "--keys", str(keys), env=env)
    document = out.read_text(encoding="utf-8")
    assert '">=": 65' in document
    out.write_text(document.replace('">=": 65', '">=": 60', 1), encoding="utf-8")
    return keys, trust, out


def test_catalogue_show_refuses_a_tampered_snapshot_with_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    keys, _, out = tampered_setup(tmp_path, env)
    shown = subprocess.run(
        [SUISHEN, "catalogue", "show", str(out), "--root", str(keys / "root.pub.pem")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert shown.returncode == 2
    assert shown.stderr == "error: catalogue snapshot signature is not valid for the root key\n"


def test_verify_refuses_a_tampered_snapshot_with_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    keys, trust, out = tampered_setup(tmp_path, env)
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"subject": "00112233445566ff", "age_over": 60, "residence": 310000}))
    text = run("issue", "--keys", str(keys), "--profile", str(profile), env=env).stdout.strip()
    result = subprocess.run(
        [
            SUISHEN,
            "verify",
            "--trust-list",
            str(trust),
            "--root",
            str(keys / "root.pub.pem"),
            "--catalogue",
            str(out),
            "--venue-type",
            "park",
            text,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "error: catalogue snapshot signature is not valid for the root key\n"
