"""The bad-input corpus: every crafted input gets its expected reason or error, never a crash or a 500.

Inputs and expectations are data (tests/corpus/<category>/manifest.json, written by make_corpus.py);
each input is one test, named by its category and id, so a failure names the input. A case may
carry `needs` (the fix it waits for) or `bug` (a defect the corpus found and nobody has fixed yet);
either is shown in the failure message (none does while every case passes). The last tests check
the corpus itself: up to date, and big enough.
"""

from __future__ import annotations

import functools
import json
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.auth import TokenAuthority
from app.catalogue_admin import check_draft
from app.matching.engine import connect
from app.matching.load import RegistryError, load_registries
from keys.partners import import_partner_trust_list, register_partner
from keys.trust_list import TrustListError, load_trust_list
from tests.corpus import make_corpus
from tests.corpus.serve import ADMIN_KEY, TOKEN_SECRET, Running, corpus_server
from tests.corpus.world import CORPUS, NOW, PARTNER_ISSUER, PARTNER_REGION, PARTNER_ROOT_KEY, ROOT_KEY, pem, trust_store
from verifier.errors import VerificationError
from verifier.trust import TrustStore
from verifier.verify import Verifier

MINIMUM = {"codes": 60, "images": 20, "policies": 40, "registry_rows": 30, "api_bodies": 30, "trust_lists": 20,
           "revocation_lists": 30}  # fmt: skip
GATE = str(Path(sys.executable).parent / "suishen-gate")
IMAGE_MEMORY_LIMIT = 3 << 30  # address space for one decode run: a picture too large to decode fails, not the machine
CRASH = "CRASH"


def manifest(category: str) -> dict[str, Any]:
    return json.loads((CORPUS / category / "manifest.json").read_text())  # type: ignore[no-any-return]


def cases(category: str) -> list[Any]:
    return [pytest.param(c, id=c.get("id") or c.get("file")) for c in manifest(category)["cases"]]


def why(case: dict[str, Any]) -> str:
    """What a failing case is known to wait for, if anything."""
    if case.get("needs"):
        return f" [waits for {case['needs']}]"
    if case.get("bug"):
        return f" [bug found by the corpus: {case['bug']}]"
    return ""


def matches(expect: str | list[str], text: str) -> bool:
    options = [expect] if isinstance(expect, str) else expect
    return any(o.lower() in text.lower() for o in options)


# --- codes ----------------------------------------------------------------------------------


@functools.cache
def store(variant: str) -> TrustStore:
    return trust_store(variant)


def verify_reason(verifier: Verifier, text: str, now: float) -> str:
    try:
        verifier.verify(text, now)
    except VerificationError as exc:
        return exc.reason.value
    except Exception as exc:  # anything but VerificationError leaving the verifier is a bug
        return f"{CRASH} {type(exc).__name__}: {exc}"
    return "ACCEPTED"


def test_the_corpus_world_accepts_its_good_codes() -> None:
    for kind, text in manifest("codes")["good"].items():
        assert verify_reason(Verifier(store("ours")), text, NOW) == "ACCEPTED", kind


@pytest.mark.parametrize("case", cases("codes"))
def test_bad_code_gets_its_reason(case: dict[str, Any]) -> None:
    verifier = Verifier(store(case.get("trust", "ours")))
    now = NOW + case.get("at", 0)
    for earlier in case.get("first", []):
        assert verify_reason(verifier, earlier, now) == "ACCEPTED", "the first use must be accepted"
    got = verify_reason(verifier, case["text"], now)
    assert got == case["expect"], f"{case['id']}: expected {case['expect']}, got {got}{why(case)}"


# --- images ---------------------------------------------------------------------------------


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (IMAGE_MEMORY_LIMIT, IMAGE_MEMORY_LIMIT))


