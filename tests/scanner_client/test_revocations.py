"""The gate program's revocation list: downloaded whole, then as deltas; kept across restarts; a bad one refused
(the held one stays, one line says why); a stale or missing one gives MANUAL CHECK as a stale trust list does."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from keys.algorithms import ES256, generate_private_key
from keys.revocation_list import RevocationList, credential_id, list_payload, sign_revocation_list
from keys.storage import read_public_key
from scanner_client.documents import MAX_DELTAS, REVOCATIONS, DocumentCache, DocumentError
from scanner_client.refresh import refresh
from scanner_client.runner import Settings, build
from scanner_client.server import ServerClient
from tests.support.gates import PARK, Kit, RealServer, gate_cli, live_files
from tests.support.servers import free_port
from tests.support.world import NOW
from verifier.claims import decode_claims
from verifier.code import parse_code


def kid_cti(code: str) -> tuple[bytes, bytes]:
    cred = parse_code(code).credential
    assert cred.kid is not None
    return cred.kid, decode_claims(cred.payload).cti


def files_of(cache: DocumentCache) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(cache.folder.glob("revocations*"))}


def revoke(server: RealServer, code: str) -> int:
    kid, cti = kid_cti(code)
    body = {"kind": "credential", "kid": kid.hex(), "cti": cti.hex(), "until": int(time.time()) + 900}
    return int(server.admin("POST", "/v1/admin/revocations", json=body)["version"])


def test_a_gate_downloads_the_list_then_deltas_keeps_them_across_a_restart_and_refuses_the_revoked(
    server: RealServer, tmp_path: Path
) -> None:
    root = read_public_key(server.root_public)
    state = tmp_path / "state"
    settings = Settings(PARK, state, root, server=server.url, api_key=server.gate_key())  # type: ignore[arg-type]
    parts = build(settings)
    try:
        whole = parts.documents.held_chain()
        assert whole is not None and len(whole.files) == 1 and parts.gate.problems == []
        first, second, kept = server.codes(3)
        assert parts.gate.on_code(first, time.time()).result == "GRANTED"  # type: ignore[union-attr]

        versions = [revoke(server, first), revoke(server, second)]
        assert parts.client is not None
        got = refresh(parts.documents, parts.client)
        assert got.changed and f"revocation list version {versions[-1]} installed" in got.messages, got.messages
        chain = parts.documents.held_chain()
        assert chain is not None and chain.version == versions[-1]
        assert [p.name for p in chain.files] == ["revocations.json", f"revocations.since-{whole.version}.json"]
        assert json.loads(chain.files[1].read_bytes())["payload"]["since"] == whole.version  # a delta, not the list
        assert not refresh(parts.documents, parts.client).changed  # 304: the version held is current
        parts.gate.reload()
        decided = parts.gate.on_code(second, time.time() + 2)
        assert decided is not None and (decided.result, decided.reason) == ("REJECTED", "CREDENTIAL_REVOKED")
    finally:
        parts.outbox.close()
        if parts.client is not None:
            parts.client.close()

    offline = build(Settings(PARK, state, root))  # type: ignore[arg-type]  # restarted, and no server this time
    try:
        assert offline.gate.problems == []
        held = offline.documents.revocations()
        assert held is not None and held.version == versions[-1]
        assert credential_id(*kid_cti(first)) in held.credentials
        again = offline.gate.on_code(first, time.time() + 4)
        assert again is not None and again.reason == "CREDENTIAL_REVOKED"
        fine = offline.gate.on_code(kept, time.time() + 4)
        assert fine is not None and fine.result == "GRANTED"
    finally:
        offline.outbox.close()


@contextlib.contextmanager
def serving(document: bytes) -> Iterator[str]:
    """A real HTTP server on loopback that answers every GET with `document` (what a broken or hostile
    server in front of the gate would send)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_tampered_list_from_the_server_is_refused_and_the_held_one_stays(kit: Kit) -> None:
    gate = kit.gate()
    revoked = kit.world.online()
    cid = credential_id(*kid_cti(revoked))
    gate.documents.install(REVOCATIONS, kit.revocation_document(version=2, credentials={cid: NOW + 900}))
    before = files_of(gate.documents)
    good = kit.revocation_document(version=3, since=2, credentials={b"\x01" * 8: NOW + 900})
    tampered = good.replace(b"0101010101010101", b"0202020202020202")
    for document in (tampered, b"{not json", good.replace(b'"since": 2', b'"since": 1')):
        with serving(document) as url:
            client = ServerClient(url)
            result = refresh(gate.documents, client)
            client.close()
        refused = [m for m in result.messages if m.startswith("revocation list from the server refused")]
        assert len(refused) == 1 and "\n" not in refused[0] and "the one held is kept" in refused[0], result.messages
    assert files_of(gate.documents) == before
    gate.reload()
    decision = gate.on_code(revoked, kit.clock())
    assert decision is not None and decision.reason == "CREDENTIAL_REVOKED"


def test_a_stale_revocation_list_gives_a_manual_check_as_a_stale_trust_list_does(kit: Kit) -> None:
    gate = kit.gate()
    gate.documents.install(REVOCATIONS, kit.revocation_document(version=2, issued_at=NOW - 7200, max_age=3600))
    assert gate.reload() == []  # a stale list still loads: the decisions say why they are not grants
    decision = gate.on_code(kit.world.online(), kit.clock())
    assert decision is not None and (decision.result, decision.reason) == ("MANUAL_CHECK", "TRUST_LIST_STALE")
    assert decision.detail == "revocation list version 2 is past its max age"


