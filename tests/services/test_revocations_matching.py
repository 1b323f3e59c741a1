"""A matching run withdraws the earlier codes of exactly the subjects whose new profile takes back what
those codes assert (a registry change: entitlement_dropped; an upheld objection: objection_upheld), and
nobody else's: not the unchanged, not those who only gained. Real registries (Parquet), DuckDB and SQLite."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import select

from app.catalogue import load_catalogue
from app.db.engine import open_database
from app.db.schema import audit, profiles, revocation_requests, revocations
from app.issuing import day_pseudonym
from app.matching.objections import file_objection, resolve
from app.matching.run import match_registries
from app.revocations import publish_requests, subject_entries
from tests.support.services import PEPPER, ROOT, Place, open_api

CATALOGUE = load_catalogue(ROOT / "data" / "catalogue")
MUSEUM_POLICY = next(p for p in CATALOGUE.policies if p.id == "sh-museum-senior-free")


def set_birth_date(registries: Path, person: str, born: dt.date) -> None:
    """Change one person's birth date in the persons registry, as the department's next file would."""
    path = registries / "persons.parquet"
    changed = registries / "persons.new.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * REPLACE (CASE WHEN person_id = ? THEN DATE '{born.isoformat()}' ELSE birth_date END "
            f"AS birth_date) FROM read_parquet('{path}')) TO '{changed}' (FORMAT parquet)", [person]
        )  # fmt: skip
    changed.replace(path)


def age_of(place: Place, subject: str) -> int | None:
    engine = open_database(place.database_url)
    try:
        with engine.connect() as db:
            return db.execute(select(profiles.c.age_over).where(profiles.c.subject == subject)).scalar()
    finally:
        engine.dispose()


def younger_than_60(place: Place) -> str:
    engine = open_database(place.database_url)
    try:
        with engine.connect() as db:
            found = db.execute(select(profiles.c.subject).where(profiles.c.age_over.is_(None))
                               .order_by(profiles.c.subject)).scalar()  # fmt: skip
    finally:
        engine.dispose()
    assert found is not None
    return str(found)


@pytest.mark.parametrize("results_held", [True, False], ids=["results-database-kept", "results-database-new"])
def test_a_run_withdraws_the_codes_of_exactly_those_whose_profile_took_something_back(
    place: Place, tmp_path: Path, results_held: bool
) -> None:
    registries = tmp_path / "registries"
    shutil.copytree(place.template.registries_dir, registries)
    results = tmp_path / "matching.duckdb"
    if results_held:  # the results database of the run the ledger holds: compared there
        shutil.copyfile(place.template.matching_db, results)
    dropped, objected, unchanged = place.template.seniors[:3]
    gained = younger_than_60(place)
    today = dt.date.today()
    set_birth_date(registries, dropped, today.replace(year=today.year - 30))  # the registry says 30 now
    set_birth_date(registries, gained, today.replace(year=today.year - 70))  # only gains: no withdrawal

    with open_api(place) as api:
        gate = api.device("gate", "sh-museum")
        earlier = {s: api.client.post("/v1/codes", headers=api.citizen(s)).json()["text"]
                   for s in (dropped, objected, unchanged)}  # fmt: skip
        engine = api.services.engine
        number = file_objection(engine, objected, MUSEUM_POLICY.id, "wrong", "I am not 65 yet")
        upheld = resolve(engine, number, "officer-7", {"birth_date": today.replace(year=today.year - 40)},
                         registries, MUSEUM_POLICY, today)  # fmt: skip
        assert not upheld.entitled
        time.sleep(1.01)  # the earlier codes are of an earlier second than the run's withdrawal

        report = match_registries(registries, CATALOGUE.policies, results, today, ledger=engine)
        assert report.withdrawn == 2
        with engine.connect() as db:
            asked = sorted((r.subject, r.cause) for r in db.execute(select(revocation_requests)))
        assert asked == sorted([(dropped, "entitlement_dropped"), (objected, "objection_upheld")])
        assert age_of(place, dropped) is None and (age_of(place, gained) or 0) >= 65  # the new profiles are in

        version = publish_requests(engine, PEPPER.encode(), time.time())
        assert version is not None
        api.services.catch_up_revocations()
        for subject, text in earlier.items():
            answer = api.client.post("/v1/verify", json={"code": text, "venue": "sh-museum"}, headers=gate).json()
            assert (answer["reason"] == "CREDENTIAL_REVOKED") == (subject != unchanged), (subject, answer)

        with engine.connect() as db:
            rows = db.execute(select(revocations).order_by(revocations.c.id)).all()
            trail = db.execute(select(audit).where(audit.c.action == "revocation added")).all()
            assert db.execute(select(revocation_requests)).all() == []  # published once, then gone
        keys = {bytes(r.key): r.cause for r in rows}
        for subject, cause in asked:
            mine = {e.key for e in subject_entries(PEPPER.encode(), subject, time.time())}
            assert day_pseudonym(PEPPER.encode(), subject, time.time()) in mine
            assert {keys.get(k) for k in mine} == {cause}
        assert len(rows) == len(keys) == len(trail) and {r.version for r in rows} == {version}
        for line in trail:
            assert line.subject == "" and line.actor == "matching run"
            assert not any(s in line.detail for s in (dropped, objected, unchanged, gained))

        again = match_registries(registries, CATALOGUE.policies, results, today, ledger=engine)
        assert again.withdrawn == 0  # the same registries again: nothing more is taken back
        assert publish_requests(engine, PEPPER.encode(), time.time()) is None


def test_a_run_withdrawal_names_each_older_printed_card_by_its_own_id(tmp_path: Path) -> None:
    """A card carries the pseudonym of the day it was printed, which a subject entry does not cover."""
    from sqlalchemy import insert

    from app.db.schema import cards
    from keys.revocation_list import credential_id

    engine = open_database(f"sqlite:///{tmp_path / 'services.sqlite'}")
    now = int(time.time())
    kid, cti = b"k" * 8, b"c" * 16
    with engine.begin() as db:
        db.execute(insert(cards), [
            {"number": 1, "subject": "P1", "kid": kid, "cti": cti, "issued_at": now - 30 * 86400,
             "expires_at": now + 300 * 86400, "status": "active", "initial": "王"},
            {"number": 2, "subject": "P2", "kid": kid, "cti": b"d" * 16, "issued_at": now - 30 * 86400,
             "expires_at": now + 300 * 86400, "status": "active", "initial": "李"},
        ])  # fmt: skip
        db.execute(
            insert(revocation_requests), [{"subject": "P1", "cause": "entitlement_dropped", "requested_at": now}]
        )
    assert publish_requests(engine, PEPPER.encode(), now) is not None
    with engine.connect() as db:
        status = dict(db.execute(select(cards.c.number, cards.c.status)).all())
        entries = {
            bytes(r.key): r.cause for r in db.execute(select(revocations).where(revocations.c.kind == "credential"))
        }
    assert status == {1: "withdrawn", 2: "active"}
    assert entries == {credential_id(kid, cti): "entitlement_dropped"}
    engine.dispose()