def _decode_runs(folders: list[Path]) -> dict[str, tuple[dict[str, Any] | None, str]]:
    """`suishen-gate decode --images F --json` for each folder, side by side: image -> (record, stderr)."""
    runs = [
        (
            f,
            subprocess.Popen(
                [GATE, "decode", "--images", str(f), "--json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                preexec_fn=_limit_memory,
            ),
        )
        for f in folders
    ]
    out: dict[str, tuple[dict[str, Any] | None, str]] = {}
    for folder, process in runs:
        stdout, stderr = process.communicate(timeout=300)
        tail = stderr.decode(errors="replace")[-1500:]
        records = [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]
        for record in records:
            out[record["image"]] = (record, tail)
        for name in (p.name for p in folder.iterdir()):
            out.setdefault(name, (None, f"exit status {process.returncode}; stderr:\n{tail}"))
    return out


@pytest.fixture(scope="module")
def decoded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any] | None, str]]:
    """One run over images/, and one per file of images/huge/ (a crash there must not hide the others)."""
    folders = [CORPUS / "images"]
    for path in sorted((CORPUS / "images" / "huge").iterdir()):
        alone = tmp_path_factory.mktemp("huge")
        shutil.copy(path, alone / path.name)
        folders.append(alone)
    return _decode_runs(folders)


@pytest.mark.parametrize("case", cases("images"))
def test_bad_image_gets_its_outcome(case: dict[str, Any], decoded: dict[str, Any]) -> None:
    record, stderr = decoded[Path(case["file"]).name]
    assert record is not None, f"{case['file']}: no answer from suishen-gate decode ({stderr}){why(case)}"
    if "error" in case:
        error = record["error"] or ""
        assert matches(case["error"], error), (
            f"{case['file']}: expected a refusal naming {case['error']!r}, got error={record['error']!r}, "
            f"codes={record['codes']}{why(case)}"
        )
    else:
        assert record["error"] is None, f"{case['file']}: {record['error']}"
        reasons = sorted(verify_reason(Verifier(store("ours")), text, NOW) for text in record["codes"])
        assert reasons == case["reasons"], f"{case['file']}: read {record['codes']}"


# --- policies -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", cases("policies"))
def test_bad_policy_draft_gets_its_error(case: dict[str, Any]) -> None:
    text = (CORPUS / "policies" / case["file"]).read_text()
    started = time.perf_counter()
    try:
        errors = check_draft(text).errors
    except Exception as exc:
        pytest.fail(f"{case['file']}: {CRASH} {type(exc).__name__}: {str(exc)[:200]}{why(case)}")
    took = time.perf_counter() - started
    assert any(matches(case["expect"], e) for e in errors), (
        f"{case['file']}: expected an error naming {case['expect']!r}, got {errors[:3]}{why(case)}"
    )
    assert took < 5, f"{case['file']}: checking took {took:.1f} s"


# --- registry rows --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rejects() -> dict[tuple[str, int], str]:
    con = connect()
    load_registries(con, CORPUS / "registry_rows" / "rows")
    rows = con.execute("SELECT registry, row, reason FROM rejects").fetchall()
    return {(registry, row): reason for registry, row, reason in rows}


def _registry_cases() -> list[Any]:
    return [c for c in cases("registry_rows") if "registry" in c.values[0]]


@pytest.mark.parametrize("case", _registry_cases())
def test_bad_registry_row_is_rejected_with_its_reason(case: dict[str, Any], rejects: dict[Any, str]) -> None:
    got = rejects.get((case["registry"], case["row"]))
    assert got == case["expect"], f"{case['id']} ({case['registry']} row {case['row']}): got {got!r}{why(case)}"


def test_only_the_bad_registry_rows_are_rejected(rejects: dict[Any, str]) -> None:
    named = {(c["registry"], c["row"]) for c in manifest("registry_rows")["cases"] if "registry" in c}
    assert set(rejects) - named == set(), "good rows were rejected"


@pytest.mark.parametrize("case", [c for c in cases("registry_rows") if "folder" in c.values[0]])
def test_unloadable_registry_folder_is_refused_by_name(case: dict[str, Any]) -> None:
    try:
        load_registries(connect(), CORPUS / "registry_rows" / case["folder"])
    except RegistryError as exc:
        assert case["expect"] in str(exc), f"{case['id']}: {exc}"
    except Exception as exc:
        pytest.fail(f"{case['id']}: {CRASH} {type(exc).__module__}.{type(exc).__name__}: {str(exc)[:200]}{why(case)}")
    else:
        pytest.fail(f"{case['id']}: loaded without complaint")


