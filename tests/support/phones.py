"""A citizen's phone for tests: its P-256 key, the request `POST /v1/credentials` takes, holder-bound codes."""

from __future__ import annotations

import base64
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from verifier.code import device_proof, holder_code


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Phone:
    """One phone: a key of its own, and the credential the server last gave it."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        self.x, self.y = b64url(numbers.x.to_bytes(32, "big")), b64url(numbers.y.to_bytes(32, "big"))
        self.credential: bytes | None = None

    def request(self, t: int | None = None) -> dict[str, Any]:
        """What the page sends: the public key as a JWK and a raw r||s proof of possession signed at `t`."""
        t = int(time.time()) if t is None else t
        der = self.key.sign(f"suishen-pop:{t}:{self.x}:{self.y}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        return {"public_key": {"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y},
                "pop": {"t": t, "signature": signature}}  # fmt: skip

    def take(self, answer: dict[str, Any]) -> bytes:
        """Keep the credential of a 200 answer of `POST /v1/credentials`."""
        self.credential = unb64url(answer["credential"])
        return self.credential

    def code(self, at: float | None = None) -> str:
        """The QR text the phone shows at `at`: its credential and a fresh device proof."""
        assert self.credential is not None, "the phone holds no credential"
        at = time.time() if at is None else at
        return holder_code(self.credential, device_proof(self.credential, self.key, at))
