"""The revocation list across processes: two `suishen serve` processes (one Redis, one database) hold the same
list within the stated time; versions stay unique when both add entries at once (SQLite, and PostgreSQL when
SUISHEN_TEST_POSTGRES_URL names a server); and a phone replaced through one process is refused by an offline
gate after it refreshes from the other."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.api.auth import TokenAuthority
from app.db.engine import open_database
from app.db.schema import revocations
from app.revocations import read_state, revoke_credential
from keys.storage import read_public_key
from scanner_client.chain import DecoderChain
from scanner_client.decoders import make_decoders
from scanner_client.documents import DocumentCache
from scanner_client.gate import Gate
from scanner_client.outbox import Outbox
from scanner_client.refresh import refresh
from scanner_client.replay_local import SqliteReplayGuard
from scanner_client.replay_shared import LayeredReplayGuard
from scanner_client.server import ServerClient
from tests.support.phones import Phone
from tests.support.servers import RedisServer, wait_until
from tests.support.services import ADMIN_KEY, ROOT, TOKEN_SECRET, Place, Served
from verifier.claims import decode_claims
from verifier.code import parse_code
from verifier.decide import Venue

MUSEUM = "sh-museum"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
POSTGRES_URL = os.environ.get("SUISHEN_TEST_POSTGRES_URL")
STATED_S = 2.0  # Services.catch_up_revocations: at once by the push, within 2 s (CHECK_EVERY_S) without it


def citizen(subject: str, at: float | None = None) -> dict[str, str]:
    token = TokenAuthority(TOKEN_SECRET.encode(), 3600).issue(subject, time.time() if at is None else at)[0]
    return {"Authorization": f"Bearer {token}"}


def verify(server: Served, code: str, gate: dict[str, str]) -> dict[str, Any]:
    answer = server.client.post("/v1/verify", json={"code": code, "venue": MUSEUM}, headers=gate)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def kid_cti(code: str) -> tuple[bytes, bytes]:
    cred = parse_code(code).credential
    assert cred.kid is not None
    return cred.kid, decode_claims(cred.payload).cti


def held_version(server: Served) -> int:
    return int(server.client.get("/v1/admin/revocations", headers=ADMIN).json()["version"])


def two_servers(place: Place, redis_server: RedisServer, serve: Callable[..., list[Served]]) -> list[Served]:
    with redis_server.client() as client:
        client.flushall()
    place.redis_url = redis_server.url
    return serve(place, count=2)


def test_an_entry_added_through_one_process_reaches_the_other_at_once_and_one_added_in_the_database_within_2_s(
    place: Place, redis_server: RedisServer, serve: Callable[..., list[Served]]
) -> None:
    one, two = two_servers(place, redis_server, serve)
    made = one.client.post("/v1/admin/devices", json={"name": "g", "role": "gate", "venue": MUSEUM}, headers=ADMIN)
    gate = {"Authorization": f"Bearer {made.json()['api_key']}"}
    seniors = iter(place.template.seniors)

    code = two.client.post("/v1/codes", headers=citizen(next(seniors))).json()["text"]
    kid, cti = kid_cti(code)
    body = {"kind": "credential", "kid": kid.hex(), "cti": cti.hex(), "until": int(time.time()) + 300}
    added = one.client.post("/v1/admin/revocations", json=body, headers=ADMIN).json()["version"]
    started = time.monotonic()
    wait_until(lambda: held_version(two) >= added, "the push to reach the other process", STATED_S + 1)
    assert time.monotonic() - started < STATED_S
    assert verify(two, code, gate)["reason"] == "CREDENTIAL_REVOKED"

    # Straight in the database, as `suishen revoke` does: no push; each process looks every 2 s.
    code = one.client.post("/v1/codes", headers=citizen(next(seniors))).json()["text"]
    engine = open_database(place.database_url)
    try:
        version = revoke_credential(engine, *kid_cti(code), int(time.time()) + 300, "admin", int(time.time()))
    finally:
        engine.dispose()
    started = time.monotonic()
    wait_until(lambda: min(held_version(s) for s in (one, two)) >= version, "both processes to look", STATED_S + 2)
    assert time.monotonic() - started < STATED_S + 0.5  # the 2 s period, plus the database and HTTP round trips
    assert [verify(s, code, gate)["reason"] for s in (one, two)] == ["CREDENTIAL_REVOKED"] * 2
    etags = {s.client.get("/v1/revocations").headers["ETag"] for s in (one, two)}
    assert len(etags) == 1  # the same list state in both: one ETag


def test_two_processes_adding_entries_at_once_get_unique_increasing_versions(
    place: Place, redis_server: RedisServer, serve: Callable[..., list[Served]]
) -> None:
    one, two = two_servers(place, redis_server, serve)
    start = held_version(one)

    def add(i: int) -> int:
        server = (one, two)[i % 2]
        body = {"kind": "credential", "kid": f"{i:016x}", "cti": f"{i:032x}", "until": int(time.time()) + 300}
        answer = server.client.post("/v1/admin/revocations", json=body, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["version"])

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(add, range(40)))
    assert sorted(versions) == list(range(start + 1, start + 41))  # unique, no gaps
    wait_until(lambda: {held_version(s) for s in (one, two)} == {start + 40}, "both to hold the last", 5)
    whole = two.client.get("/v1/revocations").json()["payload"]
    assert len(whole["credentials"]) == 40


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not POSTGRES_URL, reason="SUISHEN_TEST_POSTGRES_URL is not set"))])  # fmt: skip
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'services.sqlite'}"
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


ADDER = """
import sys, time
from app.db.engine import open_database
from app.revocations import revoke_credential
engine = open_database(sys.argv[1])
me = int(sys.argv[2])
for i in range(25):
    print(revoke_credential(engine, me.to_bytes(8, "big"), i.to_bytes(16, "big"), int(time.time()) + 60, "admin",
                            int(time.time())))