# --- API bodies -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, dict[str, dict[str, str]]]]:
    with corpus_server(tmp_path_factory.mktemp("serve")) as running:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        gate = running.client.post(
            "/v1/admin/devices", headers=admin, json={"name": "corpus gate", "role": "gate", "venue": "sh-century-park"}
        )
        assert gate.status_code == 200, gate.text
        partner = {
            "region": PARTNER_REGION,
            "name": "Jiangsu",
            "root_public_pem": pem(PARTNER_ROOT_KEY).decode(),
            "issuers": [PARTNER_ISSUER],
        }
        assert running.client.post("/v1/admin/partners", headers=admin, json=partner).status_code == 200
        token, _ = TokenAuthority(TOKEN_SECRET.encode(), 3600).issue("P0001", time.time())
        auth = {
            "admin": admin,
            "gate": {"Authorization": f"Bearer {gate.json()['api_key']}"},
            "citizen": {"Authorization": f"Bearer {token}"},
            "none": {},
            "forged": {"Authorization": "Bearer sk_" + "f" * 40},
        }
        yield running, auth


def _body(case: dict[str, Any]) -> tuple[bytes | None, str | None]:
    if "text_hex" in case:
        return bytes.fromhex(case["text_hex"]), case.get("content_type")
    if "text" in case:
        return case["text"].encode(), case.get("content_type")
    if "json" not in case:
        return None, None
    body = case["json"]
    if case.get("repeat_events"):
        one = {"id": "0" * 32, "venue": "sh-century-park", "at": NOW, "result": "GRANTED"}
        body = {"events": [{**one, "id": f"{i:032x}"} for i in range(case["repeat_events"])]}
    text = json.dumps(body).replace('"__NOW__"', str(int(time.time())))
    if case.get("pad_to"):
        text = text[:-1] + " " * (case["pad_to"] - len(text)) + text[-1:]
    return text.encode(), "application/json"


@pytest.mark.parametrize("case", cases("api_bodies"))
def test_bad_request_gets_its_status_and_error(case: dict[str, Any], server: Any) -> None:
    running, auth = server
    body, content_type = _body(case)
    headers = dict(auth[case["auth"]])
    if content_type:
        headers["Content-Type"] = content_type
    with httpx.Client(base_url=running.url, timeout=30) as client:  # a fresh connection: one case, one answer
        answer = client.request(case["method"], case["path"], content=body, headers=headers)
    try:
        payload = answer.json()
    except ValueError:
        payload = {"(not JSON)": answer.text[:200]}
    assert answer.status_code != 500, f"{case['id']}: 500 {payload}{why(case)}\n{running.log_tail()[-1500:]}"
    statuses = case["status"] if isinstance(case["status"], list) else [case["status"]]
    assert answer.status_code in statuses, f"{case['id']}: {answer.status_code} {payload}{why(case)}"
    if case.get("error"):
        assert payload.get("error") == case["error"], f"{case['id']}: {payload}{why(case)}"
    for name, value in case.get("answer", {}).items():
        assert payload.get(name) == value, f"{case['id']}: {name} is {payload.get(name)!r} in {payload}{why(case)}"


# --- partner trust lists --------------------------------------------------------------------


@pytest.mark.parametrize("case", cases("trust_lists"))
def test_bad_trust_list_is_refused_with_its_reason(case: dict[str, Any], tmp_path: Path) -> None:
    folder = CORPUS / "trust_lists"
    document = (folder / case["file"]).read_bytes()
    if case.get("pad_to"):
        document = document[:-2] + b" " * (case["pad_to"] - len(document)) + document[-2:]
    register_partner(tmp_path, PARTNER_REGION, pem(PARTNER_ROOT_KEY), issuers=(PARTNER_ISSUER,), now=NOW)
    try:
        if case.get("held"):
            import_partner_trust_list(tmp_path, PARTNER_REGION, (folder / case["held"]).read_bytes(), NOW)
        if case.get("judge") == "load":
            load_trust_list(document, ROOT_KEY.public_key(), NOW)
        else:
            import_partner_trust_list(tmp_path, case.get("region", PARTNER_REGION), document, NOW)
    except TrustListError as exc:
        assert case["expect"] in str(exc), f"{case['file']}: {exc}"
    except Exception as exc:
        pytest.fail(f"{case['file']}: {CRASH} {type(exc).__name__}: {str(exc)[:200]}{why(case)}")
    else:
        pytest.fail(f"{case['file']}: accepted")