def test_deltas_apply_only_on_the_version_held_and_many_deltas_bring_the_whole_list_again(kit: Kit) -> None:
    cache = kit.documents(kit.folder / "state")
    for version in range(2, 2 + MAX_DELTAS + 1):
        entry = {version.to_bytes(8, "big"): NOW + 900}
        cache.install(REVOCATIONS, kit.revocation_document(version=version, since=version - 1, credentials=entry))
    held = cache.revocations()
    assert held is not None and held.version == MAX_DELTAS + 2 and len(held.credentials) == MAX_DELTAS + 1
    from scanner_client.refresh import _route

    assert _route(cache, REVOCATIONS) == "/v1/revocations"  # too many deltas: the whole list next time
    cache.install(REVOCATIONS, kit.revocation_document(version=MAX_DELTAS + 3, credentials={b"\x09" * 8: NOW + 9}))
    assert len(cache.held_chain().files) == 1  # type: ignore[union-attr]  # the deltas are gone with it
    assert _route(cache, REVOCATIONS) == f"/v1/revocations?since={MAX_DELTAS + 3}"


def bad_documents(kit: Kit) -> dict[str, tuple[bytes, str]]:
    """Malformed revocation documents, each with the words its one-line refusal must contain."""
    good = kit.revocation_document(version=5, since=1, credentials={b"\x01" * 8: NOW + 900})
    payload = json.loads(good)["payload"]

    def signed(**changes: object) -> bytes:
        return sign_revocation_list({**payload, **changes}, kit.world.root_key)

    return {
        "bad JSON": (b'{"payload": {', "not valid JSON"),
        "not an object": (b"[1, 2]", "must be an object"),
        "bad signature": (good.replace(b"0101010101010101", b"0101010101010102"), "signature"),
        "foreign key": (sign_revocation_list(payload, generate_private_key(ES256)), "root key"),
        "wrong format": (signed(format="suishen-trust-list/1"), "format"),
        "short hex": (signed(credentials=[["0101", NOW + 900]]), "hex of 8"),
        "upper-case hex": (signed(credentials=[["0A" * 8, NOW + 900]]), "lower-case hex"),
        "subject too long": (signed(subjects=[["aa" * 33, NOW, NOW + 900]]), "hex of 8 to 32"),
        "entry shape": (signed(credentials=[["01" * 8]]), "[id, until]"),
        "wrong since": (signed(since=4), "does not apply to the held version 1"),
        "since a string": (signed(since="1"), "'since' must be null or a version"),
        "version not after since": (signed(version=1), "is not after"),
        "negative time": (signed(credentials=[["01" * 8, -5]]), "unix seconds"),
    }


@pytest.mark.parametrize("case", list(range(13)))
def test_a_malformed_revocation_document_is_refused_in_one_line_and_changes_nothing(kit: Kit, case: int) -> None:
    cache = kit.documents(kit.folder / "state")
    before = files_of(cache)
    name, (document, words) = list(bad_documents(kit).items())[case]
    with pytest.raises(DocumentError) as refused:
        cache.install(REVOCATIONS, document)
    message = str(refused.value)
    assert words in message and "\n" not in message and len(message) < 300, (name, message)
    assert files_of(cache) == before
    held = cache.revocations()
    assert held is not None and held.version == 1


def test_a_tampered_cached_revocation_list_is_refused_at_load(kit: Kit) -> None:
    gate = kit.gate()
    gate.documents.install(REVOCATIONS, kit.revocation_document(version=2, since=1,
                                                                credentials={b"\x01" * 8: NOW + 900}))  # fmt: skip
    delta = gate.documents.folder / "revocations.since-1.json"
    delta.write_bytes(delta.read_bytes().replace(b"0101010101010101", b"0101010101010103"))
    problems = gate.reload()
    assert any(p.startswith("cached revocation list refused") and "signature" in p for p in problems), problems
    decision = gate.on_code(kit.world.online(), kit.clock())
    assert decision is not None and (decision.result, decision.detail) == (
        "MANUAL_CHECK", "no usable revocation list on this gate")  # fmt: skip


def test_the_gate_command_takes_a_revocation_list_file(tmp_path: Path) -> None:
    world, files, (revoked, _) = live_files(tmp_path, codes=2)
    now = int(time.time())
    listed = RevocationList(3, now, 86400, {credential_id(*kid_cti(revoked)): now + 900})
    files["revocations"].write_bytes(sign_revocation_list(list_payload(listed), world.root_key))
    common = ("--venue", PARK.id, "--images", str(files["frames"]), "--root", str(files["root"]), "--state",
              str(tmp_path / "s"))  # fmt: skip
    ran = gate_cli(*common, "--trust-list", str(files["trust"]), "--catalogue", str(files["catalogue"]),
                   "--revocations", str(files["revocations"]), "--json")  # fmt: skip
    assert ran.code == 0, ran.stderr
    decisions = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    assert [(d["result"], d["reason"]) for d in decisions] == [("REJECTED", "CREDENTIAL_REVOKED"), ("GRANTED", None)]
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"{")
    bad = gate_cli(*common, "--revocations", str(broken))
    assert bad.code == 2 and bad.stderr.strip() == "error: revocation list is not valid JSON: JSONDecodeError"


def test_a_deeply_nested_document_is_refused_in_one_line_whichever_it_claims_to_be(kit: Kit) -> None:
    from scanner_client.documents import CATALOGUE, TRUST_LIST

    cache = kit.documents(kit.folder / "state")
    nested = b'{"payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for kind in (TRUST_LIST, CATALOGUE, REVOCATIONS):
        before = cache.path(kind).read_bytes()
        with pytest.raises(DocumentError) as refused:
            cache.install(kind, nested)
        assert "not valid JSON" in str(refused.value) and "\n" not in str(refused.value), kind.label
        assert cache.path(kind).read_bytes() == before
