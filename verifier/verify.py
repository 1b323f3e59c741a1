"""The offline verifier: SP1 text in, a verified code or one reason code out.

Order matters: structure, then the freshness of the trust and revocation lists and the key,
then the issuer signature, and only then are claims read; the revocation list is checked once
the claims hold, and the replay guard is consulted last so that rejected codes never occupy
it. An online code is used once; a holder-bound credential is accepted again only with a later
proof step and at least 30 s of this clock later (`verifier.replay`); a printed card once per
venue per local day. The clock is a parameter, so tests never sleep.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from keys.algorithms import ALG_NAMES, ES256, p256_verifier
from keys.revocation_list import RevocationList
from keys.ring import REVOKED
from keys.trust_list import TrustedKey
from verifier import cose
from verifier.claims import Claims, Profile, decode_claims
from verifier.code import TIME_STEP_S, parse_code, read_proof_step
from verifier.errors import Reason, VerificationError
from verifier.local_time import local_day_end, local_day_number
from verifier.replay import InMemoryReplayGuard, ReplayGuard, card_replay_key, replay_key
from verifier.revocation import check_not_revoked
from verifier.trust import TrustStore

DEFAULT_CLOCK_SKEW_S = 60
DEFAULT_PROOF_MAX_AGE_S = 90

ONLINE = "online"
HOLDER_BOUND = "holder_bound"
CARD = "card"


class VerifiedCode(NamedTuple):
    kind: str
    issuer: str
    region: str
    kid: bytes
    alg: int
    claims: Claims
    proof_time: int | None = None

    @property
    def profile(self) -> Profile:
        return self.claims.profile

    @property
    def card_number(self) -> int | None:
        return self.claims.card_number

    def to_json(self) -> dict[str, Any]:
        """JSON-ready; `card_number` appears on cards only."""
        out = {
            "kind": self.kind,
            "issuer": self.issuer,
            "region": self.region,
            "kid": self.kid.hex(),
            "alg": ALG_NAMES[self.alg],
            "issued_at": self.claims.issued_at,
            "expires_at": self.claims.expires_at,
            "proof_time": self.proof_time,
            "profile": self.profile.to_json(),
        }
        if self.claims.card_number is not None:
            out["card_number"] = self.claims.card_number
        return out


class Verifier:
    __slots__ = ("clock_skew", "proof_max_age", "replay", "revocations", "trust")

    def __init__(
        self,
        trust: TrustStore,
        replay: ReplayGuard | None = None,
        *,
        revocations: RevocationList | None = None,
        clock_skew: int = DEFAULT_CLOCK_SKEW_S,
        proof_max_age: int = DEFAULT_PROOF_MAX_AGE_S,
    ) -> None:
        self.trust = trust
        self.replay: ReplayGuard = replay if replay is not None else InMemoryReplayGuard()
        # None: no list is held (a test, a partner's tool); a gate, the server and the handheld hold one.
        self.revocations = revocations
        self.clock_skew = clock_skew
        self.proof_max_age = proof_max_age

    def verify(self, text: str | bytes, now: float, venue: str = "") -> VerifiedCode:
        """`venue` is the venue id: a printed card is accepted once per venue per local day."""
        code = parse_code(text)
        if now > self.trust.expires_at:
            raise VerificationError(
                Reason.TRUST_LIST_STALE, f"trust list version {self.trust.version} is past its max age"
            )
        revocations = self.revocations
        if revocations is not None and now > revocations.expires_at:
            raise VerificationError(
                Reason.TRUST_LIST_STALE, f"revocation list version {revocations.version} is past its max age"
            )
        cred = code.credential
        if cred.kid is None:
            raise VerificationError(Reason.MALFORMED_COSE, "credential has no kid")
        key = self.trust.get(cred.kid)
        if key is None:
            raise VerificationError(Reason.UNKNOWN_KID, f"no trusted key {cred.kid.hex()}")
        if key.status == REVOKED:
            raise VerificationError(Reason.KEY_REVOKED, f"key {cred.kid.hex()} is revoked")
        skew = self.clock_skew
        if now + skew < key.not_before or now - skew > key.not_after:
            raise VerificationError(Reason.KEY_NOT_VALID_NOW, f"key {cred.kid.hex()} is outside its validity")
        cose.check_signature(cred, key.check, key.alg, b"", Reason.BAD_SIGNATURE)
        claims = decode_claims(cred.payload)

        if claims.issuer != key.issuer:
            raise VerificationError(
                Reason.ISSUER_NOT_RECOGNISED, f"iss {claims.issuer!r} is not the key's issuer {key.issuer!r}"
            )
        if key.limited:  # a partner's key, or one with fewer privileges: ours skip this
            self._check_limits(key, claims.profile)
        if now + skew < claims.valid_from:
            raise VerificationError(Reason.NOT_YET_VALID, "credential is not valid yet")
        if now - skew > claims.expires_at:
            raise VerificationError(Reason.EXPIRED, "credential has expired")

        if revocations is not None:
            check_not_revoked(revocations, cred.kid, claims, now)

        if claims.card_number is not None:
            if code.proof is not None:
                raise VerificationError(Reason.MALFORMED_COSE, "a printed card carries no device proof")
            day = local_day_number(now)
            card_key = card_replay_key(cred.kid, claims.cti, venue, day)
            if not self.replay.first_use(card_key, local_day_end(day) + skew, now):
                raise VerificationError(Reason.REPLAYED, "this card was already used at this venue today")
            return VerifiedCode(CARD, key.issuer, key.region, cred.kid, cred.alg, claims)
        guard_key, guard_until = replay_key(cred.kid, claims.cti), claims.expires_at + skew
        if claims.device_key is None:
            if code.proof is not None:
                raise VerificationError(Reason.MALFORMED_COSE, "device proof on a credential without device key")
            if not self.replay.first_use(guard_key, guard_until, now):
                raise VerificationError(Reason.REPLAYED, "this code was already used")
            return VerifiedCode(ONLINE, key.issuer, key.region, cred.kid, cred.alg, claims)
        if code.proof is None:
            raise VerificationError(Reason.DEVICE_PROOF_MISSING, "holder-bound credential shown without a device proof")
        proof_time = self._check_proof(code.proof, code.credential_bytes, claims, now)
        # Per credential, not per step: a later step than any accepted, and not twice in one time step.
        if not self.replay.first_step(guard_key, proof_time // TIME_STEP_S, guard_until, now):
            raise VerificationError(
                Reason.REPLAYED, "this credential was already shown with this or a later code, or within 30 s"
            )
        return VerifiedCode(HOLDER_BOUND, key.issuer, key.region, cred.kid, cred.alg, claims, proof_time)

    @staticmethod
    def _check_limits(key: TrustedKey, profile: Profile) -> None:
        """The issuer asserts only what its trust-list entry allows, and residence only in its province."""
        beyond = profile.privileges_asserted() - key.privileges
        if beyond:
            raise VerificationError(
                Reason.ISSUER_NOT_RECOGNISED, f"issuer {key.issuer} may not assert {sorted(beyond)}"
            )
        province = key.residence_province
        if province is not None and profile.residence is not None and profile.residence // 10000 != province:
            raise VerificationError(
                Reason.ISSUER_NOT_RECOGNISED,
                f"issuer {key.issuer} may assert residence in {key.residence_region} only, not {profile.residence}",
            )

    def _check_proof(self, proof: cose.Sign1, credential: bytes, claims: Claims, now: float) -> int:
        if proof.kid is not None:
            raise VerificationError(Reason.MALFORMED_COSE, "device proof must not carry a kid")
        assert claims.device_key is not None
        cose.check_signature(proof, p256_verifier(claims.device_key), ES256, credential, Reason.BAD_DEVICE_SIGNATURE)
        proof_time = read_proof_step(proof.payload) * TIME_STEP_S
        if proof_time > now + self.clock_skew:
            raise VerificationError(Reason.PROOF_IN_FUTURE, "device proof is dated in the future")
        if now - proof_time > self.proof_max_age:
            raise VerificationError(Reason.PROOF_TOO_OLD, f"device proof older than {self.proof_max_age} s")
        return proof_time


__all__ = ["CARD", "HOLDER_BOUND", "ONLINE", "VerifiedCode", "Verifier"]