# --- revocation lists -----------------------------------------------------------------------


def _revocation_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("revocations*"))}


@pytest.mark.parametrize("case", cases("revocation_lists"))
def test_bad_revocation_list_is_refused_in_one_line_and_a_gate_keeps_its_own(
    case: dict[str, Any], tmp_path: Path
) -> None:
    from keys.revocation_list import RevocationListError, load_revocation_list
    from scanner_client.documents import REVOCATIONS, DocumentCache, DocumentError

    folder = CORPUS / "revocation_lists"
    document = (folder / case["file"]).read_bytes()
    held_bytes = (folder / case["held"]).read_bytes() if case.get("held") else None
    held = load_revocation_list(held_bytes, ROOT_KEY.public_key(), NOW) if held_bytes else None  # type: ignore[arg-type]
    try:
        load_revocation_list(document, ROOT_KEY.public_key(), NOW, held=held)  # type: ignore[arg-type]
    except RevocationListError as exc:
        assert case["expect"] in str(exc) and "\n" not in str(exc), f"{case['file']}: {exc}"
    except Exception as exc:
        pytest.fail(f"{case['file']}: {CRASH} {type(exc).__name__}: {str(exc)[:200]}{why(case)}")
    else:
        pytest.fail(f"{case['file']}: accepted")
    if case.get("gate", True):
        cache = DocumentCache(tmp_path / "documents", ROOT_KEY.public_key())  # type: ignore[arg-type]
        if held_bytes:
            cache.install(REVOCATIONS, held_bytes)
        before = _revocation_files(cache.folder)
        with pytest.raises(DocumentError) as refused:
            cache.install(REVOCATIONS, document)
        assert "\n" not in str(refused.value) and _revocation_files(cache.folder) == before, case["file"]


# --- the corpus itself ----------------------------------------------------------------------


def test_the_corpus_files_are_what_the_generator_writes() -> None:
    changed = make_corpus.differences()
    assert changed == [], f"run `python -m tests.corpus.make_corpus`: out of date {changed[:5]}"


def test_every_category_holds_its_minimum_and_the_counts_are_shown() -> None:
    counts = {category: len(manifest(category)["cases"]) for category in make_corpus.CATEGORIES}
    by_reason = Counter(c["expect"] for c in manifest("codes")["cases"])
    lines = [f"{category:<14} {counts[category]:>4}  (at least {MINIMUM[category]})" for category in counts]
    lines.append(f"{'total':<14} {sum(counts.values()):>4}")
    lines.append("codes by reason: " + ", ".join(f"{r} {n}" for r, n in sorted(by_reason.items())))
    print("\n" + "\n".join(lines))
    assert all(counts[c] >= MINIMUM[c] for c in MINIMUM), counts
    assert sum(counts.values()) >= 200
    named = {
        "MALFORMED_PREFIX",
        "MALFORMED_BASE45",
        "MALFORMED_COSE",
        "MALFORMED_CLAIMS",
        "TOO_LARGE",
        "UNSUPPORTED_ALG",
        "UNKNOWN_KID",
        "KEY_NOT_VALID_NOW",
        "KEY_REVOKED",
        "BAD_SIGNATURE",
        "NOT_YET_VALID",
        "EXPIRED",
        "DEVICE_PROOF_MISSING",
        "BAD_DEVICE_SIGNATURE",
        "PROOF_TOO_OLD",
        "PROOF_IN_FUTURE",
        "REPLAYED",
        "ISSUER_NOT_RECOGNISED",
    }
    assert named <= set(by_reason), f"no code case for {sorted(named - set(by_reason))}"
