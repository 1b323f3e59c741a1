"""Signed trust lists: building, signing, and every way loading one can refuse it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from keys.algorithms import EDDSA, ES256, ES384, PrivateKey, generate_private_key, kid_of, spki_der
from keys.ring import ALL_PRIVILEGES, KeyRing, new_entry
from keys.signed_json import canonical_json
from keys.trust_list import (
    DEFAULT_MAX_AGE_S,
    FORMAT,
    ISSUED_AT_SKEW_S,
    TrustList,
    TrustListError,
    load_trust_list,
    payload_from_rings,
    sign_trust_list,
)
from tests.support.world import NOW
from verifier.trust import TrustStore


def _ring(issuer: str = "CN-SH", region: str = "310000", alg: int = ES256,
          privileges: tuple[str, ...] = ALL_PRIVILEGES) -> KeyRing:
    return KeyRing(issuer, region, privileges, (new_entry(generate_private_key(alg).public_key(), NOW - 60),))


@pytest.fixture
def root() -> PrivateKey:
    return generate_private_key(ES256)


@pytest.fixture
def payload() -> dict[str, Any]:
    return payload_from_rings([_ring(), _ring("CN-JS", "320000", EDDSA, ("age_over",))], version=7, issued_at=NOW)


def test_payload_from_rings(payload: dict[str, Any]) -> None:
    assert payload["format"] == FORMAT == "suishen-trust-list/1"
    assert payload["version"] == 7
    assert payload["issued_at"] == NOW
    assert payload["max_age"] == DEFAULT_MAX_AGE_S == 7 * 86400
    keys = payload["keys"]
    assert [k["issuer"] for k in keys] == ["CN-SH", "CN-JS"]
    assert [k["alg"] for k in keys] == ["ES256", "EdDSA"]
    assert keys[0]["privileges"] == sorted(ALL_PRIVILEGES)
    assert keys[1]["privileges"] == ["age_over"]
    assert keys[0]["status"] == "active"
    assert keys[0]["not_before"] == NOW - 60
    assert len(bytes.fromhex(keys[0]["kid"])) == 8
    json.dumps(payload)  # plain JSON


def test_round_trip(root: PrivateKey, payload: dict[str, Any]) -> None:
    doc = sign_trust_list(payload, root)
    outer = json.loads(doc)
    assert outer["signature"]["alg"] == "ES256"
    assert outer["signature"]["kid"] == kid_of(root.public_key()).hex()
    tl = load_trust_list(doc, root.public_key(), NOW)
    assert isinstance(tl, TrustList)
    assert tl.version == 7
    assert tl.root_kid == kid_of(root.public_key())
    assert tl.expires_at == NOW + DEFAULT_MAX_AGE_S
    assert [k.issuer for k in tl.keys] == ["CN-SH", "CN-JS"]
    assert tl.keys[1].alg == EDDSA
    assert tl.keys[1].privileges == frozenset({"age_over"})
    assert tl.keys[0].privileges == frozenset(ALL_PRIVILEGES)
    assert [k.kid.hex() for k in tl.keys] == [k["kid"] for k in payload["keys"]]
    assert spki_der(tl.keys[0].public_key)


@pytest.mark.parametrize("alg", [ES256, ES384, EDDSA])
def test_root_key_algorithms(alg: int, payload: dict[str, Any]) -> None:
    root = generate_private_key(alg)
    doc = sign_trust_list(payload, root)
    assert load_trust_list(doc, root.public_key(), NOW).version == 7


def test_signature_is_over_canonical_json_so_formatting_does_not_matter(
    root: PrivateKey, payload: dict[str, Any]
) -> None:
    doc = json.loads(sign_trust_list(payload, root))
    compact = json.dumps(doc, separators=(",", ":")).encode()
    assert load_trust_list(compact, root.public_key(), NOW).version == 7
    assert canonical_json({"b": 1, "a": [1, "\u7a57"]}) == '{"a":[1,"\u7a57"],"b":1}'.encode()


def test_trust_store(root: PrivateKey, payload: dict[str, Any]) -> None:
    store = TrustStore.from_document(sign_trust_list(payload, root), root.public_key(), NOW)
    assert store.version == 7
    assert store.expires_at == NOW + DEFAULT_MAX_AGE_S
    kid = bytes.fromhex(payload["keys"][1]["kid"])
    key = store.get(kid)
    assert key is not None and key.issuer == "CN-JS"
    assert store.get(bytes(8)) is None


# --- refusals -----------------------------------------------------------------------------


def _expect(document: bytes, root: PrivateKey, now: float, fragment: str) -> None:
    with pytest.raises(TrustListError) as info:
        load_trust_list(document, root.public_key(), now)
    assert fragment in str(info.value), str(info.value)


def test_tampered_payload(root: PrivateKey, payload: dict[str, Any]) -> None:
    doc = json.loads(sign_trust_list(payload, root))
    for change in (
        lambda p: p["keys"][1]["privileges"].append("martyr_family"),
        lambda p: p["keys"][0].__setitem__("status", "active" if p["keys"][0]["status"] != "active" else "retired"),
        lambda p: p.__setitem__("max_age", p["max_age"] * 10),
        lambda p: p["keys"].pop(),
        lambda p: p.__setitem__("version", 8),
    ):
        tampered = copy.deepcopy(doc)
        change(tampered["payload"])
        _expect(json.dumps(tampered).encode(), root, NOW, "signature is not valid")


def test_wrong_root_key(root: PrivateKey, payload: dict[str, Any]) -> None:
    doc = sign_trust_list(payload, root)
    _expect(doc, generate_private_key(ES256), NOW, "not by the root key")


def test_signature_claims_root_kid_but_made_by_other_key(root: PrivateKey, payload: dict[str, Any]) -> None:
    forged = json.loads(sign_trust_list(payload, generate_private_key(ES256)))
    forged["signature"]["kid"] = kid_of(root.public_key()).hex()
    _expect(json.dumps(forged).encode(), root, NOW, "signature is not valid")


def test_signature_alg_mismatch(root: PrivateKey, payload: dict[str, Any]) -> None:
    doc = json.loads(sign_trust_list(payload, root))
    doc["signature"]["alg"] = "EdDSA"
    _expect(json.dumps(doc).encode(), root, NOW, "signed with EdDSA")


def test_stale_list_edge(root: PrivateKey) -> None:
    doc = sign_trust_list(payload_from_rings([_ring()], version=1, issued_at=NOW, max_age=100), root)
    assert load_trust_list(doc, root.public_key(), NOW + 100).expires_at == NOW + 100
    _expect(doc, root, NOW + 101, "stale")


def test_list_from_the_future(root: PrivateKey) -> None:
    doc = sign_trust_list(payload_from_rings([_ring()], version=1, issued_at=NOW + ISSUED_AT_SKEW_S), root)
    assert load_trust_list(doc, root.public_key(), NOW).version == 1
    doc = sign_trust_list(payload_from_rings([_ring()], version=1, issued_at=NOW + ISSUED_AT_SKEW_S + 1), root)
    _expect(doc, root, NOW, "issued in the future")


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[]", "must be an object"),
        (b"42", "must be an object"),
        (b'{"payload": []}', "must be an object"),
        (b'{"payload": {}}', "signature must have"),
        (b'{"payload": {}, "signature": {"alg": "ES256", "kid": 1, "value": "x"}}', "signature must have"),
    ],
)
def test_bad_documents(root: PrivateKey, document: bytes, fragment: str) -> None:
    _expect(document, root, NOW, fragment)


def test_bad_signature_encoding(root: PrivateKey, payload: dict[str, Any]) -> None:
    doc = json.loads(sign_trust_list(payload, root))
    doc["signature"]["value"] = "A"
    _expect(json.dumps(doc).encode(), root, NOW, "signature")
    doc["signature"]["value"] = ""
    _expect(json.dumps(doc).encode(), root, NOW, "signature is not valid")


Change = Callable[[dict[str, Any]], None]


def _set(path: tuple[Any, ...], value: Any) -> Change:
    def change(p: dict[str, Any]) -> None:
        target: Any = p
        for step in path[:-1]:
            target = target[step]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return change


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        pytest.param(_set(("format",), "suishen-trust-list/2"), "format must be", id="format"),
        pytest.param(_set(("version",), "1"), "payload.version must be int", id="version-text"),
        pytest.param(_set(("version",), True), "payload.version must be int", id="version-bool"),
        pytest.param(_set(("issued_at",), 1.5), "payload.issued_at must be int", id="issued-at-float"),
        pytest.param(_set(("max_age",), _DELETE), "payload.max_age must be int", id="max-age-missing"),
        pytest.param(_set(("keys",), {}), "payload.keys must be list", id="keys-not-list"),
        pytest.param(_set(("keys", 0), "key"), "payload.keys[0] must be an object", id="entry-not-object"),
        pytest.param(_set(("keys", 0, "alg"), "PS256"), "payload.keys[0].alg", id="alg-unknown"),
        pytest.param(_set(("keys", 0, "alg"), "EdDSA"), "does not match alg", id="alg-mismatch"),
        pytest.param(_set(("keys", 0, "alg"), _DELETE), "payload.keys[0].alg must be str", id="alg-missing"),
        pytest.param(_set(("keys", 0, "kid"), "00" * 8), "kid does not match", id="kid-mismatch"),
        pytest.param(_set(("keys", 0, "public_key"), "AAAA"), "not a usable SubjectPublicKeyInfo", id="spki-bad"),
        pytest.param(
            _set(("keys", 0, "public_key"), "\u00e9"), "not a usable SubjectPublicKeyInfo", id="spki-non-ascii"
        ),
        pytest.param(_set(("keys", 0, "status"), "lost"), "status 'lost'", id="status-unknown"),
        pytest.param(_set(("keys", 0, "privileges"), [1]), "list of strings", id="privileges-not-strings"),
        pytest.param(_set(("keys", 0, "privileges"), "age_over"), "privileges must be list", id="privileges-text"),
        pytest.param(_set(("keys", 0, "issuer"), None), "issuer must be str", id="issuer-null"),
        pytest.param(_set(("keys", 0, "not_after"), "later"), "not_after must be int", id="not-after-text"),
        pytest.param(lambda p: p["keys"].append(copy.deepcopy(p["keys"][0])), "duplicate kid", id="duplicate-kid"),
    ],
)
def test_bad_payloads_signed_by_the_root(
    root: PrivateKey, payload: dict[str, Any], change: Change, fragment: str
) -> None:
    bad = copy.deepcopy(payload)
    change(bad)
    _expect(sign_trust_list(bad, root), root, NOW, fragment)


def test_unsupported_key_type_in_list(root: PrivateKey, payload: dict[str, Any]) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from keys.signed_json import b64url as _b64

    bad = copy.deepcopy(payload)
    bad["keys"][0]["public_key"] = _b64(spki_der(ec.generate_private_key(ec.SECP521R1()).public_key()))
    _expect(sign_trust_list(bad, root), root, NOW, "not a usable SubjectPublicKeyInfo")


def test_deeply_nested_json_is_a_trust_list_error(root: PrivateKey) -> None:
    document = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(TrustListError):
        load_trust_list(document, root.public_key(), NOW)


def test_residence_region_binds_a_key_to_a_province(root: PrivateKey, payload: dict[str, Any]) -> None:
    payload = copy.deepcopy(payload)
    payload["keys"][1]["residence_region"] = "320000"
    trust_list = load_trust_list(sign_trust_list(payload, root), root.public_key(), NOW)
    ours, partner = trust_list.keys
    assert (ours.residence_region, ours.residence_province, ours.limited) == (None, None, False)
    assert (partner.residence_region, partner.residence_province, partner.limited) == ("320000", 32, True)
    from keys.trust_list import key_entry

    assert key_entry(partner) == payload["keys"][1]  # a parsed key writes back exactly as it was signed
    assert key_entry(ours) == payload["keys"][0]
    for bad in ("32", 320000, "32000x"):
        payload["keys"][1]["residence_region"] = bad
        with pytest.raises(TrustListError, match="residence_region must be a six-digit region code"):
            load_trust_list(sign_trust_list(payload, root), root.public_key(), NOW)


def test_a_stale_list_can_be_read_back_but_not_used(root: PrivateKey, payload: dict[str, Any]) -> None:
    document = sign_trust_list(payload, root)
    late = NOW + DEFAULT_MAX_AGE_S + 1
    with pytest.raises(TrustListError, match="stale"):
        load_trust_list(document, root.public_key(), late)
    assert load_trust_list(document, root.public_key(), late, allow_stale=True).version == 7
