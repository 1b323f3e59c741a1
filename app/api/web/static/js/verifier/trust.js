// Signed trust lists for the handheld (keys/trust_list.py, verifier/trust.py): which issuer keys
// it accepts, for what, and until when, checked against the pinned root key.
//
// Every entry's public key is imported into WebCrypto when the list is loaded (and kept across
// reloads of the same key), so a scan only looks a kid up and checks one signature.

import { importPublicKey, toHex } from "./keys.js";
import { SignedDocumentError, unb64url, openDocument } from "./signed_json.js";

export const FORMAT = "suishen-trust-list/1";
export const ISSUED_AT_SKEW_S = 300;
export const REVOKED = "revoked";
export const STATUSES = ["active", "retired", REVOKED];
export const ALL_PRIVILEGES = ["age_over", "disability", "martyr_family", "entitled_group", "student", "residence"];

export class TrustListError extends SignedDocumentError {
  constructor(message) {
    super(message);
    this.name = "TrustListError";
  }
}

export const isInt = (v) => typeof v === "number" || typeof v === "bigint"; // floats parse as PyFloat

/** a + b for JSON integers, exact past 2^53. */
export function addInt(a, b) {
  const sum = a + (typeof a === typeof b ? b : 0);
  if (typeof a === "number" && typeof b === "number" && Number.isSafeInteger(sum)) return sum;
  return BigInt(a) + BigInt(b);
}

const KINDS = {
  int: [isInt, "int"],
  str: [(v) => typeof v === "string", "str"],
  list: [Array.isArray, "list"],
};

function field(obj, name, kind, where, ErrorClass = TrustListError) {
  const value = obj.get(name);
  const [test, label] = KINDS[kind];
  if (!test(value)) throw new ErrorClass(`${where}.${name} must be ${label}, found ${JSON.stringify(String(value))}`);
  return value;
}

/** A verified trust list, as verifier.trust.TrustStore: keys by kid (hex), and when it goes stale. */
export class TrustStore {
  constructor({ version, issued_at, max_age, keys }) {
    this.version = version;
    this.issued_at = issued_at;
    this.max_age = max_age;
    this.expires_at = addInt(issued_at, max_age);
    this.keys = new Map(keys.map((k) => [k.kidHex, k]));
  }

  get(kid) {
    return this.keys.get(toHex(kid));
  }
}

/**
 * Verify and parse a trust list (bytes or text) against `root` (from importRootKey) at unix
 * time `now`; throws TrustListError. `allowStale` skips the time checks: for a list already
 * held, whose staleness each scan then reports as TRUST_LIST_STALE.
 */
export async function loadTrustList(document, root, now, { allowStale = false } = {}) {
  const payload = await openDocument(document, root, "trust list", TrustListError);
  if (payload.get("format") !== FORMAT) {
    throw new TrustListError(`trust list format must be '${FORMAT}', found ${JSON.stringify(String(payload.get("format")))}`);
  }
  const version = field(payload, "version", "int", "payload");
  const issuedAt = field(payload, "issued_at", "int", "payload");
  const maxAge = field(payload, "max_age", "int", "payload");
  if (issuedAt > now + ISSUED_AT_SKEW_S && !allowStale) {
    throw new TrustListError(`trust list version ${version} is issued in the future (${issuedAt})`);
  }
  if (maxAge < 0) throw new TrustListError(`trust list version ${version} has a negative max_age`);
  if (now > addInt(issuedAt, maxAge) && !allowStale) {
    throw new TrustListError(`trust list version ${version} is stale: issued ${issuedAt}, max age ${maxAge} s`);
  }
  const entries = field(payload, "keys", "list", "payload");
  const keys = [];
  const seen = new Set();
  for (let i = 0; i < entries.length; i++) {
    const where = `payload.keys[${i}]`;
    if (!(entries[i] instanceof Map)) throw new TrustListError(`${where} must be an object`);
    const key = await parseKey(entries[i], where);
    if (seen.has(key.kidHex)) throw new TrustListError(`${where}: duplicate kid ${key.kidHex}`);
    seen.add(key.kidHex);
    keys.push(key);
  }
  return new TrustStore({ version, issued_at: issuedAt, max_age: maxAge, keys });
}

const imported = new Map(); // public_key text -> Promise of the imported key, across loads
const IMPORTED_MAX = 4096;

function importOnce(text) {
  let promise = imported.get(text);
  if (promise === undefined) {
    if (imported.size >= IMPORTED_MAX) imported.clear();
    // A key that cannot be imported (damaged, or of an algorithm WebCrypto lacks) comes back null.
    promise = Promise.resolve()
      .then(() => importPublicKey(unb64url(text)))
      .catch(() => null);
    imported.set(text, promise);
  }
  return promise;
}

async function parseKey(raw, where) {
  const algName = field(raw, "alg", "str", where);
  const alg = { ES256: -7, ES384: -35, EdDSA: -8, SM2: -65600 }[algName];
  if (alg === undefined) throw new TrustListError(`${where}.alg '${algName}' is not one of ['ES256', 'ES384', 'EdDSA', 'SM2']`);
  const publicKey = await importOnce(field(raw, "public_key", "str", where));
  if (publicKey === null) throw new TrustListError(`${where}.public_key is not a usable SubjectPublicKeyInfo`);
  if (publicKey.alg !== alg) throw new TrustListError(`${where}: public key does not match alg ${algName}`);
  const kidHex = toHex(publicKey.kid);
  if (field(raw, "kid", "str", where) !== kidHex) {
    throw new TrustListError(`${where}.kid does not match the public key (expected ${kidHex})`);
  }
  const status = field(raw, "status", "str", where);
  if (!STATUSES.includes(status)) throw new TrustListError(`${where}.status '${status}' is not one of ${STATUSES}`);
  const privileges = field(raw, "privileges", "list", where);
  if (!privileges.every((p) => typeof p === "string")) throw new TrustListError(`${where}.privileges must be a list of strings`);
  const residenceRegion = raw.has("residence_region") ? raw.get("residence_region") : null;
  if (residenceRegion !== null && !(typeof residenceRegion === "string" && /^[0-9]{6}$/.test(residenceRegion))) {
    throw new TrustListError(`${where}.residence_region must be a six-digit region code`);
  }
  const privilegeSet = new Set(privileges);
  return {
    kid: publicKey.kid,
    kidHex,
    alg,
    issuer: field(raw, "issuer", "str", where),
    region: field(raw, "region", "str", where),
    not_before: field(raw, "not_before", "int", where),
    not_after: field(raw, "not_after", "int", where),
    status,
    privileges: privilegeSet,
    residence_region: residenceRegion,
    residence_province: residenceRegion === null ? null : Number(residenceRegion.slice(0, 2)),
    // True when the key may assert less than everything: the scan path tests this one flag.
    limited: residenceRegion !== null || !ALL_PRIVILEGES.every((p) => privilegeSet.has(p)),
    check: publicKey.check,
    manual: publicKey.manual,
  };
}
