"""Confirmations: signed with the holder's device key, refused when they may not be taken, kept, exported, verified.

Real SQLite (and PostgreSQL when SUISHEN_TEST_POSTGRES_URL names a server) under a real matching run.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.db.schema import applications, confirmation_statements, confirmations, holder_devices
from app.matching import confirmations as c
from app.matching.applications import write_applications
from app.matching.engine import attach_registries, connect, record_run, run_matching
from app.matching.entitlement_store import copy_results
from app.matching.statuses import EXPIRED, notify, status_of
from app.matching.synth import synthesise
from app.phones import admit_phone
from keys import directory
from tests.support.registries import DAY
from verifier import cbor_strict
from verifier.code import device_proof, read_proof_step
from verifier.cose import parse_header, parse_sign1
from verifier.errors import VerificationError

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"
SUISHEN = str(Path(sys.executable).parent / "suishen")
POLICY = "sh-student-transport-subsidy"


def _point(key: ec.EllipticCurvePrivateKey) -> tuple[bytes, bytes]:
    numbers = key.public_key().public_numbers()
    return numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")


class World:
    def __init__(self, con: Any, engine: Any, policies: Any, run: int, keys: Path, ledger: str) -> None:
        self.con, self.engine, self.policies, self.run = con, engine, policies, run
        self.keys, self.ledger = keys, ledger
        self.policy = next(p for p in policies if p.id == POLICY)

    def subjects(self, n: int) -> list[str]:
        rows = self.con.execute(
            "SELECT subject FROM entitlements WHERE policy_id = ? ORDER BY subject LIMIT ?", [POLICY, n]
        ).fetchall()
        assert len(rows) == n, "the random registries have too few pupils with a transport subsidy"
        return [str(r[0]) for r in rows]

    def application(self, subject: str) -> Any:
        with self.engine.connect() as db:
            return db.execute(select(applications).where(
                applications.c.subject == subject, applications.c.policy_id == POLICY
            )).one()  # fmt: skip

    def phone(self, subject: str) -> ec.EllipticCurvePrivateKey:
        key = ec.generate_private_key(ec.SECP256R1())
        admit_phone(self.engine, subject, c.key_sha256(*_point(key)), int(time.time()), allowed=1,
                    signed_in_at=None, fresh_s=600)  # fmt: skip
        return key

    def stored(self) -> tuple[int, int]:
        with self.engine.connect() as db:
            return (
                db.execute(select(func.count()).select_from(confirmations)).scalar_one(),
                db.execute(select(func.count()).select_from(confirmation_statements)).scalar_one(),
            )


@pytest.fixture
def world(tmp_path: Path, services_url: str) -> Iterator[World]:
    folder = tmp_path / "registries"
    synthesise(folder, persons=3000, enterprises=50, seed=5)
    con = connect(tmp_path / "results.duckdb")
    attach_registries(con, folder)
    policies = load_catalogue(CATALOGUE).policies
    run = record_run(con, run_matching(con, policies, DAY))
    engine = open_database(services_url)
    copy_results(con, engine, policies)  # entitlements in the ledger, a notice for each
    keys = tmp_path / "keys"
    write_applications(con, engine, policies, DAY, run, lambda d: directory.seal_key(keys, d, b"pw"))
    yield World(con, engine, policies, run, keys, services_url)
    engine.dispose()
    con.close()


def test_a_statement_is_a_cose_sign1_that_only_its_device_key_verifies() -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    sha = hashlib.sha256(b"an application").hexdigest()
    statement = c.make_statement(key, sha, POLICY, 1, 1_800_000_000, "web")
    assert statement[:2] == b"\xd2\x84"  # tagged COSE_Sign1
    assert c.read_statement(statement, *_point(key)) == c.Statement(sha, POLICY, 1, 1_800_000_000, "web")
    with pytest.raises(c.ConfirmationError) as refused:
        c.read_statement(statement, *_point(other))
    assert refused.value.code == c.BAD_SIGNATURE
    item = cbor_strict.loads(statement).value
    assert cbor_strict.loads(item[0]) == {1: -7, 3: c.CONTENT_TYPE}
    assert cbor_strict.loads(item[2]) == {"application": bytes.fromhex(sha), "channel": "web",
                                          "format": "suishen-confirmation/1", "notice": 1, "policy": POLICY,
                                          "t": 1_800_000_000}  # fmt: skip
    tampered = bytearray(statement)
    tampered[-70] ^= 1  # a byte of the payload
    with pytest.raises(c.ConfirmationError):
        c.read_statement(bytes(tampered), *_point(key))


def test_a_statement_never_passes_as_a_device_proof_nor_a_proof_as_a_statement() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    credential = b"\xd2\x84" + b"a credential's bytes"
    proof = device_proof(credential, key, 1_800_000_000)
    with pytest.raises(c.ConfirmationError) as as_statement:
        c.read_statement(proof, *_point(key))
    assert as_statement.value.code == c.BAD_STATEMENT  # untagged, header {1: -7} alone
    retagged = b"\xd2" + proof  # even tagged, its protected header and AAD are a proof's
    with pytest.raises(c.ConfirmationError, match="protected header"):
        c.read_statement(retagged, *_point(key))
    statement = c.make_statement(key, "00" * 32, POLICY, 1, 1_800_000_000)
    untagged = cbor_strict.loads(statement).value
    with pytest.raises(VerificationError):  # the gate's strict reader: only alg (and kid) in a proof's header
        parse_sign1(untagged, tagged=False)
    with pytest.raises(VerificationError):
        parse_header(untagged[0])
    with pytest.raises(VerificationError):  # and a statement's payload is not [time step, nonce]
        read_proof_step(untagged[2])


def test_a_signed_confirmation_is_kept_with_its_bytes_and_verified_again_from_the_export(
    world: World, tmp_path: Path
) -> None:
    signer, keyless = world.subjects(2)
    key = world.phone(signer)
    app = world.application(signer)
    now = time.time()
    statement = c.make_statement(key, app.sha256, POLICY, 1, int(now), "web")
    done = c.confirm_application(world.engine, signer, POLICY, "web", policy=world.policy, now=now,
                                 statement=statement, device_xy=_point(key))  # fmt: skip
    assert (done.signed, done.notice_version, done.application_sha256) == (True, 1, app.sha256)
    with world.engine.connect() as db:
        kept = db.execute(select(confirmation_statements)).one()
    assert bytes(kept.statement) == statement and bytes(kept.device_key) == b"".join(_point(key))
    assert kept.signed and kept.signed_at == int(now) and kept.statement_sha256 == hashlib.sha256(statement).hexdigest()
    c.confirm_application(world.engine, keyless, POLICY, "counter", policy=world.policy, now=now)  # by the counter
    out = tmp_path / "finance" / "confirmations.jsonl"
    assert c.export_confirmations(world.engine, out) == (2, 1)
    lines = out.read_text().splitlines()
    by_subject = {json.loads(line)["subject"]: line for line in lines}
    signed = c.verify_export_line(
        by_subject[signer], directory.seal_public_key(world.keys, world.policy.lead_department)
    )
    assert (signed.signed, signed.signed_at, signed.seal_checked) == (True, int(now), True)
    assert signed.device_key_sha256 == c.key_sha256(*_point(key))
    assert json.loads(by_subject[signer])["statement"] == base64.b64encode(statement).decode()
    unsigned = c.verify_export_line(by_subject[keyless])
    assert (unsigned.signed, unsigned.channel) == (False, "counter")
    line = json.loads(by_subject[signer])
    for field, value in (("subject", keyless), ("policy_id", "sh-disability-living-subsidy"),
                         ("notice_version", 2), ("channel", "app")):  # fmt: skip
        with pytest.raises(c.ConfirmationError):
            c.verify_export_line(json.dumps({**line, field: value}))
    other = ec.generate_private_key(ec.SECP256R1())
    x, y = (base64.urlsafe_b64encode(v).rstrip(b"=").decode() for v in _point(other))
    with pytest.raises(c.ConfirmationError, match="does not verify"):
        c.verify_export_line(json.dumps({**line, "device_public_key": {"kty": "EC", "crv": "P-256", "x": x, "y": y}}))
    with pytest.raises(c.ConfirmationError, match="do not hash"):
        c.verify_export_line(json.dumps({**line, "application": line["application"].replace("sh-", "sh_", 1)}))

    # The command line: export, verify every line, one line, and a damaged file.
    result = subprocess.run([SUISHEN, "match", "confirmations", "export", "--out", str(tmp_path / "f.jsonl"),
                             "--ledger", world.ledger], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 confirmations, 1 signed with the holder's device key" in result.stdout
    result = subprocess.run([SUISHEN, "match", "confirmations", "verify", str(tmp_path / "f.jsonl"), "--keys",
                             str(world.keys)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 of 2 line(s) verified" in result.stdout and "seal verified" in result.stdout
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text(by_subject[keyless] + "\n" + json.dumps({**line, "subject": keyless}) + "\n")
    result = subprocess.run([SUISHEN, "match", "confirmations", "verify", str(damaged), "--line", "2"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 1 and result.stdout.startswith("line 2: FAILED: ") and "Traceback" not in result.stderr


def test_bad_statements_are_refused_and_nothing_is_stored(world: World) -> None:
    subject, neighbour = world.subjects(2)
    key = world.phone(subject)
    neighbours = world.phone(neighbour)  # registered, but to another person
    app = world.application(subject)
    now = time.time()

    def refused(statement: bytes, xy: tuple[bytes, bytes], channel: str = "web", **kw: Any) -> str:
        with pytest.raises(c.ConfirmationError) as exc:
            c.confirm_application(world.engine, subject, POLICY, channel, policy=world.policy, now=now,
                                  statement=statement, device_xy=xy, **kw)  # fmt: skip
        assert world.stored() == (0, 0), "a refused confirmation must store nothing"
        return exc.value.code

    another = ec.generate_private_key(ec.SECP256R1())
    good = c.make_statement(key, app.sha256, POLICY, 1, int(now))
    assert refused(c.make_statement(another, app.sha256, POLICY, 1, int(now)), _point(key)) == c.BAD_SIGNATURE
    assert refused(c.make_statement(another, app.sha256, POLICY, 1, int(now)), _point(another)) == c.NOT_YOUR_DEVICE
    theirs = c.make_statement(neighbours, app.sha256, POLICY, 1, int(now))
    assert refused(theirs, _point(neighbours)) == c.NOT_YOUR_DEVICE
    assert refused(c.make_statement(key, app.sha256, POLICY, 1, int(now) - 3600), _point(key)) == c.STALE
    assert refused(c.make_statement(key, app.sha256, POLICY, 1, int(now) + 3600), _point(key)) == c.IN_FUTURE
    assert refused(c.make_statement(key, "ab" * 32, POLICY, 1, int(now)), _point(key)) == c.WRONG_APPLICATION
    assert refused(c.make_statement(key, app.sha256, POLICY, 2, int(now)), _point(key)) == c.NOTICE_CHANGED
    assert refused(c.make_statement(key, app.sha256, POLICY, 1, int(now), "app"), _point(key)) == c.WRONG_APPLICATION
    assert refused(good, _point(key), channel="counter") == c.UNSIGNED_CHANNEL
    assert refused(good[:-1], _point(key)) == c.BAD_STATEMENT
    assert refused(device_proof(b"cred", key, now), _point(key)) == c.BAD_STATEMENT
    c.confirm_application(world.engine, subject, POLICY, "web", policy=world.policy, now=now, statement=good,
                          device_xy=_point(key))  # fmt: skip
    assert world.stored() == (1, 1)
    with pytest.raises(c.ConfirmationError) as again:  # the same bytes again
        c.confirm_application(world.engine, subject, POLICY, "web", policy=world.policy, now=now + 1, statement=good,
                              device_xy=_point(key))  # fmt: skip
    assert again.value.code == c.REPLAYED
    fresh = c.make_statement(key, app.sha256, POLICY, 1, int(now) + 2)
    with pytest.raises(c.ConfirmationError) as twice:
        c.confirm_application(world.engine, subject, POLICY, "web", policy=world.policy, now=now + 2, statement=fresh,
                              device_xy=_point(key))  # fmt: skip
    assert twice.value.code == c.ALREADY_CONFIRMED and world.stored() == (1, 1)
    with world.engine.connect() as db:
        assert db.execute(select(func.count()).select_from(holder_devices)).scalar_one() == 2


def test_a_confirmation_after_the_version_ended_the_revocation_or_the_deadline_is_refused(
    world: World, tmp_path: Path
) -> None:
    ended, late, revoked = world.subjects(3)
    yesterday = dt.date.today() - dt.timedelta(days=1)
    version = world.policy.versions[0]
    closed = world.policy._replace(versions=(version._replace(effective_to=yesterday),))
    with pytest.raises(c.ConfirmationError, match="ended on") as exc:
        c.confirm_application(world.engine, ended, POLICY, "web", policy=closed, now=time.time())
    assert exc.value.code == c.VERSION_ENDED

    # 60 days after the notice (the run's inbox notice): expired, and listed for the department.
    assert world.policy.confirm_within_days == 60
    later = time.time() + 61 * 86400
    with pytest.raises(c.ConfirmationError, match="expired, apply through the original channel") as exc:
        c.confirm_application(world.engine, late, POLICY, "counter", policy=world.policy, now=later)
    assert exc.value.code == c.EXPIRED
    listed = c.expired(world.engine, world.policies, later)
    assert late in {e.subject for e in listed if e.policy_id == POLICY}
    assert c.expired(world.engine, world.policies, time.time()) == []
    assert status_of(world.con, world.engine, late, POLICY, policy=world.policy, now=later).status == EXPIRED
    assert status_of(world.con, world.engine, late, POLICY, policy=world.policy).status != EXPIRED
    result = subprocess.run([SUISHEN, "match", "expired", "--ledger", world.ledger], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0 and result.stdout.endswith("0 expired confirmation(s): expired, apply through the "
                                                             "original channel\n")  # fmt: skip

    # Ten years on, the enrolment has ended: the run revokes the entitlement, and its confirmation is refused.
    record_run(world.con, run_matching(world.con, world.policies, DAY + dt.timedelta(days=3650)))
    copy_results(world.con, world.engine, world.policies)
    with pytest.raises(c.ConfirmationError, match="no longer found") as exc:
        c.confirm_application(world.engine, revoked, POLICY, "web", policy=world.policy, now=time.time())
    assert exc.value.code == c.REVOKED
    assert revoked not in {e.subject for e in c.expired(world.engine, world.policies, later)}  # revoked: not listed
    assert world.stored() == (0, 0)
    result = subprocess.run([SUISHEN, "match", "confirm", revoked, POLICY, "--channel", "counter", "--ledger",
                             world.ledger], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "no longer found" in result.stderr
    assert notify(world.con, world.engine, [POLICY], world.run) == 0  # the run's copy noticed everyone already
