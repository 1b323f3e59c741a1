// The handheld's offline verifier, as verifier/verify.py: SP1 text in, a verified code or one
// reason code out, with the same checks in the same order.
//
// Structure; the freshness of the trust and revocation lists; the key; the issuer signature;
// only then the claims, the issuer's limits and the time windows; the revocation list; and the
// replay guard last, so that rejected codes never occupy it. A printed card is used once per
// venue per local day, an online code once, a holder-bound credential again only with a later
// proof step at least 30 s later. The clock is a parameter.

import { decodeClaims } from "./claims.js";
import { TIME_STEP_S, parseCode, readProofStep } from "./code.js";
import { checkSignature } from "./cose.js";
import { Reason, VerificationError } from "./errors.js";
import { ALG_NAMES, ES256, p256Check, toHex } from "./keys.js";
import { cardReplayKey, replayKey } from "./replay.js";
import { checkNotRevoked, loadRevocationList } from "./revocation.js";
import { importRootKey } from "./signed_json.js";
import { REVOKED, loadTrustList } from "./trust.js";

export const DEFAULT_CLOCK_SKEW_S = 60;
export const DEFAULT_PROOF_MAX_AGE_S = 90;
export const ONLINE = "online";
export const HOLDER_BOUND = "holder_bound";
export const CARD = "card";
export const LOCAL_OFFSET_S = 8 * 3600; // China Standard Time, no daylight saving (verifier/local_time.py)

export function localDayNumber(now) {
  return Math.floor((Math.trunc(now) + LOCAL_OFFSET_S) / 86400);
}

export function localDayEnd(dayNumber) {
  return (dayNumber + 1) * 86400 - LOCAL_OFFSET_S;
}

/**
 * The documents a handheld decides with, verified against the pinned root key:
 * `{root, trust, revocations, clockSkew, proofMaxAge}`. `revocationList` may be null (no
 * check, as Python's default); `allowStale` loads documents past their age, so that each scan
 * answers TRUST_LIST_STALE (check by hand) rather than the page holding nothing.
 */
export async function loadDocuments(
  { rootKey, trustList, revocationList = null, revocationDeltas = [] },
  now,
  { allowStale = false, clockSkew = DEFAULT_CLOCK_SKEW_S, proofMaxAge = DEFAULT_PROOF_MAX_AGE_S } = {},
) {
  const root = await importRootKey(rootKey);
  const trust = await loadTrustList(trustList, root, now, { allowStale });
  let revocations = null;
  if (revocationList !== null) {
    revocations = await loadRevocationList(revocationList, root, now, { allowStale });
    for (const delta of revocationDeltas) {
      revocations = await loadRevocationList(delta, root, now, { held: revocations, allowStale });
    }
  }
  return { root, trust, revocations, clockSkew, proofMaxAge };
}

function fail(reason, detail) {
  throw new VerificationError(reason, detail);
}

