"""The one error a verifier raises, and the reason codes it carries.

Every rejection, from a wrong prefix to a replay, is a `VerificationError` whose `reason` is
one of DESIGN.md's codes; `detail` is a short human sentence for staff and logs. No other
exception type leaves the decoder.
"""

from __future__ import annotations

from enum import StrEnum

from keys.errors import SuishenError


class Reason(StrEnum):
    MALFORMED_PREFIX = "MALFORMED_PREFIX"
    MALFORMED_BASE45 = "MALFORMED_BASE45"
    MALFORMED_COSE = "MALFORMED_COSE"
    MALFORMED_CLAIMS = "MALFORMED_CLAIMS"
    TOO_LARGE = "TOO_LARGE"
    UNSUPPORTED_ALG = "UNSUPPORTED_ALG"
    UNKNOWN_KID = "UNKNOWN_KID"
    KEY_NOT_VALID_NOW = "KEY_NOT_VALID_NOW"
    KEY_REVOKED = "KEY_REVOKED"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    NOT_YET_VALID = "NOT_YET_VALID"
    EXPIRED = "EXPIRED"
    DEVICE_PROOF_MISSING = "DEVICE_PROOF_MISSING"
    BAD_DEVICE_SIGNATURE = "BAD_DEVICE_SIGNATURE"
    PROOF_TOO_OLD = "PROOF_TOO_OLD"
    PROOF_IN_FUTURE = "PROOF_IN_FUTURE"
    REPLAYED = "REPLAYED"
    CREDENTIAL_REVOKED = "CREDENTIAL_REVOKED"
    ISSUER_NOT_RECOGNISED = "ISSUER_NOT_RECOGNISED"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    NO_POLICY_FOR_VENUE = "NO_POLICY_FOR_VENUE"
    CATALOGUE_STALE = "CATALOGUE_STALE"
    TRUST_LIST_STALE = "TRUST_LIST_STALE"


class VerificationError(SuishenError):
    """A code was rejected; `reason` says which rule it broke."""

    __slots__ = ("detail", "reason")

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
