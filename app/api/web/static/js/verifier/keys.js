// Algorithms and public keys for the handheld (keys/algorithms.py): COSE ids, SubjectPublicKeyInfo
// import through WebCrypto, kid, and a `(signature, data) -> Promise<bool>` check per key.
//
// A key is imported once, when its document is loaded, and its check is kept beside it, so a
// scan costs the signature check alone. COSE signatures are fixed-width r||s, which is also
// WebCrypto's ECDSA format, so no DER conversion is needed here. Ed25519 is used where the
// browser has it; SM2 never is (WebCrypto has no SM2): such keys are kept, with the sentence
// staff see, so that their codes are named and sent to a check by hand.

export const ES256 = -7;
export const ES384 = -35;
export const EDDSA = -8;
export const SM2 = -65600; // private-use id, as keys/algorithms.py (gmssl-pyx installed)

export const ALG_NAMES = new Map([
  [ES256, "ES256"],
  [ES384, "ES384"],
  [EDDSA, "EdDSA"],
  [SM2, "SM2"],
]);
export const ALG_IDS = new Map([...ALG_NAMES].map(([id, name]) => [name, id]));

export const MANUAL_EDDSA = "check by hand: this browser cannot check this issuer";
export const MANUAL_SM2 = "check by hand: this handheld cannot check SM2 signatures";

export class KeyError extends Error {
  constructor(message) {
    super(message);
    this.name = "KeyError";
  }
}

const subtle = globalThis.crypto.subtle;
const EC = {
  [ES256]: { namedCurve: "P-256", hash: "SHA-256", width: 32 },
  [ES384]: { namedCurve: "P-384", hash: "SHA-384", width: 48 },
};
const OID_EC = "2a8648ce3d0201";
const OID_P256 = "2a8648ce3d030107";
const OID_P384 = "2b81040022";
const OID_ED25519 = "2b6570";
// SubjectPublicKeyInfo of an SM2 key = this prefix + the 64-byte point (keys/sm2.py SPKI_PREFIX).
const SM2_SPKI_PREFIX = fromHex("3059301306072a8648ce3d020106082a811ccf5501822d03420004");

