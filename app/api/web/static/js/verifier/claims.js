// CWT claims (RFC 8392) of a Suishen credential and the holder's profile, as verifier/claims.py.
//
// The claims have one layout (keys in deterministic order; optional nbf, cnf and card number),
// read field by field; anything else is MALFORMED_CLAIMS. A profile carries group flags only:
// a keyed-hash subject and the attributes some scan-mode policy reads. An enterprise's code
// (法人随申码) has the subject-kind key P_KIND (1: enterprise), present only for enterprises, and
// only the enterprise's own attributes (credit_good, enterprise_region), never a person's.

import { CborError, at, readAscii, readBytes, readUint } from "./cbor.js";
import { Reason, VerificationError } from "./errors.js";
import { KeyError, equalBytes, p256Point, toHex } from "./keys.js";

export const ISS = 1, EXP = 4, NBF = 5, IAT = 6, CTI = 7, CNF = 8;
export const CTI_LENGTH = 16;
export const CARD_MAX_LIFE_S = 731 * 86400; // two years and a day: issuers cap a card at 730 days
const CARD_NUMBER_END = 2 ** 40;
const MAX_TIME = 2 ** 40;
const MAX_DAYS = 200000;
export const AGE_THRESHOLDS = [60, 65, 70, 80];
export const STUDENT_LEVELS = new Map([
  [1, "primary"],
  [2, "junior_secondary"],
  [3, "senior_secondary"],
  [4, "vocational"],
  [5, "undergraduate"],
  [6, "postgraduate"],
]);

// Profile map keys, in deterministic order.
const P_SUBJECT = 1, P_AGE_OVER = 2, P_DIS_CAT = 3, P_DIS_GRADE = 4, P_MARTYR = 5;
const P_STUDENT_LEVEL = 6, P_ENROLLED_UNTIL = 7, P_RESIDENCE = 8, P_VERSION = 9, P_ENTITLED = 10;
const P_KIND = 11, P_CREDIT_GOOD = 12, P_ENTERPRISE_REGION = 13; // enterprise codes only
const KIND_ENTERPRISE = 1;
export const ENTERPRISE_PRIVILEGE = "enterprise"; // no trust-list privilege names it: our own unrestricted keys only
const PERSON_KEYS = [P_AGE_OVER, P_DIS_CAT, P_DIS_GRADE, P_MARTYR, P_STUDENT_LEVEL, P_ENROLLED_UNTIL, P_RESIDENCE, P_ENTITLED];
const FLAGS = new Set([P_MARTYR, P_ENTITLED, P_CREDIT_GOOD]);
const inRange = (lo, hi) => (v) => v >= lo && v < hi;
const PROFILE_VALUES = {
  [P_AGE_OVER]: (v) => AGE_THRESHOLDS.includes(v),
  [P_DIS_CAT]: inRange(1, 8),
  [P_DIS_GRADE]: inRange(1, 5),
  [P_STUDENT_LEVEL]: (v) => STUDENT_LEVELS.has(v),
  [P_ENROLLED_UNTIL]: inRange(0, MAX_DAYS),
  [P_RESIDENCE]: inRange(100000, 1000000),
  [P_VERSION]: inRange(1, 2 ** 32),
  [P_KIND]: (v) => v === KIND_ENTERPRISE,
  [P_ENTERPRISE_REGION]: inRange(100000, 1000000),
};

const COSE_KEY_EC2_P256_X = Uint8Array.of(0xa1, 0x01, 0xa4, 0x01, 0x02, 0x20, 0x01, 0x21, 0x58, 0x20);
const Y_FULL = Uint8Array.of(0x22, 0x58, 0x20);
const PROFILE_CLAIM_KEY = Uint8Array.of(0x3a, 0x00, 0x01, 0x00, 0x00); // -65537
const CARD_CLAIM_KEY = Uint8Array.of(0x3a, 0x00, 0x01, 0x00, 0x01); // -65538

