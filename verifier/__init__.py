"""Everything a gate needs offline: the SP1 code format, trust store, replay guard, verifier."""

from verifier.errors import Reason, VerificationError

__all__ = ["Reason", "VerificationError"]
