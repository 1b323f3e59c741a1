// COSE_Sign1 (RFC 9052 §4.2) for the handheld, as verifier/cose.py: the protected header read
// strictly, the Sig_structure built by concatenation, and the signature checked by the key's
// own algorithm, never the one the message claims.

import { CborError, loads } from "./cbor.js";
import { Reason, VerificationError } from "./errors.js";
import { ALG_NAMES, concatBytes, toHex } from "./keys.js";

export const COSE_SIGN1_TAG = 18;
export const HEADER_ALG = 1;
export const HEADER_KID = 4;
const SIG1_CONTEXT = Uint8Array.of(0x84, 0x6a, ...new TextEncoder().encode("Signature1"));

/** A COSE_Sign1 split into its parts; `encoded` is the whole item as read (the proof's external AAD). */
export class Sign1 {
  constructor(protectedBytes, alg, kid, payload, signature, encoded) {
    this.protectedBytes = protectedBytes;
    this.alg = alg;
    this.kid = kid;
    this.payload = payload;
    this.signature = signature;
    this.encoded = encoded;
  }
}

function bstrHead(n) {
  if (n < 24) return Uint8Array.of(0x40 | n);
  if (n < 0x100) return Uint8Array.of(0x58, n);
  if (n < 0x10000) return Uint8Array.of(0x59, n >> 8, n & 0xff);
  return Uint8Array.of(0x5a, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

/** Sig_structure for COSE_Sign1: ["Signature1", protected, external_aad, payload]. */
export function sigStructure(protectedBytes, externalAad, payload) {
  return concatBytes(
    SIG1_CONTEXT,
    bstrHead(protectedBytes.length),
    protectedBytes,
    bstrHead(externalAad.length),
    externalAad,
    bstrHead(payload.length),
    payload,
  );
}

const headerCache = new Map();
const HEADER_CACHE_SIZE = 256;

/** [alg, kid] from a protected header: deterministic CBOR, a map of alg and kid only. */
export function parseHeader(protectedBytes) {
  const cacheKey = toHex(protectedBytes);
  let parsed = headerCache.get(cacheKey);
  if (parsed === undefined) {
    parsed = readHeader(protectedBytes);
    if (headerCache.size >= HEADER_CACHE_SIZE) headerCache.clear();
    headerCache.set(cacheKey, parsed);
  }
  if (parsed instanceof VerificationError) throw parsed;
  return parsed;
}

function readHeader(protectedBytes) {
  let header;
  try {
    header = loads(protectedBytes);
  } catch (exc) {
    if (!(exc instanceof CborError)) throw exc;
    return new VerificationError(Reason.MALFORMED_COSE, `protected header: ${exc.message}`);
  }
  if (!(header instanceof Map)) return new VerificationError(Reason.MALFORMED_COSE, "protected header must be a map");
  for (const key of header.keys()) {
    if (key !== HEADER_ALG && key !== HEADER_KID) {
      return new VerificationError(Reason.MALFORMED_COSE, "protected header holds unexpected parameters");
    }
  }
  const alg = header.get(HEADER_ALG);
  if (typeof alg !== "number" && typeof alg !== "bigint") {
    return new VerificationError(Reason.UNSUPPORTED_ALG, "protected header has no integer alg");
  }
  if (!ALG_NAMES.has(alg)) return new VerificationError(Reason.UNSUPPORTED_ALG, `alg ${alg} is not allowed`);
  const kid = header.has(HEADER_KID) ? header.get(HEADER_KID) : null;
  if (kid !== null && !(kid instanceof Uint8Array)) {
    return new VerificationError(Reason.MALFORMED_COSE, "kid must be a byte string");
  }
  return [alg, kid === null ? null : kid.slice()];
}

/**
 * Check `message` with `key` ({alg, check, manual}): the key's own algorithm must be the
 * message's; `manual` (an algorithm this browser lacks) sends the code to a check by hand.
 */
export async function checkSignature(message, key, externalAad, reason) {
  if (key.alg !== message.alg) {
    throw new VerificationError(Reason.UNSUPPORTED_ALG, `alg ${message.alg} does not match the key's algorithm`);
  }
  if (key.manual) throw new VerificationError(Reason.UNSUPPORTED_ALG, key.manual, { manual: true });
  const data = sigStructure(message.protectedBytes, externalAad, message.payload);
  if (!(await key.check(message.signature, data))) throw new VerificationError(reason, "signature does not verify");
}
