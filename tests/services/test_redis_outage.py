"""Redis stopped mid-test: issuance and verification go on in-process, /readyz says degraded, nothing is lost.

Two apps share one Redis and one database, as two server processes would; `own_redis` is a real
redis-server that the test stops and starts again (empty: no persistence).
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.servers import RedisServer, wait_until
from tests.support.services import Api, Place, open_api

MUSEUM = "sh-museum"


def verify(api: Api, code: str, gate: dict[str, str]) -> str:
    answer = api.client.post("/v1/verify", json={"code": code, "venue": MUSEUM}, headers=gate)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return str(body["reason"] or body["decision"]["result"])


def issue(api: Api, subject: str) -> str:
    answer = api.client.post("/v1/codes", headers=api.citizen(subject))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["text"])


def events(n: int) -> list[dict[str, Any]]:
    return [
        {"id": uuid.uuid4().hex, "venue": MUSEUM, "at": 1_790_000_000.0 + i, "result": "GRANTED",
         "policy_id": "sh-museum-senior-free", "degraded": True}
        for i in range(n)
    ]  # fmt: skip


def test_issuance_and_verification_survive_redis_going_away(place: Place, own_redis: RedisServer) -> None:
    place.redis_url = own_redis.url
    senior = place.template.seniors[0]
    with open_api(place) as api, open_api(place) as peer:
        gate = api.device("gate", MUSEUM)
        assert api.client.get("/readyz").json()["status"] == "ok"
        before = issue(api, senior)
        assert verify(api, before, gate) == "GRANTED"
        assert verify(peer, before, gate) == "REPLAYED"  # shared through Redis

        own_redis.stop()
        ready = api.client.get("/readyz").json()
        assert ready["status"] == "degraded" and ready["checks"]["redis"].startswith("unreachable")
        assert "\nsuishen_redis_up 0.0\n" in api.client.get("/metrics").text  # what the Redis alert reads
        during = issue(api, senior)
        assert verify(api, during, gate) == "GRANTED"
        assert verify(api, during, gate) == "REPLAYED"  # the in-process fallback remembers
        assert verify(api, before, gate) == "REPLAYED"  # and still knows what it accepted before the outage
        stored = api.client.post("/v1/events", json={"events": events(20)}, headers=gate)
        assert stored.json() == {"stored": 20, "duplicates": 0}
        assert peer.client.get("/readyz").json()["status"] == "degraded"

        own_redis.start()  # an empty Redis on the same port
        for app in (api, peer):
            wait_until(lambda app=app: app.client.get("/readyz").json()["status"] == "ok", "readyz ok again")
        assert "\nsuishen_redis_up 1.0\n" in api.client.get("/metrics").text
        assert verify(peer, during, gate) == "REPLAYED"  # what was accepted on the fallback was shared on return
        assert verify(api, during, gate) == "REPLAYED"  # and an empty Redis does not make it new again
        with own_redis.client() as client:
            assert client.delete(*client.keys("sp:rp:*")) >= 1  # Redis loses everything once more ...
        assert verify(api, during, gate) == "REPLAYED"  # ... and this process still refuses what it accepted
        after = issue(peer, senior)
        assert verify(peer, after, gate) == "GRANTED"
        assert verify(api, after, gate) == "REPLAYED"  # shared through Redis again
        stats = api.client.get("/v1/admin/stats?by=venue", headers=api.admin).json()["rows"]
        assert [r["total"] for r in stats if r["venue"] == MUSEUM] == [20]
        assert verify(api, issue(api, senior), gate) == "GRANTED"


def test_rate_limits_fall_back_to_the_process_and_return_to_redis(place: Place, own_redis: RedisServer) -> None:
    place.redis_url = own_redis.url
    seniors = iter(place.template.seniors)
    with open_api(place, codes_per_minute=2) as api:
        own_redis.stop()
        citizen = api.citizen(next(seniors))
        statuses = [api.client.post("/v1/codes", headers=citizen).status_code for _ in range(3)]
        assert statuses[:2] == [200, 200] and statuses[2] in (200, 429)  # 200 only if the minute turned over
        own_redis.start()
        wait_until(lambda: api.client.get("/readyz").json()["status"] == "ok", "readyz ok after Redis returned")
        with own_redis.client() as client:
            keys_before = len(client.keys("sp:rl:*"))
        assert api.client.post("/v1/codes", headers=api.citizen(next(seniors))).status_code == 200
        with own_redis.client() as client:
            assert len(client.keys("sp:rl:*")) > keys_before  # counting in Redis again


def test_a_verify_answered_without_the_shared_replay_cache_says_it_is_degraded(
    place: Place, own_redis: RedisServer
) -> None:
    place.redis_url = own_redis.url
    senior = place.template.seniors[0]
    with open_api(place) as api:
        gate = api.device("gate", MUSEUM)

        def answer(code: str) -> dict[str, Any]:
            reply = api.client.post("/v1/verify", json={"code": code, "venue": MUSEUM}, headers=gate)
            assert reply.status_code == 200, reply.text
            return dict(reply.json())

        code = issue(api, senior)
        assert answer(code)["degraded"] is False  # Redis asked: the fleet's answer
        own_redis.stop()
        during = issue(api, senior)
        first, again = answer(during), answer(during)
        assert (first["result"], first["degraded"]) == ("VALID", True)  # another process could accept it too
        assert (again["reason"], again["degraded"]) == ("REPLAYED", True)
        assert answer("SP1:not-a-code")["degraded"] is False  # refused before any replay check
        own_redis.start()
        wait_until(lambda: api.client.get("/readyz").json()["status"] == "ok", "readyz ok again")
        after = answer(issue(api, senior))
        assert (after["result"], after["degraded"]) == ("VALID", False)
