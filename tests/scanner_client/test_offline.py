"""Offline decisions: dedup, the SQLite replay cache across restarts, signed documents, "manual check";
and refreshing those documents from the real server (ETag and 304, a refused download, the server away)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from keys import directory
from keys.algorithms import ES256, generate_private_key
from keys.signed_json import sign_document
from keys.storage import read_private_key, read_public_key
from keys.trust_list import payload_from_rings, sign_trust_list
from scanner_client.dedup import Deduper
from scanner_client.documents import CATALOGUE, REVOCATIONS, TRUST_LIST, DocumentCache, DocumentError
from scanner_client.refresh import refresh
from scanner_client.server import ServerClient
from tests.support.gates import MUSEUM, PARK, PASSPHRASE, Kit, RealServer
from tests.support.scenes import make_frame
from tests.support.servers import free_port
from tests.support.world import NOW, elderly
from verifier.decide import Venue


def test_granted_with_privilege_and_companions(kit: Kit) -> None:
    decision = kit.gate().on_code(kit.world.online(), kit.clock())
    assert decision is not None and decision.result == "GRANTED" and not decision.degraded
    assert decision.policy_id == "sh-park-senior-free"
    assert decision.privileges[0]["companions"] == 1
    assert "free entry" in decision.words


def test_not_eligible_and_no_policy_are_rejections_with_reasons(kit: Kit) -> None:
    young = kit.gate().on_code(kit.world.online(elderly(age_over=None)), kit.clock())
    assert young is not None and (young.result, young.reason) == ("REJECTED", "NOT_ELIGIBLE")
    museum = kit.gate(kit.folder / "museum", venue=MUSEUM).on_code(kit.world.online(), kit.clock())
    assert museum is not None and (museum.result, museum.reason) == ("REJECTED", "NO_POLICY_FOR_VENUE")


def test_consecutive_frames_give_one_decision_and_a_return_is_a_repeat(kit: Kit) -> None:
    gate = kit.gate()
    code = kit.world.online()
    rng = random.Random(11)
    frames = [make_frame(code, 640, 480, rng, "plain") for _ in range(4)]
    decisions = []
    for frame in frames:  # held up for four frames
        decisions += gate.process(frame).decisions
        kit.clock.advance(0.05)
    assert [d.result for d in decisions] == ["GRANTED"]
    kit.clock.advance(5)  # taken away, then shown again within its 60 s life
    again = gate.process(frames[0]).decisions
    assert len(again) == 1 and again[0].repeat and again[0].result == "GRANTED"
    assert again[0].id != decisions[0].id and not decisions[0].repeat
    events = gate.outbox.pending(10)
    assert [e["repeat"] for e in events] == [False, True]
    kit.clock.advance(120)  # past its life: a new decision (the code has expired by now)
    late = gate.process(frames[0]).decisions
    assert [(d.result, d.reason, d.repeat) for d in late] == [("REJECTED", "EXPIRED", False)]


def test_dedup_keeps_a_sighting_through_short_gaps() -> None:
    dedup: Deduper[str] = Deduper(gap_s=1.0, gap_frames=5)
    assert dedup.look("A", 0, frame=1).decision is None
    dedup.remember("A", "granted", expires_at=60, now=0, frame=1)
    assert dedup.look("A", 0.5, frame=4).same_view
    assert dedup.look("A", 1.2, frame=9).same_view  # 0.7 s and 5 frames after the last sighting
    back = dedup.look("A", 10, frame=10)
    assert back.repeat and back.decision == "granted"
    assert dedup.look("A", 10.1, frame=11).same_view
    fast_replay = dedup.look("A", 10.2, frame=30)  # a recording read faster than real time: 19 frames away
    assert fast_replay.repeat
    assert dedup.look("A", 61, frame=31).decision is None


def test_replay_cache_survives_a_restart(kit: Kit) -> None:
    code = kit.world.online()
    first = kit.gate().on_code(code, kit.clock())
    assert first is not None and first.result == "GRANTED"
    restarted = kit.gate()  # same state folder, new process state: no dedup memory
    again = restarted.on_code(code, kit.clock() + 1)
    assert again is not None and (again.result, again.reason) == ("REJECTED", "REPLAYED")


def test_holder_bound_codes_are_read_and_decided_offline(kit: Kit) -> None:
    text, _credential, _device = kit.world.holder()
    frame = make_frame(text, 640, 480, random.Random(13), "perspective")  # the larger QR (version ~13)
    decisions = kit.gate().process(frame).decisions
    assert [(d.result, d.kind) for d in decisions] == [("GRANTED", "holder_bound")]


def test_stale_trust_list_means_manual_check_never_grant(kit: Kit) -> None:
    gate = kit.gate()
    gate.documents.install(TRUST_LIST, kit.trust_document(version=2, issued_at=NOW - 3600, max_age=3600))
    gate.reload()
    decision = gate.on_code(kit.world.online(), kit.clock())
    assert decision is not None and (decision.result, decision.reason) == ("MANUAL_CHECK", "TRUST_LIST_STALE")
    assert decision.event()["result"] == "MANUAL_CHECK"


def test_stale_catalogue_means_manual_check_never_grant(kit: Kit) -> None:
    gate = kit.gate()
    gate.documents.install(CATALOGUE, kit.catalogue_document(version=2, issued_at=NOW - 7200, max_age=3600))
    gate.reload()
    decision = gate.on_code(kit.world.online(), kit.clock())
    assert decision is not None and (decision.result, decision.reason) == ("MANUAL_CHECK", "CATALOGUE_STALE")


def test_a_gate_without_documents_asks_for_a_manual_check_until_they_arrive(kit: Kit) -> None:
    gate = kit.gate(install=False)
    assert any("no trust list" in p for p in gate.problems)
    frame = make_frame(kit.world.online(), 640, 480, random.Random(12), "plain")
    decisions = [d for _ in range(3) for d in gate.process(frame).decisions]
    assert [d.result for d in decisions] == ["MANUAL_CHECK"]  # one answer for one sighting
    gate.documents.install(TRUST_LIST, kit.trust_document())
    gate.documents.install(CATALOGUE, kit.catalogue_document())
    assert gate.reload() == ["no revocation list on this gate yet"]
    kit.clock.advance(0.1)
    missing = gate.process(frame).decisions  # decided afresh: still no grant without a revocation list
    assert [(d.result, d.reason, d.detail) for d in missing] == [
        ("MANUAL_CHECK", "TRUST_LIST_STALE", "no usable revocation list on this gate")]  # fmt: skip
    gate.documents.install(REVOCATIONS, kit.revocation_document())
    assert gate.reload() == []
    kit.clock.advance(0.1)
    assert [d.result for d in gate.process(frame).decisions] == ["GRANTED"]  # decided afresh, not a repeat


def test_a_tampered_cached_document_is_refused_at_load(kit: Kit) -> None:
    gate = kit.gate()
    path = gate.documents.path(TRUST_LIST)
    path.write_bytes(path.read_bytes().replace(b'"version": 1', b'"version": 9'))
    problems = gate.reload()
    assert any("cached trust list refused" in p and "signature" in p for p in problems)
    decision = gate.on_code(kit.world.online(), kit.clock())
    assert decision is not None and decision.result == "MANUAL_CHECK"


def test_install_refuses_a_foreign_signature_and_an_older_version(kit: Kit, tmp_path: Path) -> None:
    cache = kit.documents(tmp_path / "state")
    before = cache.path(CATALOGUE).read_bytes()
    forged = sign_document({"format": "suishen-catalogue/1", "version": 5}, generate_private_key(ES256))
    with pytest.raises(DocumentError, match="root key"):
        cache.install(CATALOGUE, forged)
    cache.install(CATALOGUE, kit.catalogue_document(version=3))
    with pytest.raises(DocumentError, match="older than version 3"):
        cache.install(CATALOGUE, kit.catalogue_document(version=2))
    assert cache.path(CATALOGUE).read_bytes() != before


def newer_trust_list(server: RealServer, version: int) -> bytes:
    """A trust list signed by the server's own root with a version ahead of the server's."""
    ring = directory.load_ring(server.keys)
    root_key = read_private_key(server.keys / directory.ROOT_KEY_FILE, PASSPHRASE.encode())
    return sign_trust_list(payload_from_rings([ring], version=version, issued_at=int(time.time())), root_key)


def test_refresh_by_etag_from_the_real_server(server: RealServer, tmp_path: Path) -> None:
    root = read_public_key(server.root_public)
    cache = DocumentCache(tmp_path / "state" / "documents", root)  # type: ignore[arg-type]
    key = server.gate_key()
    client = ServerClient(server.url, key)
    try:
        first = refresh(cache, client)
        assert first.changed and cache.etag(TRUST_LIST) and cache.etag(CATALOGUE) and cache.etag(REVOCATIONS)
        assert not refresh(cache, client).changed  # 304 for all three: nothing to install
        version = server.publish_catalogue()
        second = refresh(cache, client)
        assert second.changed and f"catalogue snapshot version {version} installed" in second.messages
        assert not refresh(cache, client).changed
        # A server restored from an old backup serves an older trust list than the gate holds: refused.
        cache.install(TRUST_LIST, newer_trust_list(server, 99))
        third = refresh(cache, client)
        refused = [m for m in third.messages if "trust list from the server refused" in m]
        assert not third.changed and refused and "older than version 99" in refused[0], third.messages
        loaded = cache.load().store
        assert loaded is not None and loaded.version == 99  # the cached one stays in use
    finally:
        client.close()
    away = ServerClient(f"http://127.0.0.1:{free_port()}", key, timeout_s=0.5)  # nobody listens there
    offline = refresh(cache, away)
    assert offline.messages and not offline.changed and all("not refreshed" in m for m in offline.messages)
    away.close()


def test_the_sync_thread_installs_new_documents_for_the_loop_to_swap_in(server: RealServer, tmp_path: Path) -> None:
    from scanner_client.runner import Settings, Sync, build

    root = read_public_key(server.root_public)
    settings = Settings(PARK, tmp_path / "state", root, server=server.url, api_key=server.gate_key())  # type: ignore[arg-type]
    parts = build(settings)
    try:
        assert parts.gate.decider is not None
        before = parts.gate.decider.snapshot.version
        sync = Sync(parts, refresh_s=0)
        sync.tick()
        assert not sync.documents_changed.is_set()  # 304: nothing new
        version = server.publish_catalogue()
        assert version > before
        sync.tick()
        assert sync.documents_changed.is_set() and f"catalogue snapshot version {version} installed" in sync.messages
        parts.gate.reload()
        assert parts.gate.decider.snapshot.version == version
    finally:
        parts.outbox.close()


def test_venues_resolve_from_the_shared_list_or_a_file(tmp_path: Path) -> None:
    from scanner_client.venues import VenueError, resolve_venue

    assert resolve_venue("sh-zoo") == Venue("sh-zoo", "zoo", 310000, "Shanghai Zoo")
    with pytest.raises(VenueError, match=r"no venue 'sh-nowhere'.*known: sh-century-park"):
        resolve_venue("sh-nowhere")
    own = tmp_path / "venues.json"
    own.write_text('{"venues": [{"id": "hz-west-lake", "type": "scenic_area", "region": 330100}]}')
    assert resolve_venue("hz-west-lake", own).region == 330100
    own.write_text('{"venues": [{"id": "x", "type": "casino"}]}')
    with pytest.raises(VenueError, match="type from"):
        resolve_venue("x", own)
    own.write_text("{not json")
    with pytest.raises(VenueError, match="not valid JSON"):
        resolve_venue("x", own)