/** What a gate may learn about a holder; null/false means the attribute is not asserted. */
export class Profile {
  constructor(fields) {
    this.subject = fields.subject; // Uint8Array
    this.age_over = fields.age_over ?? null;
    this.disability_category = fields.disability_category ?? null;
    this.disability_grade = fields.disability_grade ?? null;
    this.martyr_family = fields.martyr_family ?? false;
    this.entitled_group = fields.entitled_group ?? false;
    this.student_level = fields.student_level ?? null;
    this.enrolled_until = fields.enrolled_until ?? null; // "YYYY-MM-DD"
    this.residence = fields.residence ?? null;
    this.version = fields.version ?? 0;
    // an enterprise's code (法人随申码): set on enterprise profiles only
    this.enterprise = fields.enterprise ?? false;
    this.credit_good = fields.credit_good ?? false;
    this.enterprise_region = fields.enterprise_region ?? null;
  }

  /** The trust-list privilege names this profile relies on. */
  privilegesAsserted() {
    const asserted = new Set();
    if (this.age_over !== null) asserted.add("age_over");
    if (this.disability_category !== null) asserted.add("disability");
    if (this.martyr_family) asserted.add("martyr_family");
    if (this.entitled_group) asserted.add("entitled_group");
    if (this.student_level !== null) asserted.add("student");
    if (this.residence !== null) asserted.add("residence");
    if (this.enterprise) asserted.add(ENTERPRISE_PRIVILEGE);
    return asserted;
  }

  /** The same object as Python's Profile.to_json(): unset attributes left out, version always there. */
  toJSON() {
    const out = {};
    for (const [name, value] of Object.entries(this)) {
      if (value === null || value === false) continue;
      out[name] = value instanceof Uint8Array ? toHex(value) : value;
    }
    return out;
  }
}

/** Parse a verified payload; anything unexpected or not deterministic is MALFORMED_CLAIMS. */
export function decodeClaims(payload) {
  try {
    return readClaims(payload);
  } catch (exc) {
    if (exc instanceof CborError) throw new VerificationError(Reason.MALFORMED_CLAIMS, exc.message);
    if (exc instanceof KeyError) throw new VerificationError(Reason.MALFORMED_CLAIMS, exc.message);
    throw exc;
  }
}

function startsAt(d, i, prefix) {
  return equalBytes(d.subarray(i, i + prefix.length), prefix);
}

function readClaims(d) {
  const count = at(d, 0) - 0xa0;
  if (!(count >= 5 && count <= 8) || at(d, 1) !== ISS) throw new CborError("claims must be a map starting with iss");
  let [issuer, i] = readAscii(d, 2);
  if (!(issuer.length > 0 && issuer.length < 24)) throw new CborError("iss must be 1 to 23 characters");
  if (at(d, i) !== EXP) throw new CborError("exp missing or out of order");
  let expiresAt;
  [expiresAt, i] = readUint(d, i + 1);
  let notBefore = null;
  if (at(d, i) === NBF) [notBefore, i] = readUint(d, i + 1);
  if (at(d, i) !== IAT) throw new CborError("iat missing or out of order");
  let issuedAt;
  [issuedAt, i] = readUint(d, i + 1);
  if (at(d, i) !== CTI || at(d, i + 1) !== 0x40 + CTI_LENGTH) throw new CborError("cti (16 bytes) missing or out of order");
  const cti = d.slice(i + 2, i + 2 + CTI_LENGTH);
  i += 2 + CTI_LENGTH;
  let devicePoint = null;
  if (at(d, i) === CNF) [devicePoint, i] = readDevicePoint(d, i + 1);
  if (!startsAt(d, i, PROFILE_CLAIM_KEY)) throw new CborError("profile claim missing, or an unknown claim");
  let profile;
  [profile, i] = readProfile(d, i + 5);
  let cardNumber = null;
  if (i !== d.length) {
    if (!startsAt(d, i, CARD_CLAIM_KEY)) throw new CborError("bytes after the claims");
    [cardNumber, i] = readUint(d, i + 5);
    if (i !== d.length) throw new CborError("bytes after the claims");
    if (!(cardNumber >= 1 && cardNumber < CARD_NUMBER_END)) throw new CborError("card number out of range");
  }
  const expected = 5 + (notBefore !== null) + (devicePoint !== null) + (cardNumber !== null);
  if (count !== expected) throw new CborError("claims map count does not match its entries");
  if (expiresAt >= MAX_TIME || expiresAt <= issuedAt || (notBefore ?? 0) >= MAX_TIME) {
    throw new CborError("exp must be after iat, and times in range");
  }
  issuedAt = Number(issuedAt);
  expiresAt = Number(expiresAt);
  if (cardNumber !== null) {
    if (devicePoint !== null) throw new CborError("a card carries no device key");
    if (expiresAt - issuedAt > CARD_MAX_LIFE_S) throw new CborError("a card lives at most two years");
  }
  return {
    issuer,
    issued_at: issuedAt,
    expires_at: expiresAt,
    cti,
    profile,
    not_before: notBefore === null ? null : Number(notBefore),
    device_point: devicePoint, // uncompressed P-256 point (65 bytes), already checked on the curve
    card_number: cardNumber === null ? null : Number(cardNumber),
    get valid_from() {
      return this.not_before === null ? this.issued_at : this.not_before;
    },
  };
}

