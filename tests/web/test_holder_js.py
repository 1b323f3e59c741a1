"""The browser's holder-bound code (app/api/web/static/js/holder.js) checked by the Python verifier.

The key pair is made by WebCrypto in Chromium (non-extractable private key); Python issues a
credential bound to its public key, the page makes codes, and `verifier` accepts them.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from keys.algorithms import ES256, generate_private_key
from tests.support.world import elderly, make_world
from verifier.base45 import b45decode
from verifier.code import device_proof, holder_code, parse_code
from verifier.errors import Reason, VerificationError
from verifier.verify import HOLDER_BOUND

NOW = 1_800_000_000


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwk_public_key(jwk: dict[str, str]) -> ec.EllipticCurvePublicKey:
    x, y = int.from_bytes(unb64(jwk["x"]), "big"), int.from_bytes(unb64(jwk["y"]), "big")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


MAKE_KEY = """async () => {
  const h = await import('/static/js/holder.js');
  window.__pair = await h.generateDeviceKey();
  const req = await h.credentialRequest(window.__pair, %d);
  const extractable = window.__pair.privateKey.extractable;
  return {req, extractable};
}"""

MAKE_CODES = """async ([credential, times]) => {
  const h = await import('/static/js/holder.js');
  const cred = h.fromB64url(credential);
  const out = [];
  for (const t of times) out.push(await h.holderCode(cred, window.__pair.privateKey, t));
  return out;
}"""


def test_js_holder_code_verifies_in_python(browser: Any, static_server: str) -> None:
    page = browser.new_page()
    page.goto(static_server + "/")
    made = page.evaluate(MAKE_KEY % NOW)
    assert made["extractable"] is False
    req = made["req"]
    assert req["public_key"]["kty"] == "EC" and req["public_key"]["crv"] == "P-256"

    # proof of possession as docs/api.md states it: raw r||s over "suishen-pop:{t}:{x}:{y}"
    device = jwk_public_key(req["public_key"])
    raw = unb64(req["pop"]["signature"])
    assert len(raw) == 64 and req["pop"]["t"] == NOW
    message = f"suishen-pop:{NOW}:{req['public_key']['x']}:{req['public_key']['y']}".encode()
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    device.verify(der, message, ec.ECDSA(hashes.SHA256()))

    world = make_world(now=NOW)
    credential = world.issuer.credential(elderly(), NOW, device_key=device)
    cred_b64 = base64.urlsafe_b64encode(credential).rstrip(b"=").decode()
    times = [NOW, NOW + 5, NOW + 30, NOW + 61]
    codes = page.evaluate(MAKE_CODES, [cred_b64, times])
    page.close()

    reference = device_proof(credential, generate_private_key(ES256), NOW)  # type: ignore[arg-type]
    reference_length = len(b45decode(holder_code(credential, reference)[4:]))
    verifier = world.verifier()
    steps = set()
    for text, t in zip(codes, times, strict=True):
        parsed = parse_code(text)
        assert parsed.credential_bytes == credential
        assert parsed.proof is not None and parsed.proof.protected_bytes == b"\xa1\x01\x26"
        raw_code = b45decode(text[4:])
        assert raw_code[0] == 0x82 and len(raw_code) == reference_length  # proof: 84 43 a10126 a0 4x.. 5840 sig
        if t // 30 in steps:  # same time step: the replay guard refuses the second one
            try:
                verifier.verify(text, t)
            except VerificationError as exc:
                assert exc.reason is Reason.REPLAYED
            else:
                raise AssertionError("a second code in one time step was accepted")
            continue
        verified = verifier.verify(text, t)
        assert verified.kind == HOLDER_BOUND and verified.proof_time is not None
        assert verified.proof_time // 30 == t // 30
        steps.add(t // 30)
    assert len(steps) == 3


def test_js_cbor_and_base45_match_python(browser: Any, static_server: str) -> None:
    import cbor2

    from verifier.base45 import b45encode

    page = browser.new_page()
    page.goto(static_server + "/")
    samples = [0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**53 - 1, -1, -24, -25, -257]
    got = page.evaluate(
        """async (samples) => {
          const c = await import('/static/js/cbor.js');
          const b = await import('/static/js/base45.js');
          const hex = (u) => Array.from(u, (x) => x.toString(16).padStart(2, '0')).join('');
          const ints = samples.map((n) => hex(c.encode(n)));
          const map = new Map([[4, 1], [1, -7], ['a', true]]);
          const mixed = hex(c.encode([1, 'Signature1', new Uint8Array(30), map, null]));
          const texts = ['', 'A', 'AB', 'ietf!', 'Hello!!'].map((s) => b.b45encode(new TextEncoder().encode(s)));
          const back = new TextDecoder().decode(b.b45decode('QED8WEX0'));
          return {ints, mixed, texts, back};
        }""",
        samples,
    )
    page.close()
    assert got["ints"] == [cbor2.dumps(n).hex() for n in samples]
    expected = cbor2.dumps([1, "Signature1", bytes(30), {1: -7, 4: 1, "a": True}, None], canonical=True)
    assert got["mixed"] == expected.hex()
    assert got["texts"] == [b45encode(s.encode()) for s in ["", "A", "AB", "ietf!", "Hello!!"]]
    assert got["texts"][3] == "QED8WEX0"  # RFC 9285 §4.3
    assert got["back"] == "ietf!"