export function fromHex(text) {
  const out = new Uint8Array(text.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
export function toHex(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

export function concatBytes(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function sha256(data) {
  return new Uint8Array(await subtle.digest("SHA-256", data));
}

/** kid = first 8 bytes of SHA-256 over the key's SubjectPublicKeyInfo DER (as written by Python). */
export async function kidOf(spki) {
  return (await sha256(spki)).subarray(0, 8);
}

let ed25519Support = null;
/** Whether this browser's WebCrypto has Ed25519 (Chromium does); asked once. */
export function hasEd25519() {
  if (ed25519Support === null) {
    const rfc8032 = fromHex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    ed25519Support = subtle.importKey("raw", rfc8032, { name: "Ed25519" }, true, ["verify"]).then(
      () => true,
      () => false,
    );
  }
  return ed25519Support;
}

// ---- a few DER reads: enough to name the algorithm of a SubjectPublicKeyInfo ----

function derItem(der, i) {
  if (i + 2 > der.length) throw new KeyError("DER ends early");
  const tag = der[i];
  let n = der[i + 1];
  let start = i + 2;
  if (n & 0x80) {
    const width = n & 0x7f;
    if (width === 0 || width > 3 || start + width > der.length) throw new KeyError("DER length");
    n = 0;
    for (let k = 0; k < width; k++) n = n * 256 + der[start + k];
    start += width;
  }
  if (start + n > der.length) throw new KeyError("DER ends early");
  return { tag, start, end: start + n };
}

function spkiAlgorithm(der) {
  const outer = derItem(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new KeyError("not a SEQUENCE");
  const algo = derItem(der, outer.start);
  if (algo.tag !== 0x30) throw new KeyError("no AlgorithmIdentifier");
  const oid = derItem(der, algo.start);
  if (oid.tag !== 0x06) throw new KeyError("no algorithm OID");
  const name = toHex(der.subarray(oid.start, oid.end));
  if (name === OID_ED25519) return EDDSA;
  if (name !== OID_EC || oid.end >= algo.end) throw new KeyError("only EC, Ed25519 and SM2 public keys are accepted");
  const curve = derItem(der, oid.end);
  const curveName = curve.tag === 0x06 ? toHex(der.subarray(curve.start, curve.end)) : "";
  if (curveName === OID_P256) return ES256;
  if (curveName === OID_P384) return ES384;
  throw new KeyError("a public key of an algorithm or curve this verifier does not support");
}

/**
 * A public key from SubjectPublicKeyInfo DER, ready to check signatures:
 * `{alg, kid, spki, check(signature, data) -> Promise<bool>, manual}`; `manual` is the sentence
 * for staff when this browser cannot check the key's signatures (then `check` is null).
 * Throws KeyError for anything keys.algorithms.load_public_key refuses.
 */
export async function importPublicKey(spki) {
  spki = new Uint8Array(spki);
  if (startsWith(spki, SM2_SPKI_PREFIX)) {
    if (spki.length !== SM2_SPKI_PREFIX.length + 64) throw new KeyError("a damaged SM2 SubjectPublicKeyInfo");
    const point = spki.subarray(SM2_SPKI_PREFIX.length);
    if (!onCurve(SM2_CURVE, bigint(point.subarray(0, 32)), bigint(point.subarray(32)))) {
      throw new KeyError("not a point on the SM2 curve");
    }
    return { alg: SM2, kid: await kidOf(spki), spki, check: null, manual: MANUAL_SM2 };
  }
  const alg = spkiAlgorithm(spki);
  if (alg === EDDSA) {
    if (!(await hasEd25519())) {
      if (spki.length !== 44 || toHex(spki.subarray(0, 12)) !== "302a300506032b6570032100") {
        throw new KeyError("not a usable Ed25519 SubjectPublicKeyInfo");
      }
      return { alg, kid: await kidOf(spki), spki, check: null, manual: MANUAL_EDDSA };
    }
    const key = await importOrFail(spki, { name: "Ed25519" });
    const canonical = new Uint8Array(await subtle.exportKey("spki", key));
    const check = (signature, data) => subtle.verify({ name: "Ed25519" }, key, signature, data);
    return { alg, kid: await kidOf(canonical), spki: canonical, check, manual: null };
  }
  const { namedCurve, hash, width } = EC[alg];
  const key = await importOrFail(spki, { name: "ECDSA", namedCurve });
  const canonical = new Uint8Array(await subtle.exportKey("spki", key));
  return { alg, kid: await kidOf(canonical), spki: canonical, check: ecdsaCheck(key, hash, width), manual: null };
}

async function importOrFail(spki, algorithm) {
  try {
    return await subtle.importKey("spki", spki, algorithm, true, ["verify"]);
  } catch {
    throw new KeyError("not a usable SubjectPublicKeyInfo");
  }
}

function ecdsaCheck(key, hash, width) {
  const params = { name: "ECDSA", hash };
  return async (signature, data) => signature.length === 2 * width && subtle.verify(params, key, signature, data);
}

/** The ES256 check for a device key (an uncompressed P-256 point already on the curve). */
export async function p256Check(point) {
  const key = await subtle.importKey("raw", point, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  return ecdsaCheck(key, "SHA-256", 32);
}

function startsWith(bytes, prefix) {
  return bytes.length >= prefix.length && equalBytes(bytes.subarray(0, prefix.length), prefix);
}

// ---- curve arithmetic: enough to accept exactly the points Python's from_encoded_point accepts ----

function bigint(bytes) {
  return bytes.length ? BigInt("0x" + toHex(bytes)) : 0n;
}

const P256_CURVE = {
  p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
  a: -3n,
  b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
};
const SM2_CURVE = {
  p: 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn,
  a: 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn,
  b: 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n,
};

function mod(v, p) {
  const r = v % p;
  return r < 0n ? r + p : r;
}

function rhs({ p, a, b }, x) {
  return mod(x * x * x + a * x + b, p);
}

function onCurve(curve, x, y) {
  return x < curve.p && y < curve.p && mod(y * y, curve.p) === rhs(curve, x);
}

function powMod(base, exponent, p) {
  let result = 1n;
  base = mod(base, p);
  while (exponent > 0n) {
    if (exponent & 1n) result = (result * base) % p;
    base = (base * base) % p;
    exponent >>= 1n;
  }
  return result;
}

function toBytes32(v) {
  return fromHex(v.toString(16).padStart(64, "0"));
}

/**
 * The uncompressed P-256 point (0x04 || x || y) for x and either y (32 bytes) or a sign bit
 * (odd: true/false); throws KeyError when it is not a point on the curve.
 */
export function p256Point(x, y, odd) {
  const { p } = P256_CURVE;
  const xs = bigint(x);
  if (x.length !== 32) throw new KeyError("device key x must be 32 bytes");
  if (y !== null) {
    if (y.length !== 32 || !onCurve(P256_CURVE, xs, bigint(y))) throw new KeyError("device key is not a point on P-256");
    return concatBytes(Uint8Array.of(4), x, y);
  }
  if (xs >= p) throw new KeyError("device key is not a point on P-256");
  const r = rhs(P256_CURVE, xs);
  let ys = powMod(r, (p + 1n) / 4n, p); // p = 3 (mod 4)
  if ((ys * ys) % p !== r) throw new KeyError("device key is not a point on P-256");
  if ((ys & 1n) !== (odd ? 1n : 0n)) ys = p - ys;
  return concatBytes(Uint8Array.of(4), x, toBytes32(ys));
}
