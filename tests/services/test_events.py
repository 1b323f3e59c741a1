"""Gate events: stored once each, and nothing lost when a server process is killed while batches arrive."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
from sqlalchemy import select

from app.db.engine import open_database
from app.db.schema import events as events_table
from tests.support.services import ADMIN_KEY, Api, Place, Served, batch_of

MUSEUM = "sh-museum"


def stored_ids(database_url: str) -> set[str]:
    engine = open_database(database_url)
    try:
        with engine.connect() as db:
            return {r.id for r in db.execute(select(events_table.c.id))}
    finally:
        engine.dispose()


def test_the_same_batch_posted_twice_is_stored_once(api: Api) -> None:
    gate = api.device("gate", MUSEUM)
    batch = batch_of(50)
    first = api.client.post("/v1/events", json={"events": batch}, headers=gate)
    assert first.status_code == 200 and first.json() == {"stored": 50, "duplicates": 0}
    again = api.client.post("/v1/events", json={"events": batch}, headers=gate)
    assert again.json() == {"stored": 0, "duplicates": 50}
    overlapping = batch[40:] + batch_of(5, at=1_790_100_000.0)
    assert api.client.post("/v1/events", json={"events": overlapping}, headers=gate).json() == {
        "stored": 5, "duplicates": 10}  # fmt: skip
    repeated_inside = batch_of(3)
    doubled = repeated_inside + repeated_inside
    assert api.client.post("/v1/events", json={"events": doubled}, headers=gate).json() == {
        "stored": 3, "duplicates": 3}  # fmt: skip
    assert len(stored_ids(api.place.database_url)) == 58
    totals = api.client.get("/v1/admin/stats?by=venue", headers=api.admin).json()["rows"]
    assert [r["total"] for r in totals] == [58]


def test_event_batches_are_bounded_and_validated(api: Api) -> None:
    gate = api.device("gate", MUSEUM)
    too_many = api.client.post("/v1/events", json={"events": batch_of(1001)}, headers=gate)
    assert too_many.status_code == 422 and too_many.json()["error"] == "invalid_request"
    bad = batch_of(2)
    bad[1]["id"] = "not-hex"
    assert api.client.post("/v1/events", json={"events": bad}, headers=gate).status_code == 422
    assert stored_ids(api.place.database_url) == set()  # a refused batch stores nothing, not even its good half


def test_a_killed_server_loses_nothing_once_the_gate_posts_again(place: Place, serve: Callable[..., Served]) -> None:
    """SIGKILL while batches arrive: each batch is stored whole or not at all, and re-posting completes the set."""
    batches = [batch_of(400, at=1_790_000_000.0 + 1000 * b) for b in range(40)]
    server = serve(place)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    key = server.client.post("/v1/admin/devices", json={"name": "g", "role": "gate", "venue": MUSEUM}, headers=admin)
    gate = {"Authorization": f"Bearer {key.json()['api_key']}"}
    acknowledged: list[int] = []
    three_done = threading.Event()

    def post_all() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for index, batch in enumerate(batches):
                try:
                    answer = client.post("/v1/events", json={"events": batch}, headers=gate)
                except httpx.HTTPError:
                    return  # the server is gone: the gate keeps its outbox and retries later
                if answer.status_code == 200:
                    acknowledged.append(index)
                if len(acknowledged) >= 3:
                    three_done.set()
        three_done.set()

    poster = threading.Thread(target=post_all)
    poster.start()
    assert three_done.wait(60)
    server.kill()
    poster.join(30)
    assert not poster.is_alive()

    survived = stored_ids(place.database_url)
    for index, batch in enumerate(batches):
        ids = {e["id"] for e in batch}
        kept = len(ids & survived)
        assert kept in (0, len(ids)), f"batch {index} is half stored: {kept} of {len(ids)}"
        if index in acknowledged:
            assert kept == len(ids), f"batch {index} was acknowledged but is not stored"
    assert len(acknowledged) >= 3 and len(survived) < 400 * len(batches)  # the kill landed before the end

    restarted = serve(place)
    stored = duplicates = 0
    for batch in batches:  # the gate's outbox: everything not known to be acknowledged, here simply everything
        answer = restarted.client.post("/v1/events", json={"events": batch}, headers=gate).json()
        stored, duplicates = stored + answer["stored"], duplicates + answer["duplicates"]
    assert stored + duplicates == 400 * len(batches)
    assert duplicates == len(survived)
    assert stored_ids(place.database_url) == {e["id"] for b in batches for e in b}