"""


def test_processes_adding_at_once_on_each_database_get_unique_versions(empty_database: str) -> None:
    open_database(empty_database).dispose()  # migrated once here, so that the four start on the same schema
    runs = [subprocess.Popen([sys.executable, "-c", ADDER, empty_database, str(n)], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for n in range(4)]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in runs]
    assert [p.returncode for p in runs] == [0] * 4, [err[-500:] for _, err in outputs]
    versions = [int(v) for out, _ in outputs for v in out.split()]
    assert sorted(versions) == list(range(1, 101))
    for out, _ in outputs:  # each process saw its own versions increase
        mine = [int(v) for v in out.split()]
        assert mine == sorted(mine)
    engine = open_database(empty_database)
    try:
        assert read_state(engine).version == 100
        with engine.connect() as db:
            counted = db.execute(sa.select(revocations.c.version, sa.func.count()).group_by(revocations.c.version))
            assert {v: n for v, n in counted} == {v: 1 for v in range(1, 101)}
    finally:
        engine.dispose()


def test_a_second_phone_through_one_process_is_refused_by_an_offline_gate_after_refreshing_from_the_other(
    place: Place, redis_server: RedisServer, serve: Callable[..., list[Served]], tmp_path: Path
) -> None:
    one, two = two_servers(place, redis_server, serve)
    made = one.client.post("/v1/admin/devices", json={"name": "g", "role": "gate", "venue": MUSEUM}, headers=ADMIN)
    key = made.json()["api_key"]
    senior = place.template.seniors[1]
    old, new = Phone(), Phone()
    old.take(two.client.post("/v1/credentials", json=old.request(), headers=citizen(senior)).json())

    gate_state = tmp_path / "gate"
    documents = DocumentCache(gate_state / "documents", read_public_key(place.template.keys_dir / "root.pub.pem"))  # type: ignore[arg-type]
    client = ServerClient(two.url, key)
    assert refresh(documents, client).changed
    gate = Gate(Venue(MUSEUM, "museum"), DecoderChain(make_decoders("zxing")), documents,
                LayeredReplayGuard(SqliteReplayGuard(gate_state / "replay.sqlite"), None),
                Outbox(gate_state / "outbox.sqlite"))  # fmt: skip
    try:
        assert gate.problems == []
        stale = one.client.post("/v1/credentials", json=new.request(), headers=citizen(senior, time.time() - 900))
        assert stale.status_code == 401 and stale.json()["error"] == "fresh_sign_in_required"
        moved = one.client.post("/v1/credentials", json=new.request(), headers=citizen(senior))
        assert moved.status_code == 200, moved.text
        new.take(moved.json())

        wait_until(lambda: held_version(two) >= held_version(one), "the replacement to reach the other", 3)
        gate_key = {"Authorization": f"Bearer {key}"}
        assert verify(two, old.code(), gate_key)["reason"] == "CREDENTIAL_REVOKED"
        got = refresh(documents, client)
        assert got.changed and any(m.startswith("revocation list version") for m in got.messages), got.messages
        gate.reload()
        at = time.time() + 1
        refused = gate.on_code(old.code(at), at)
        assert refused is not None and (refused.result, refused.reason) == ("REJECTED", "CREDENTIAL_REVOKED")
        granted = gate.on_code(new.code(at), at)
        assert granted is not None and granted.result == "GRANTED", granted
        moved_status = two.client.get("/v1/me/phone", params={"x": old.x, "y": old.y}, headers=citizen(senior))
        assert moved_status.json() == {"status": "replaced"}
    finally:
        client.close()
        gate.outbox.close()