/** cnf: {1: COSE_Key EC2 P-256}, x in full, y in full or as a sign bit. */
function readDevicePoint(d, i) {
  const end = i + COSE_KEY_EC2_P256_X.length;
  if (!startsAt(d, i, COSE_KEY_EC2_P256_X)) {
    throw new CborError("cnf must hold one EC2 P-256 COSE_Key (kty, crv, x, y in order)");
  }
  const x = d.subarray(end, end + 32);
  i = end + 32;
  let y = null;
  let odd = false;
  if (startsAt(d, i, Y_FULL)) {
    y = d.subarray(i + 3, i + 35);
    i += 35;
  } else if (at(d, i) === 0x22 && (at(d, i + 1) === 0xf4 || d[i + 1] === 0xf5)) {
    odd = d[i + 1] === 0xf5;
    i += 2;
  } else {
    throw new CborError("device key y must be 32 bytes or a sign bit");
  }
  if (i > d.length) throw new CborError("claims end early");
  return [p256Point(x, y, odd), i];
}

function readProfile(d, i) {
  const count = at(d, i) - 0xa0;
  if (!(count >= 1 && count <= 13) || at(d, i + 1) !== P_SUBJECT) {
    throw new CborError("profile must be a map starting with the subject");
  }
  let subject;
  [subject, i] = readBytes(d, i + 2);
  if (subject.length < 8 || subject.length > 32) throw new CborError("subject must be 8 to 32 bytes");
  const values = new Map();
  let last = P_SUBJECT;
  for (let k = 0; k < count - 1; k++) {
    const key = at(d, i);
    if (!(last < key && key <= P_ENTERPRISE_REGION)) throw new CborError("profile has unknown keys or keys out of order");
    last = key;
    if (FLAGS.has(key)) {
      if (at(d, i + 1) !== 0xf5) throw new CborError("profile flags are present only as true");
      values.set(key, true);
      i += 2;
      continue;
    }
    let value;
    [value, i] = readUint(d, i + 1);
    if (!PROFILE_VALUES[key](value)) throw new CborError(`profile value for key ${key} is out of range`);
    values.set(key, value);
  }
  const pairs = values.has(P_DIS_CAT) === values.has(P_DIS_GRADE) && values.has(P_STUDENT_LEVEL) === values.has(P_ENROLLED_UNTIL);
  if (!pairs) throw new CborError("disability category and grade, student level and enrolled_until come together");
  const enrolled = values.get(P_ENROLLED_UNTIL);
  const profile = new Profile({
    subject: subject.slice(),
    age_over: values.get(P_AGE_OVER),
    disability_category: values.get(P_DIS_CAT),
    disability_grade: values.get(P_DIS_GRADE),
    martyr_family: values.has(P_MARTYR),
    entitled_group: values.has(P_ENTITLED),
    student_level: values.get(P_STUDENT_LEVEL),
    enrolled_until: enrolled === undefined ? null : new Date(enrolled * 86400000).toISOString().slice(0, 10),
    residence: values.get(P_RESIDENCE),
    version: values.get(P_VERSION) ?? 0,
  });
  if (values.has(P_KIND)) {
    if (PERSON_KEYS.some((k) => values.has(k))) throw new CborError("an enterprise's profile carries no person attributes");
    profile.enterprise = true;
    profile.credit_good = values.has(P_CREDIT_GOOD);
    profile.enterprise_region = values.get(P_ENTERPRISE_REGION) ?? null;
  } else if (values.has(P_CREDIT_GOOD) || values.has(P_ENTERPRISE_REGION)) {
    throw new CborError("credit_good and enterprise_region belong to an enterprise's profile");
  }
  return [profile, i];
}
