"""Two `suishen serve` processes sharing one Redis and one database behave as one service."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from app.api.auth import TokenAuthority
from tests.support.servers import RedisServer, wait_until
from tests.support.services import ADMIN_KEY, TOKEN_SECRET, Place, Served, batch_of, one_window, policy_from_60

MUSEUM = "sh-museum"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def citizen(subject: str) -> dict[str, str]:
    """A token as single sign-on would issue it: signed with the secret every process shares."""
    return {"Authorization": f"Bearer {TokenAuthority(TOKEN_SECRET.encode(), 3600).issue(subject, time.time())[0]}"}


def verify(server: Served, code: str, gate: dict[str, str]) -> dict[str, Any]:
    answer = server.client.post("/v1/verify", json={"code": code, "venue": MUSEUM}, headers=gate)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_two_processes_are_one_service(
    place: Place, redis_server: RedisServer, serve: Callable[..., list[Served]]
) -> None:
    with redis_server.client() as client:
        client.flushall()
    place.redis_url = redis_server.url
    one, two = serve(place, count=2, SUISHEN_CODES_PER_MINUTE="4")
    assert one.client.get("/readyz").json()["checks"]["redis"] == "ok"

    made = one.client.post("/v1/admin/devices", json={"name": "g", "role": "gate", "venue": MUSEUM}, headers=ADMIN)
    gate = {"Authorization": f"Bearer {made.json()['api_key']}"}  # registered through one, used through both
    seniors = iter(place.template.seniors)

    # a code accepted through one is REPLAYED through the other, both ways
    code = one.client.post("/v1/codes", headers=citizen(next(seniors))).json()["text"]
    assert verify(one, code, gate)["decision"]["result"] == "GRANTED"
    assert verify(two, code, gate)["reason"] == "REPLAYED"
    code = two.client.post("/v1/codes", headers=citizen(next(seniors))).json()["text"]
    assert verify(two, code, gate)["decision"]["result"] == "GRANTED"
    assert verify(one, code, gate)["reason"] == "REPLAYED"

    # rate limits hold across both: 4 codes a minute per account, asked of the two in turn
    def attempt() -> list[int]:
        headers = citizen(next(seniors))
        return [server.client.post("/v1/codes", headers=headers).status_code for server in (one, two) * 3]

    statuses = one_window(attempt)
    assert statuses == [200, 200, 200, 200, 429, 429]

    # events posted to one are duplicates at the other
    batch = batch_of(30)
    assert one.client.post("/v1/events", json={"events": batch}, headers=gate).json()["stored"] == 30
    assert two.client.post("/v1/events", json={"events": batch}, headers=gate).json() == {"stored": 0, "duplicates": 30}

    # a catalogue published through one is used by the other
    version = verify(two, one.client.post("/v1/codes", headers=citizen(next(seniors))).json()["text"], gate)[
        "catalogue_version"]  # fmt: skip
    saved = one.client.put("/v1/admin/policies/sh-museum-senior-free", json=policy_from_60(), headers=ADMIN)
    assert saved.json()["valid"] is True
    published = one.client.post("/v1/admin/catalogue/publish", headers=ADMIN).json()["version"]
    assert published == version + 1
    wait_until(lambda: two.client.get("/readyz").json()["catalogue_version"] == published, "the push to reach two")
    fresh = two.client.post("/v1/codes", headers=citizen(next(seniors))).json()["text"]
    assert verify(two, fresh, gate)["catalogue_version"] == published
    etags = {s.client.get("/v1/catalogue/snapshot").headers["ETag"] for s in (one, two)}
    assert len(etags) == 1
