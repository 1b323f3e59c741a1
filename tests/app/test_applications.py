"""Confirm-mode applications: written from registry data, sealed by the lead department, confirmed once."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.db.schema import applications, confirmations
from app.matching.applications import ApplicationError, check_application, write_applications
from app.matching.confirmations import confirm
from app.matching.engine import attach_registries, connect, record_run, run_matching
from keys import directory
from tests.support.registries import DAY, random_registries, write_parquet_registries

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = write_parquet_registries(random_registries(seed=31, n=500), tmp_path)
    con = connect()
    attach_registries(con, folder)
    policies = load_catalogue(CATALOGUE).policies
    run = record_run(con, run_matching(con, policies, DAY))
    engine = open_database(tmp_path / "ledger.sqlite")
    keys = tmp_path / "keys"
    return con, engine, policies, run, keys


def _seal_for(keys: Path):  # type: ignore[no-untyped-def]
    return lambda department: directory.seal_key(keys, department, b"seal passphrase")


def test_applications_are_written_for_confirm_policies_only_and_once(world) -> None:  # type: ignore[no-untyped-def]
    con, engine, policies, run, keys = world
    written = write_applications(con, engine, policies, DAY, run, _seal_for(keys))
    confirm_ids = {p.id for p in policies if p.delivery == "confirm" and p.status == "published"}
    assert {w.policy_id for w in written} == confirm_ids
    expected = dict(con.execute(
        "SELECT policy_id, count(*) FROM entitlements WHERE policy_id IN (SELECT unnest(?)) GROUP BY 1",
        [sorted(confirm_ids)],
    ).fetchall())  # fmt: skip
    assert {w.policy_id: w.new for w in written if w.new} == expected
    assert sum(expected.values()) > 0
    again = write_applications(con, engine, policies, DAY, run, _seal_for(keys))
    assert all(w.new == 0 for w in again)


def test_an_application_carries_the_facts_and_its_seal_holds(world) -> None:  # type: ignore[no-untyped-def]
    con, engine, policies, run, keys = world
    write_applications(con, engine, policies, DAY, run, _seal_for(keys))
    with engine.connect() as db:
        row = db.execute(select(applications).limit(1)).first()
    assert row is not None
    policy = next(p for p in policies if p.id == row.policy_id)
    public = directory.seal_public_key(keys, policy.lead_department)
    payload = check_application(row.document.encode(), public)
    assert payload["subject"] == row.subject and payload["policy"]["id"] == row.policy_id
    assert payload["lead_department"] == policy.lead_department and payload["facts"]
    assert set(payload["facts"]) <= policy.attributes_read()
    tampered = json.loads(row.document)
    tampered["payload"]["benefit"] = "¥1000000"
    with pytest.raises(ApplicationError, match="signature is not valid"):
        check_application(json.dumps(tampered).encode(), public)
    other = directory.seal_key(keys, "another department", b"seal passphrase").public_key()
    with pytest.raises(ApplicationError, match="not by the root key"):
        check_application(row.document.encode(), other)  # type: ignore[arg-type]


def test_a_confirmation_is_recorded_once_with_time_and_channel(world) -> None:  # type: ignore[no-untyped-def]
    con, engine, policies, run, keys = world
    write_applications(con, engine, policies, DAY, run, _seal_for(keys))
    with engine.connect() as db:
        row = db.execute(select(applications.c.subject, applications.c.policy_id, applications.c.sha256)).first()
    assert row is not None
    when = dt.datetime(2026, 11, 26, 9, 30)
    assert confirm(engine, row.subject, row.policy_id, "app", at=when) == row.sha256
    with engine.connect() as db:
        stored = db.execute(select(confirmations)).all()
    assert [(c.application_sha256, c.confirmed_at, c.channel) for c in stored] == [(row.sha256, when, "app")]
    with pytest.raises(ApplicationError, match="already confirmed"):
        confirm(engine, row.subject, row.policy_id, "counter")
    with pytest.raises(ApplicationError, match="no application"):
        confirm(engine, "P-nobody", row.policy_id, "app")
    with pytest.raises(ApplicationError, match="channel"):
        confirm(engine, row.subject, row.policy_id, "pigeon")


def test_seal_keys_are_encrypted_at_rest(world) -> None:  # type: ignore[no-untyped-def]
    _, _, _, _, keys = world
    directory.seal_key(keys, "上海市残疾人联合会", b"seal passphrase")
    sealed = list(keys.glob("seal-*.pem"))
    private = [p for p in sealed if not p.name.endswith(".pub.pem")]
    assert private and all(b"ENCRYPTED PRIVATE KEY" in p.read_bytes() for p in private)
