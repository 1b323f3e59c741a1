"""Issuing credentials from the active key of a key ring."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric import ec

from keys.algorithms import PrivateKey
from keys.ring import MAX_CREDENTIAL_LIFE_S, KeyEntry
from verifier.claims import Claims, Profile
from verifier.code import issue_credential

ONLINE_LIFETIME_S = 60
HOLDER_BOUND_LIFETIME_S = MAX_CREDENTIAL_LIFE_S


class Issuer:
    """Signs credentials for one issuer id with one key; lifetimes are capped by the ring's rules."""

    def __init__(self, issuer: str, entry: KeyEntry, private_key: PrivateKey) -> None:
        self.issuer = issuer
        self.entry = entry
        self._private_key = private_key

    def __repr__(self) -> str:  # never show key material
        return f"Issuer({self.issuer!r}, kid={self.entry.kid.hex()})"

    def credential(
        self,
        profile: Profile,
        now: int,
        *,
        device_key: ec.EllipticCurvePublicKey | None = None,
        lifetime: int | None = None,
    ) -> bytes:
        if lifetime is None:
            lifetime = ONLINE_LIFETIME_S if device_key is None else HOLDER_BOUND_LIFETIME_S
        if not 0 < lifetime <= MAX_CREDENTIAL_LIFE_S:
            raise ValueError(f"lifetime must be 1 to {MAX_CREDENTIAL_LIFE_S} seconds")
        claims = Claims(
            issuer=self.issuer,
            issued_at=now,
            expires_at=now + lifetime,
            cti=os.urandom(16),
            profile=profile,
            device_key=device_key,
        )
        return issue_credential(claims, self._private_key, self.entry.kid)
