// The SP1 code text, as verifier/code.py: `SP1:` + base45(CBOR array [credential] or
// [credential, device proof]), split strictly into its signed parts.
//
// Both COSE_Sign1 have a rigid layout ([bstr, {}, bstr, bstr], tag 18 or none), read field by
// field; the credential's exact bytes are a slice of the input (the proof's external AAD).

import { Base45Error, b45decode } from "./base45.js";
import { CborEnd, CborError, at, readUint } from "./cbor.js";
import { Sign1, parseHeader } from "./cose.js";
import { Reason, VerificationError } from "./errors.js";

export const PREFIX = "SP1:";
export const MAX_TEXT_LENGTH = 1024;
export const TIME_STEP_S = 30;
export const NONCE_LENGTH = 8;
const MAX_STEP = 2 ** 36;

/** {credential, proof|null}: nothing in it is trusted yet. Throws VerificationError only. */
export function parseCode(text) {
  if (typeof text !== "string") {
    if (!(text instanceof Uint8Array)) throw new VerificationError(Reason.MALFORMED_PREFIX, "code must be text");
    if (text.some((b) => b > 0x7f)) throw new VerificationError(Reason.MALFORMED_PREFIX, "code is not ASCII text");
    text = String.fromCharCode(...text);
  }
  // Python counts code points; a JS string counts UTF-16 units, so count again only when it matters.
  if (text.length > MAX_TEXT_LENGTH && [...text].length > MAX_TEXT_LENGTH) {
    throw new VerificationError(Reason.TOO_LARGE, `code longer than ${MAX_TEXT_LENGTH} characters`);
  }
  if (!text.startsWith(PREFIX)) throw new VerificationError(Reason.MALFORMED_PREFIX, "code does not start with SP1:");
  let raw;
  try {
    raw = b45decode(text.slice(PREFIX.length));
  } catch (exc) {
    if (exc instanceof Base45Error) throw new VerificationError(Reason.MALFORMED_BASE45, exc.message);
    throw exc;
  }
  let credential;
  let proof = null;
  let end;
  try {
    const first = at(raw, 0);
    if (first === 0x81) {
      [credential, end] = readSign1(raw, 1, true);
    } else if (first === 0x82) {
      [credential, end] = readSign1(raw, 1, true);
      [proof, end] = readSign1(raw, end, false);
    } else {
      throw new VerificationError(Reason.MALFORMED_COSE, "code must be an array of one or two COSE_Sign1");
    }
  } catch (exc) {
    if (exc instanceof CborEnd) throw new VerificationError(Reason.MALFORMED_COSE, "code ends inside a COSE_Sign1");
    throw exc;
  }
  if (end !== raw.length) throw new VerificationError(Reason.MALFORMED_COSE, "trailing bytes after the code");
  return { credential, proof };
}

function readSign1(raw, start, tagged) {
  let i = start;
  if (tagged) {
    if (raw[i] !== 0xd2 || raw[i + 1] !== 0x84) {
      throw new VerificationError(Reason.MALFORMED_COSE, "expected a tagged (18) COSE_Sign1 array of four");
    }
    i += 2;
  } else {
    if (raw[i] !== 0x84) throw new VerificationError(Reason.MALFORMED_COSE, "expected an untagged COSE_Sign1 array of four");
    i += 1;
  }
  let protectedBytes, payload, signature;
  [protectedBytes, i] = readBstr(raw, i);
  if (at(raw, i) !== 0xa0) throw new VerificationError(Reason.MALFORMED_COSE, "unprotected header must be an empty map");
  [payload, i] = readBstr(raw, i + 1);
  [signature, i] = readBstr(raw, i);
  const [alg, kid] = parseHeader(protectedBytes);
  return [new Sign1(protectedBytes, alg, kid, payload, signature, raw.subarray(start, i)), i];
}

function readBstr(raw, i) {
  const head = at(raw, i);
  let start, n;
  if (head >= 0x40 && head < 0x58) {
    start = i + 1;
    n = head - 0x40;
  } else if (head === 0x58 && at(raw, i + 1) >= 24) {
    start = i + 2;
    n = raw[i + 1];
  } else if (head === 0x59 && at(raw, i + 1) !== 0) {
    start = i + 3;
    n = (raw[i + 1] << 8) | at(raw, i + 2);
  } else {
    throw new VerificationError(Reason.MALFORMED_COSE, "expected a byte string in shortest form");
  }
  const end = start + n;
  if (end > raw.length) throw new CborEnd();
  return [raw.subarray(start, end), end];
}

/** The time step of a verified device proof payload: exactly [uint, 8-byte nonce]. */
export function readProofStep(payload) {
  try {
    if (at(payload, 0) !== 0x82) throw new CborError("not an array of two");
    const [step, i] = readUint(payload, 1);
    if (at(payload, i) !== 0x40 + NONCE_LENGTH || i + 1 + NONCE_LENGTH !== payload.length || step >= MAX_STEP) {
      throw new CborError("no 8-byte nonce at the end");
    }
    return Number(step);
  } catch (exc) {
    if (!(exc instanceof CborError)) throw exc;
    throw new VerificationError(Reason.MALFORMED_CLAIMS, "device proof must be [time step, 8-byte nonce]");
  }
}
