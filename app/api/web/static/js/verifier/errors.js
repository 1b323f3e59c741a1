// The one error the handheld's verifier raises, and the reason codes it carries (verifier/errors.py).
//
// Every rejection is a VerificationError whose `reason` is one of DESIGN.md's codes; `detail`
// is a short sentence for staff. `manual` marks the answers where this browser cannot decide
// (an algorithm it lacks) and staff must check by hand.

export const Reason = Object.freeze({
  MALFORMED_PREFIX: "MALFORMED_PREFIX",
  MALFORMED_BASE45: "MALFORMED_BASE45",
  MALFORMED_COSE: "MALFORMED_COSE",
  MALFORMED_CLAIMS: "MALFORMED_CLAIMS",
  TOO_LARGE: "TOO_LARGE",
  UNSUPPORTED_ALG: "UNSUPPORTED_ALG",
  UNKNOWN_KID: "UNKNOWN_KID",
  KEY_NOT_VALID_NOW: "KEY_NOT_VALID_NOW",
  KEY_REVOKED: "KEY_REVOKED",
  BAD_SIGNATURE: "BAD_SIGNATURE",
  NOT_YET_VALID: "NOT_YET_VALID",
  EXPIRED: "EXPIRED",
  DEVICE_PROOF_MISSING: "DEVICE_PROOF_MISSING",
  BAD_DEVICE_SIGNATURE: "BAD_DEVICE_SIGNATURE",
  PROOF_TOO_OLD: "PROOF_TOO_OLD",
  PROOF_IN_FUTURE: "PROOF_IN_FUTURE",
  REPLAYED: "REPLAYED",
  CREDENTIAL_REVOKED: "CREDENTIAL_REVOKED",
  ISSUER_NOT_RECOGNISED: "ISSUER_NOT_RECOGNISED",
  NOT_ELIGIBLE: "NOT_ELIGIBLE",
  NO_POLICY_FOR_VENUE: "NO_POLICY_FOR_VENUE",
  CATALOGUE_STALE: "CATALOGUE_STALE",
  TRUST_LIST_STALE: "TRUST_LIST_STALE",
});

export class VerificationError extends Error {
  constructor(reason, detail = "", { manual = false } = {}) {
    super(detail ? `${reason}: ${detail}` : reason);
    this.name = "VerificationError";
    this.reason = reason;
    this.detail = detail;
    this.manual = manual;
  }
}
