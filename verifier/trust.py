"""The verifier's view of a verified trust list: issuer keys by kid, and when it goes stale."""

from __future__ import annotations

from keys.algorithms import PublicKey
from keys.trust_list import TrustedKey, TrustList, load_trust_list


class TrustStore:
    __slots__ = ("expires_at", "keys", "version")

    def __init__(self, trust_list: TrustList) -> None:
        self.keys: dict[bytes, TrustedKey] = {k.kid: k for k in trust_list.keys}
        self.version = trust_list.version
        self.expires_at = trust_list.expires_at

    @classmethod
    def from_document(cls, document: bytes, root_public_key: PublicKey, now: float) -> TrustStore:
        """Raises keys.trust_list.TrustListError when the list cannot be trusted."""
        return cls(load_trust_list(document, root_public_key, now))

    def get(self, kid: bytes) -> TrustedKey | None:
        return self.keys.get(kid)
