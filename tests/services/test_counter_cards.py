"""The counter's card routes end to end: a counter device issues a card PDF, the QR read back from the page
(pdftoppm, the gate's zxing-cpp and pyzbar, also blurred and photocopied) verifies at POST /v1/verify with
check_id once per venue per day; a reissue or a lost report (at the counter or on the citizen page) makes the
old card CREDENTIAL_REVOKED at the server at once. Runs on the in-process backends and on a real redis-server.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exists, func, select

from app.db.schema import cards, profiles, revocations, stored_entitlements
from tests.support.cards import blurred, decoded_by_each, photocopied, render_pages
from tests.support.services import ROOT, Api, Place, open_api
from verifier.claims import decode_claims
from verifier.code import parse_code
from verifier.decide import card_label

MUSEUM, PARK = "sh-museum", "sh-century-park"


def eighty_plus(api: Api, count: int = 2) -> list[str]:
    """Subjects of the synthetic registry aged 80+ in Shanghai with a scan-mode entitlement."""
    e = stored_entitlements
    scan = exists().where(e.c.subject == profiles.c.subject, e.c.mode == "scan", e.c.revoked_in.is_(None))
    query = select(profiles.c.subject).where(profiles.c.age_over >= 80, profiles.c.residence == 310000, scan)
    with api.services.engine.connect() as db:
        found = list(db.execute(query.order_by(profiles.c.subject).limit(count)).scalars())
    assert len(found) == count, "the synthetic registry should hold people aged 80+"
    return found


def issue(api: Api, counter: dict[str, str], subject: str, initial: str = "王", years: int = 1) -> tuple[int, str]:
    """(card number, the code text read back from the printed page)."""
    answer = api.client.post("/v1/counter/cards", json={"subject": subject, "initial": initial, "years": years},
                             headers=counter)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")
    number = int(answer.headers["X-Card-Number"])
    (page,) = render_pages(answer.content, dpi=150)
    read = decoded_by_each(page)
    (text,) = read["zxing"]
    assert read["pyzbar"] == {text}
    return number, text


def verify(api: Api, text: str, venue: str, gate: dict[str, str]) -> dict[str, Any]:
    answer = api.client.post("/v1/verify", json={"code": text, "venue": venue}, headers=gate)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_counter_card_is_granted_with_check_id_once_per_venue_per_day(api: Api) -> None:
    counter = api.device("counter")
    museum, park = api.device("gate", MUSEUM), api.device("gate", PARK)
    number, text = issue(api, counter, eighty_plus(api, 1)[0])
    first = verify(api, text, MUSEUM, museum)
    assert first["result"] == "VALID" and first["kind"] == "card" and first["card_number"] == number
    assert first["decision"]["result"] == "GRANTED" and first["decision"]["check_id"] is True
    assert first["decision"]["explanation"][0] == {"zh": f"卡 {card_label(number)}：请核对持卡人身份证件",
                                                   "en": f"card {card_label(number)}: check the holder's photo ID"}
    again = verify(api, text, MUSEUM, museum)
    assert again["result"] == "REJECTED" and again["reason"] == "REPLAYED"
    elsewhere = verify(api, text, PARK, park)
    assert elsewhere["decision"]["result"] == "GRANTED" and elsewhere["decision"]["check_id"] is True


def test_the_printed_qr_reads_after_blur_and_a_photocopy(api: Api) -> None:
    counter = api.device("counter")
    answer = api.client.post("/v1/counter/cards", json={"subject": eighty_plus(api, 1)[0], "initial": "L"},
                             headers=counter)  # fmt: skip
    (page,) = render_pages(answer.content, dpi=150)
    (text,) = decoded_by_each(page)["zxing"]
    for image in (blurred(page, 2.0), photocopied(page, seed=3)):
        assert decoded_by_each(image) == {"zxing": {text}, "pyzbar": {text}}
    assert verify(api, text, PARK, api.device("gate", PARK))["decision"]["result"] == "GRANTED"


def test_a_reissue_withdraws_the_old_card_at_the_server_at_once(api: Api) -> None:
    counter, gate = api.device("counter"), api.device("gate", PARK)
    subject = eighty_plus(api, 1)[0]
    old_number, old = issue(api, counter, subject)
    answer = api.client.post("/v1/counter/cards", json={"subject": subject, "initial": "王", "years": 2},
                             headers=counter)  # fmt: skip
    assert answer.headers["X-Card-Replaced"] == str(old_number)
    (page,) = render_pages(answer.content, dpi=150)
    (new,) = decoded_by_each(page)["zxing"]
    refused = verify(api, old, PARK, gate)
    assert refused["result"] == "REJECTED" and refused["reason"] == "CREDENTIAL_REVOKED"
    assert verify(api, new, PARK, gate)["decision"]["result"] == "GRANTED"
    mine = api.client.get("/v1/me/cards", headers=api.citizen(subject)).json()["cards"]
    assert [(c["number"], c["status"]) for c in mine] == [(int(answer.headers["X-Card-Number"]), "active"),
                                                         (old_number, "replaced")]  # fmt: skip
    with api.services.engine.connect() as db:
        assert db.execute(select(revocations.c.cause)).scalars().all() == ["card_replaced"]


def test_a_card_reported_lost_at_the_counter_or_by_its_holder_stops_working(api: Api) -> None:
    counter, gate = api.device("counter"), api.device("gate", MUSEUM)
    first, second = eighty_plus(api, 2)
    number, text = issue(api, counter, first)
    lost = api.client.post(f"/v1/counter/cards/{card_label(number)}/lost", headers=counter)
    assert lost.status_code == 200, lost.text
    assert lost.json()["status"] == "lost" and lost.json()["label"] == card_label(number)
    assert verify(api, text, MUSEUM, gate)["reason"] == "CREDENTIAL_REVOKED"

    _, text = issue(api, counter, second)
    citizen = api.citizen(second)
    assert api.client.post("/v1/me/cards/lost", headers=citizen).json()["status"] == "lost"
    assert verify(api, text, MUSEUM, gate)["reason"] == "CREDENTIAL_REVOKED"
    again = api.client.post("/v1/me/cards/lost", headers=citizen)
    assert again.status_code == 404 and again.json()["error"] == "no_such_card"
    typo = str(number + (1 if number % 10 < 9 else -1))
    wrong = api.client.post(f"/v1/counter/cards/{typo}/lost", headers=counter)
    assert wrong.status_code == 422 and "check the digits" in wrong.json()["detail"]


def _stored(api: Api) -> int:
    with api.services.engine.connect() as db:
        return int(db.execute(select(func.count()).select_from(cards)).scalar_one())


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"subject": "NOBODY", "initial": "W"}, 422, "no_entitlement"),
        ({"initial": "王小明"}, 422, "invalid_card_request"),
        ({"initial": "310101194501011234"}, 422, "invalid_request"),  # over the field's length
        ({"initial": "7"}, 422, "invalid_card_request"),
        ({"initial": "W", "years": 3}, 422, "invalid_request"),
    ],
)
def test_bad_card_requests_are_refused_plainly_and_store_nothing(
    api: Api, body: dict[str, Any], status: int, error: str
) -> None:
    counter = api.device("counter")
    request = {"subject": eighty_plus(api, 1)[0], **body}
    answer = api.client.post("/v1/counter/cards", json=request, headers=counter)
    assert answer.status_code == status and answer.json()["error"] == error, answer.text
    assert "\n" not in answer.json()["detail"] and "Traceback" not in answer.text
    assert _stored(api) == 0


def test_a_person_without_a_scan_privilege_gets_no_card(api: Api) -> None:
    younger = api.place.template.others[0]
    answer = api.client.post("/v1/counter/cards", json={"subject": younger, "initial": "W"},
                             headers=api.device("counter"))  # fmt: skip
    assert answer.status_code == 422 and answer.json()["error"] == "no_entitlement"
    assert "no privilege a gate checks" in answer.json()["detail"]
    assert _stored(api) == 0


# -- the command line at a service counter ------------------------------------------------------------


def suishen(place: Place, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=place.environment(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_card_commands_issue_print_a_batch_and_report_a_loss(place: Place, tmp_path: Path) -> None:
    with open_api(place) as api:
        subject = eighty_plus(api, 1)[0]
        gate = api.device("gate", PARK)
    done = suishen(place, "card", "issue", "--subject", subject, "--initial", "王", "--out", str(tmp_path / "a.pdf"))
    assert done.returncode == 0, done.stderr
    (text,) = decoded_by_each(render_pages((tmp_path / "a.pdf").read_bytes(), dpi=150)[0])["zxing"]
    label = done.stdout.split()[1:5]
    assert label[0] == "SC" and "valid until" in done.stdout

    from app.cards import batch_subjects
    from app.db.engine import open_database

    engine = open_database(place.database_url)
    expected = batch_subjects(engine, int(time.time()))
    engine.dispose()
    assert subject not in expected and len(expected) >= 1  # the card issued above takes them out of the batch
    batch = suishen(place, "card", "print-batch", "--out", str(tmp_path / "sheets.pdf"))
    assert batch.returncode == 0, batch.stderr
    assert batch.stdout.startswith(f"{len(expected)} cards on {-(-len(expected) // 8)} A4 sheet(s)")
    sheets = render_pages((tmp_path / "sheets.pdf").read_bytes(), dpi=100)
    assert len(sheets) == -(-len(expected) // 8)
    again = suishen(place, "card", "print-batch", "--out", str(tmp_path / "again.pdf"))
    assert again.returncode == 0 and again.stdout.startswith("nobody to print for")
    assert not (tmp_path / "again.pdf").exists()

    with open_api(place) as api:
        assert verify(api, text, PARK, gate)["decision"]["check_id"] is True
        lost = suishen(place, "card", "lost", "--card", " ".join(label))
        assert lost.returncode == 0 and "reported lost" in lost.stdout, lost.stderr
        api.services.catch_up_revocations()
        assert verify(api, text, MUSEUM, api.device("gate", MUSEUM))["reason"] == "CREDENTIAL_REVOKED"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--subject", "NOBODY", "--initial", "W"), "not in the latest matching results"),
        (("--initial", "王小明"), "one letter or character"),
        (("--initial", "W", "--years", "3"), "1 or 2 years, not 3"),
    ],
)
def test_a_refused_card_command_prints_one_line_and_stores_nothing(
    place: Place, tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    with open_api(place) as api:
        subject = eighty_plus(api, 1)[0]
    full = args if "--subject" in args else ("--subject", subject, *args)
    done = suishen(place, "card", "issue", *full, "--out", str(tmp_path / "x.pdf"))
    assert done.returncode == 2 and words in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    with open_api(place) as api:
        assert _stored(api) == 0


def test_a_key_rotation_keeps_the_cards_it_signed_valid(place: Place, tmp_path: Path) -> None:
    """The admin rotation and `suishen keys rotate` both keep the old key until its last card expires."""
    keys = tmp_path / "keys"
    shutil.copytree(place.template.keys_dir, keys)
    with open_api(place, keys_dir=keys) as api:
        counter, gate = api.device("counter"), api.device("gate", PARK)
        _, text = issue(api, counter, eighty_plus(api, 1)[0])
        credential = parse_code(text).credential
        card_expiry = decode_claims(credential.payload).expires_at
        old_kid = credential.kid.hex()  # type: ignore[union-attr]
        rotated = api.client.post("/v1/admin/keys/rotate", headers=api.admin)
        assert rotated.status_code == 200 and rotated.json()["signing"] != old_kid
        listed = {k["kid"]: k for k in api.client.get("/v1/trust-list").json()["payload"]["keys"]}
        assert listed[old_kid]["status"] == "retired" and listed[old_kid]["not_after"] == card_expiry
        assert verify(api, text, PARK, gate)["decision"]["result"] == "GRANTED"
        _, second = issue(api, counter, eighty_plus(api, 2)[1])  # signed by the new key
    environment = place.environment(SUISHEN_KEYS_DIR=str(keys))
    done = subprocess.run([sys.executable, "-m", "app.cli", "keys", "rotate", "--dir", str(keys)], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    newer = decode_claims(parse_code(second).credential.payload).expires_at
    assert f"stays verifiable until {newer}" in done.stdout