/** Verify `text` at unix time `now` for `venue`; resolves to the verified code or throws VerificationError. */
export async function verify(text, docs, replay, now, venue = "") {
  const code = parseCode(text);
  const { trust, revocations } = docs;
  const skew = docs.clockSkew ?? DEFAULT_CLOCK_SKEW_S;
  if (now > trust.expires_at) fail(Reason.TRUST_LIST_STALE, `trust list version ${trust.version} is past its max age`);
  if (revocations != null && now > revocations.expires_at) {
    fail(Reason.TRUST_LIST_STALE, `revocation list version ${revocations.version} is past its max age`);
  }
  const cred = code.credential;
  if (cred.kid === null) fail(Reason.MALFORMED_COSE, "credential has no kid");
  const kidHex = toHex(cred.kid);
  const key = trust.keys.get(kidHex);
  if (key === undefined) fail(Reason.UNKNOWN_KID, `no trusted key ${kidHex}`);
  if (key.status === REVOKED) fail(Reason.KEY_REVOKED, `key ${kidHex} is revoked`);
  if (now + skew < key.not_before || now - skew > key.not_after) {
    fail(Reason.KEY_NOT_VALID_NOW, `key ${kidHex} is outside its validity`);
  }
  await checkSignature(cred, key, new Uint8Array(0), Reason.BAD_SIGNATURE);
  const claims = decodeClaims(cred.payload);

  if (claims.issuer !== key.issuer) {
    fail(Reason.ISSUER_NOT_RECOGNISED, `iss '${claims.issuer}' is not the key's issuer '${key.issuer}'`);
  }
  if (key.limited) checkLimits(key, claims.profile);
  if (now + skew < claims.valid_from) fail(Reason.NOT_YET_VALID, "credential is not valid yet");
  if (now - skew > claims.expires_at) fail(Reason.EXPIRED, "credential has expired");

  if (revocations != null) await checkNotRevoked(revocations, cred.kid, claims, now);

  const base = { issuer: key.issuer, region: key.region, kid: kidHex, alg: ALG_NAMES.get(cred.alg), claims };
  if (claims.card_number !== null) {
    if (code.proof !== null) fail(Reason.MALFORMED_COSE, "a printed card carries no device proof");
    const day = localDayNumber(now);
    if (!(await replay.firstUse(cardReplayKey(cred.kid, claims.cti, venue, day), localDayEnd(day) + skew, now))) {
      fail(Reason.REPLAYED, "this card was already used at this venue today");
    }
    return { kind: CARD, ...base, proof_time: null };
  }
  const guardKey = replayKey(cred.kid, claims.cti);
  const guardUntil = claims.expires_at + skew;
  if (claims.device_point === null) {
    if (code.proof !== null) fail(Reason.MALFORMED_COSE, "device proof on a credential without device key");
    if (!(await replay.firstUse(guardKey, guardUntil, now))) fail(Reason.REPLAYED, "this code was already used");
    return { kind: ONLINE, ...base, proof_time: null };
  }
  if (code.proof === null) fail(Reason.DEVICE_PROOF_MISSING, "holder-bound credential shown without a device proof");
  const proofTime = await checkProof(code.proof, cred.encoded, claims, now, docs);
  if (!(await replay.firstStep(guardKey, Math.floor(proofTime / TIME_STEP_S), guardUntil, now))) {
    fail(Reason.REPLAYED, "this credential was already shown with this or a later code, or within 30 s");
  }
  return { kind: HOLDER_BOUND, ...base, proof_time: proofTime };
}

/** The issuer asserts only what its trust-list entry allows, and residence only in its province. */
function checkLimits(key, profile) {
  const beyond = [...profile.privilegesAsserted()].filter((p) => !key.privileges.has(p)).sort();
  if (beyond.length) fail(Reason.ISSUER_NOT_RECOGNISED, `issuer ${key.issuer} may not assert ${beyond.join(", ")}`);
  const province = key.residence_province;
  if (province !== null && profile.residence !== null && Math.floor(profile.residence / 10000) !== province) {
    fail(
      Reason.ISSUER_NOT_RECOGNISED,
      `issuer ${key.issuer} may assert residence in ${key.residence_region} only, not ${profile.residence}`,
    );
  }
}

async function checkProof(proof, credential, claims, now, docs) {
  if (proof.kid !== null) fail(Reason.MALFORMED_COSE, "device proof must not carry a kid");
  const device = { alg: ES256, check: await p256Check(claims.device_point), manual: null };
  await checkSignature(proof, device, credential, Reason.BAD_DEVICE_SIGNATURE);
  const proofTime = readProofStep(proof.payload) * TIME_STEP_S;
  const maxAge = docs.proofMaxAge ?? DEFAULT_PROOF_MAX_AGE_S;
  if (proofTime > now + (docs.clockSkew ?? DEFAULT_CLOCK_SKEW_S)) fail(Reason.PROOF_IN_FUTURE, "device proof is dated in the future");
  if (now - proofTime > maxAge) fail(Reason.PROOF_TOO_OLD, `device proof older than ${maxAge} s`);
  return proofTime;
}

/** The verified code as Python's VerifiedCode.to_json(): `card_number` on cards only. */
export function codeJson(verified) {
  const c = verified.claims;
  const out = {
    kind: verified.kind,
    issuer: verified.issuer,
    region: verified.region,
    kid: verified.kid,
    alg: verified.alg,
    issued_at: c.issued_at,
    expires_at: c.expires_at,
    proof_time: verified.proof_time,
    profile: c.profile.toJSON(),
  };
  if (c.card_number !== null) out.card_number = c.card_number;
  return out;
}

/**
 * `{ok: true, code}` with the code as VerifiedCode.to_json(), or `{ok: false, reason, detail}`
 * (and `manual: true` where this browser cannot check the issuer's algorithm).
 * `replay` is a guard from replay.js; `venueId` counts a printed card's once-a-day use.
 */
export async function verifyCode(text, docs, replay, nowSeconds, venueId = "") {
  try {
    const verified = await verify(text, docs, replay, nowSeconds, venueId);
    return { ok: true, code: codeJson(verified), verified };
  } catch (exc) {
    if (!(exc instanceof VerificationError)) throw exc;
    const out = { ok: false, reason: exc.reason, detail: exc.detail };
    if (exc.manual) out.manual = true;
    return out;
  }
}
