// Signed revocation lists for the handheld (keys/revocation_list.py, verifier/revocation.py):
// single credentials and whole subjects withdrawn before their codes expire.
//
// The document is signed by the trust-list root exactly as the trust list is. `credentials`
// holds [id, until] with id the hex of SHA-256(kid || cti)[:8]; `subjects` holds
// [subject, before, until]: every credential of that subject (the day pseudonym a code
// carries) issued before `before`. `since: V` makes a delta that applies only on version V.
// The check runs after the signature, claims and time windows, before the replay guard.

import { Reason, VerificationError } from "./errors.js";
import { concatBytes, sha256, toHex } from "./keys.js";
import { SignedDocumentError, openDocument } from "./signed_json.js";
import { addInt, isInt } from "./trust.js";

export const FORMAT = "suishen-revocation-list/1";
export const ISSUED_AT_SKEW_S = 300;
export const MAX_ENTRIES = 2_000_000;
export const MAX_DOCUMENT_BYTES = 128 * 1024 * 1024;
const MAX_TIME = 2 ** 40;

export class RevocationListError extends SignedDocumentError {
  constructor(message) {
    super(message);
    this.name = "RevocationListError";
  }
}

/** A verified list: credential ids (hex) -> until, subjects (hex) -> [before, until]. */
export class RevocationList {
  constructor(version, issuedAt, maxAge, credentials = new Map(), subjects = new Map()) {
    this.version = version;
    this.issued_at = issuedAt;
    this.max_age = maxAge;
    this.credentials = credentials;
    this.subjects = subjects;
  }

  get expires_at() {
    return addInt(this.issued_at, this.max_age);
  }

  get size() {
    return this.credentials.size + this.subjects.size;
  }

  addCredential(id, until) {
    this.credentials.set(id, Math.max(until, this.credentials.get(id) ?? 0));
  }

  /** A later `before` covers every earlier one, so one entry per subject is enough. */
  addSubject(subject, before, until) {
    const held = this.subjects.get(subject);
    if (held !== undefined) {
      before = Math.max(before, held[0]);
      until = Math.max(until, held[1]);
    }
    this.subjects.set(subject, [before, until]);
  }

  /** Drop entries no live credential can match any more. */
  prune(now) {
    for (const [k, until] of this.credentials) if (!(until >= now)) this.credentials.delete(k);
    for (const [k, [, until]] of this.subjects) if (!(until >= now)) this.subjects.delete(k);
  }
}

function nonNegative(payload, name) {
  const value = payload.get(name);
  if (!isInt(value) || value < 0) {
    throw new RevocationListError(`revocation list '${name}' must be a non-negative integer`);
  }
  return value;
}

function list(payload, name) {
  const value = payload.get(name);
  if (!Array.isArray(value)) throw new RevocationListError(`revocation list '${name}' must be a list`);
  return value;
}

function time(value, where) {
  if (typeof value !== "number" || !(value >= 0 && value < MAX_TIME)) {
    throw new RevocationListError(`${where} must be a time in unix seconds`);
  }
  return value;
}

function hex(value, where, min, max) {
  if (typeof value !== "string" || !/^(?:[0-9a-f]{2})*$/.test(value) || value.length < 2 * min || value.length > 2 * max) {
    throw new RevocationListError(`${where} must be lower-case hex of ${min} to ${max} bytes`);
  }
  return value;
}

function byteLength(document) {
  if (typeof document !== "string") return document.byteLength;
  return document.length * 3 <= MAX_DOCUMENT_BYTES ? document.length : new TextEncoder().encode(document).length;
}

/**
 * Verify a whole list or a delta (bytes or text) against `root` at unix time `now`; a delta is
 * applied on a copy of `held`, which is never changed. Throws RevocationListError.
 * `allowStale` skips the time checks: for a list already verified and kept.
 */
export async function loadRevocationList(document, root, now, { held = null, allowStale = false } = {}) {
  if (byteLength(document) > MAX_DOCUMENT_BYTES) {
    throw new RevocationListError(`revocation list larger than ${MAX_DOCUMENT_BYTES} bytes`);
  }
  const payload = await openDocument(document, root, "revocation list", RevocationListError);
  if (payload.get("format") !== FORMAT) throw new RevocationListError(`revocation list format must be '${FORMAT}'`);
  const version = nonNegative(payload, "version");
  const issuedAt = nonNegative(payload, "issued_at");
  const maxAge = nonNegative(payload, "max_age");
  const since = payload.has("since") ? payload.get("since") : null;
  if (since !== null && (!isInt(since) || since < 0)) {
    throw new RevocationListError("revocation list 'since' must be null or a version");
  }
  if (!allowStale) {
    if (issuedAt > now + ISSUED_AT_SKEW_S) {
      throw new RevocationListError(`revocation list version ${version} is issued in the future (${issuedAt})`);
    }
    if (now > addInt(issuedAt, maxAge)) {
      throw new RevocationListError(`revocation list version ${version} is stale: issued ${issuedAt}, max age ${maxAge} s`);
    }
  }
  let result;
  if (since === null) {
    result = new RevocationList(version, issuedAt, maxAge);
  } else {
    if (held === null) throw new RevocationListError(`revocation list delta since version ${since}, but no list is held`);
    if (held.version !== since) {
      throw new RevocationListError(
        `revocation list delta since version ${since} does not apply to the held version ${held.version}`,
      );
    }
    if (version <= since) throw new RevocationListError(`revocation list delta to version ${version} is not after ${since}`);
    result = new RevocationList(version, issuedAt, maxAge, new Map(held.credentials), new Map(held.subjects));
  }
  const credentials = list(payload, "credentials");
  const subjects = list(payload, "subjects");
  if (credentials.length + subjects.length + result.size > MAX_ENTRIES) {
    throw new RevocationListError(`revocation list holds more than ${MAX_ENTRIES} entries`);
  }
  credentials.forEach((entry, i) => {
    if (!(Array.isArray(entry) && entry.length === 2)) throw new RevocationListError(`credentials[${i}] must be [id, until]`);
    result.addCredential(hex(entry[0], `credentials[${i}] id`, 8, 8), time(entry[1], `credentials[${i}] until`));
  });
  subjects.forEach((entry, i) => {
    if (!(Array.isArray(entry) && entry.length === 3)) {
      throw new RevocationListError(`subjects[${i}] must be [subject, before, until]`);
    }
    const subject = hex(entry[0], `subjects[${i}] subject`, 8, 32);
    result.addSubject(subject, time(entry[1], `subjects[${i}] before`), time(entry[2], `subjects[${i}] until`));
  });
  if (!allowStale) result.prune(now);
  return result;
}

/** The short name of one credential in a revocation list (hex): it reveals neither kid nor cti. */
export async function credentialId(kid, cti) {
  return toHex((await sha256(concatBytes(kid, cti))).subarray(0, 8));
}

/** Throw CREDENTIAL_REVOKED when an entry still in force covers this credential. */
export async function checkNotRevoked(revocations, kid, claims, now) {
  const until = revocations.credentials.get(await credentialId(kid, claims.cti));
  if (until !== undefined && until >= now) {
    throw new VerificationError(Reason.CREDENTIAL_REVOKED, "this credential was withdrawn");
  }
  const subject = revocations.subjects.get(toHex(claims.profile.subject));
  if (subject !== undefined && claims.issued_at < subject[0] && subject[1] >= now) {
    throw new VerificationError(
      Reason.CREDENTIAL_REVOKED,
      "every credential of this holder issued before a change was withdrawn",
    );
  }
}
