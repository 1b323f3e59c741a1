"""Storage on SQLite always, and on PostgreSQL when SUISHEN_TEST_POSTGRES_URL names a server (.ci/run starts one).

The migrations must build exactly the schema the models describe, on both, from an empty
database, from one the matching CLI made itself, and from the first baseline; the stores
(events, catalogue snapshots and drafts, device keys) and the whole API must behave the same.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from app import catalogue_admin
from app.api.auth import DeviceKeys
from app.db.engine import open_database
from app.db.migrations import alembic_config, models, upgrade
from app.events_store import store_events, usage_stats
from keys import directory
from keys.storage import read_private_key
from tests.support.services import PASSPHRASE, ROOT, Place, Template, batch_of, open_api, passphrase_env, policy_from_60

POSTGRES_ENV = "SUISHEN_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_ENV)


ON_POSTGRESQL = pytest.param(
    "postgresql", marks=pytest.mark.skipif(not POSTGRES_URL, reason=f"{POSTGRES_ENV} is not set")
)


@pytest.fixture(params=["sqlite", ON_POSTGRESQL])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'storage.sqlite'}"
        return
    assert POSTGRES_URL is not None
    name = f"suishen_test_{uuid.uuid4().hex[:12]}"
    server = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as db:
        db.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as db:
            db.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    made = open_database(database_url, migrate=False)  # each test migrates as it needs
    yield made
    made.dispose()


def schema_differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as db:
        return list(compare_metadata(MigrationContext.configure(db), models()))


def revision(engine: sa.Engine) -> str | None:
    with engine.connect() as db:
        return MigrationContext.configure(db).get_current_revision()


def test_migrations_build_the_models_schema_on_an_empty_database(engine: sa.Engine) -> None:
    upgrade(engine)
    assert schema_differences(engine) == []
    head = revision(engine)
    assert head is not None
    upgrade(engine)  # every server start runs it: a second time changes nothing
    assert revision(engine) == head and schema_differences(engine) == []


def test_servers_starting_together_migrate_one_at_a_time(database_url: str, engine: sa.Engine) -> None:
    """Four processes upgrade the same empty database at once: all succeed and the schema is at head."""
    script = (
        "import sys; from app.db.engine import open_database; open_database(sys.argv[1])"
    )
    runs = [subprocess.Popen([sys.executable, "-c", script, database_url], cwd=ROOT, stderr=subprocess.PIPE)
            for _ in range(4)]  # fmt: skip
    failures = [p.communicate(timeout=120)[1].decode()[-500:] for p in runs if p.wait(timeout=120) != 0]
    assert failures == []
    assert schema_differences(engine) == []


def test_migrations_adopt_a_database_the_matching_cli_made(engine: sa.Engine) -> None:
    models().create_all(engine)  # what `suishen match run --ledger` did before it migrated
    upgrade(engine)
    assert schema_differences(engine) == []


def test_migrations_from_the_first_baseline_keep_the_notices(engine: sa.Engine) -> None:
    with engine.begin() as db:
        config = alembic_config(engine)
        config.attributes["connection"] = db
        command.upgrade(config, "0001")
    assert revision(engine) == "0001"
    with engine.begin() as db:
        db.execute(sa.text(
            "INSERT INTO notifications (subject, policy_id, matching_run, channel, queued_at) "
            "VALUES ('P1', 'sh-museum-senior-free', 1, 'inbox', :at)"
        ), {"at": dt.datetime(2026, 1, 1)})  # fmt: skip
    upgrade(engine)
    assert schema_differences(engine) == []
    from app.matching.notifications import notifications_of

    kept = notifications_of(engine, "P1")
    assert [(n.policy_id, n.policy_version, n.read) for n in kept] == [("sh-museum-senior-free", 1, False)]


def test_events_are_stored_once_and_counted(engine: sa.Engine) -> None:
    upgrade(engine)
    now = dt.datetime(2026, 11, 26, 12, 0)
    batch = batch_of(120)
    assert store_events(engine, "gate-1", batch, now) == 120
    assert store_events(engine, "gate-1", batch, now) == 0
    assert store_events(engine, "gate-2", batch[100:] + batch_of(7, at=1_790_500_000.0), now) == 7
    rows = usage_stats(engine, "venue")
    assert [(r["venue"], r["total"]) for r in rows] == [("sh-museum", 127)]
    by_policy = {r["policy"]: r["total"] for r in usage_stats(engine, "policy")}
    assert sum(by_policy.values()) == 127 and by_policy["(none)"] == 43


def test_catalogue_drafts_and_snapshots(engine: sa.Engine, template: Template) -> None:
    upgrade(engine)
    root_key = read_private_key(template.keys_dir / directory.ROOT_KEY_FILE, PASSPHRASE.encode())
    base = catalogue_admin.base_catalogue(ROOT / "data" / "catalogue")
    first, _ = catalogue_admin.publish(engine, base, root_key, "test", int(time.time()), 86400)
    assert first == 1 and catalogue_admin.latest_version(engine) == 1
    saved = catalogue_admin.save_draft(engine, json.dumps(policy_from_60()), "sh-museum-senior-free", "test",
                                       dt.datetime(2026, 11, 26))  # fmt: skip
    assert saved.errors == []
    assert [d["policy_id"] for d in catalogue_admin.list_drafts(engine)] == ["sh-museum-senior-free"]
    second, document = catalogue_admin.publish(engine, base, root_key, "test", int(time.time()), 86400)
    assert second == 2 and catalogue_admin.list_drafts(engine) == []
    held = catalogue_admin.latest_snapshot(engine)
    assert held is not None and held[0] == 2 and held[1] == document  # bytes kept exactly (signed)
    policies = {p["id"]: p for p in json.loads(document)["payload"]["policies"]}
    assert len(policies["sh-museum-senior-free"]["versions"]) == 2
    with engine.begin() as db, pytest.raises(IntegrityError):  # two publishers cannot both make version 2
        db.execute(catalogue_admin.snapshots.insert().values(
            version=2, document=b"{}", published_at=dt.datetime(2026, 11, 26), published_by="racer"))  # fmt: skip


def test_device_keys_are_found_by_hash(engine: sa.Engine) -> None:
    upgrade(engine)
    keys = DeviceKeys(engine, "sk_bootstrap")
    device_id, api_key = keys.register("gate", "gate", "sh-museum", dt.datetime(2026, 11, 26))
    fresh = DeviceKeys(engine, None)  # another process: nothing cached
    found = fresh.authenticate(api_key, time.time())
    assert found is not None and (found.role, found.id, found.venue) == ("gate", device_id, "sh-museum")
    assert fresh.authenticate(api_key[:-1] + ("A" if api_key[-1] != "A" else "B"), time.time()) is None
    assert fresh.authenticate("sk_bootstrap", time.time()) is None and keys.authenticate("sk_bootstrap", 0) is not None
    with pytest.raises(ValueError):
        keys.register("x", "citizen", None, dt.datetime(2026, 11, 26))


def test_the_whole_api_on_this_database(database_url: str, template: Template, tmp_path: Path) -> None:
    """The matching CLI fills the database, the server migrates it and serves codes, verifies, events."""
    subprocess.run(
        [sys.executable, "-m", "app.cli", "match", "run", "--registries", str(template.registries_dir),
         "--db", str(tmp_path / "matching.duckdb"), "--ledger", database_url],
        check=True, cwd=ROOT, env=passphrase_env(), stdout=subprocess.DEVNULL,
    )  # fmt: skip
    data_dir = tmp_path / "serve"
    data_dir.mkdir()
    place = Place(template, data_dir, database_url)
    with open_api(place, matching_db=tmp_path / "matching.duckdb") as api:
        assert api.client.get("/readyz").json()["checks"]["database"] == "ok"
        gate = api.device("gate", "sh-museum")
        code = api.client.post("/v1/codes", headers=api.citizen(template.seniors[0])).json()["text"]
        first = api.client.post("/v1/verify", json={"code": code, "venue": "sh-museum"}, headers=gate).json()
        assert first["decision"]["result"] == "GRANTED"
        batch = batch_of(40)
        assert api.client.post("/v1/events", json={"events": batch}, headers=gate).json()["stored"] == 40
        assert api.client.post("/v1/events", json={"events": batch}, headers=gate).json()["duplicates"] == 40
        inbox = api.client.get("/v1/me/notifications", headers=api.citizen(template.seniors[0])).json()
        assert inbox["notifications"]
        assert api.client.post("/v1/admin/catalogue/publish", headers=api.admin).json()["version"] == 2
        assert [r["version"] for r in api.client.get("/v1/admin/runs", headers=api.admin).json()["runs"]] == [1]
    engine = open_database(database_url, migrate=False)
    try:
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_the_latest_migration_goes_down_and_up_again(engine: sa.Engine) -> None:
    upgrade(engine)
    with engine.begin() as db:
        config = alembic_config(engine)
        config.attributes["connection"] = db
        command.downgrade(config, "0001")
    assert revision(engine) == "0001"
    assert not sa.inspect(engine).has_table("run_diffs")
    upgrade(engine)
    assert schema_differences(engine) == []


@pytest.mark.parametrize("database_url", [ON_POSTGRESQL], indirect=True)  # a SQLite file cannot be taken away
def test_verification_goes_on_when_the_database_goes_away(
    database_url: str, template: Template, tmp_path: Path
) -> None:
    """Verifying needs only the trust list and catalogue in memory; what needs the database answers 503."""
    assert POSTGRES_URL is not None
    subprocess.run(
        [sys.executable, "-m", "app.cli", "match", "run", "--registries", str(template.registries_dir),
         "--db", str(tmp_path / "matching.duckdb"), "--ledger", database_url],
        check=True, cwd=ROOT, env=passphrase_env(), stdout=subprocess.DEVNULL,
    )  # fmt: skip
    data_dir = tmp_path / "serve"
    data_dir.mkdir()
    with open_api(Place(template, data_dir, database_url), matching_db=tmp_path / "matching.duckdb") as api:
        gate = api.device("gate", "sh-museum")
        codes = [api.client.post("/v1/codes", headers=api.citizen(template.seniors[i])).json()["text"] for i in (0, 1)]
        verify = {"code": codes[0], "venue": "sh-museum"}
        assert api.client.post("/v1/verify", json=verify, headers=gate).json()["decision"]["result"] == "GRANTED"

        server = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with server.connect() as db:
            db.execute(sa.text(f'DROP DATABASE "{sa.engine.make_url(database_url).database}" WITH (FORCE)'))
        server.dispose()

        ready = api.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        api.services._checked_at = 0.0  # the next verify looks for a newer catalogue, and cannot
        answer = api.client.post("/v1/verify", json={"code": codes[1], "venue": "sh-museum"}, headers=gate)
        assert answer.status_code == 200 and answer.json()["decision"]["result"] == "GRANTED"
        assert api.client.post("/v1/verify", json=verify, headers=gate).json()["reason"] == "REPLAYED"
        events = api.client.post("/v1/events", json={"events": batch_of(3)}, headers=gate)
        assert events.status_code == 503 and events.json()["error"] == "database_unavailable"
        assert events.headers["Retry-After"] == "5"
        unseen = api.client.post("/v1/verify", json=verify, headers={"Authorization": "Bearer sk_" + "u" * 43})
        assert unseen.status_code == 503
