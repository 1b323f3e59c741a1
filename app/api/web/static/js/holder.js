// The holder-bound Suishen code, made in the browser (docs/api.md "Proof of possession").
//
// The device key is a non-extractable WebCrypto P-256 key. Every 30 s the page signs a device
// proof: an untagged COSE_Sign1 with protected header {1: -7} (ES256), an empty unprotected
// map, payload [floor(now / 30), 8 random bytes] and the credential's bytes as external AAD.
// QR text: "SP1:" + base45(0x82 + credential + proof). Python reference: verifier/code.py.

import { b45encode } from "./base45.js";
import { concat, encode } from "./cbor.js";

export const TIME_STEP_S = 30;
export const PREFIX = "SP1:";
const PROTECTED_ES256 = encode(new Map([[1, -7]])); // a1 01 26
const ECDSA = { name: "ECDSA", hash: "SHA-256" };

export function b64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromB64url(text) {
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** A new device key pair; the private half can sign but never leave the browser. */
export async function generateDeviceKey() {
  return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
}

/** The public key as the JWK subset /v1/credentials takes. */
export async function publicJwk(keyPair) {
  const jwk = await crypto.subtle.exportKey("jwk", keyPair.publicKey);
  return { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y };
}

async function sign(privateKey, data) {
  return new Uint8Array(await crypto.subtle.sign(ECDSA, privateKey, data)); // raw r||s, 64 bytes
}

/** The body of POST /v1/credentials: public key and proof of possession at unix time t. */
export async function credentialRequest(keyPair, t) {
  const key = await publicJwk(keyPair);
  const msg = new TextEncoder().encode(`suishen-pop:${t}:${key.x}:${key.y}`);
  return { public_key: key, pop: { t, signature: b64url(await sign(keyPair.privateKey, msg)) } };
}

export function timeStep(nowSeconds) {
  return Math.floor(nowSeconds / TIME_STEP_S);
}

/** Untagged COSE_Sign1 over [time step, nonce], bound to the credential by external AAD. */
export async function deviceProof(credential, privateKey, nowSeconds, nonce) {
  const n = nonce ?? crypto.getRandomValues(new Uint8Array(8));
  if (n.length !== 8) throw new RangeError("nonce must be 8 bytes");
  const payload = encode([timeStep(nowSeconds), n]);
  const toSign = encode(["Signature1", PROTECTED_ES256, credential, payload]);
  const signature = await sign(privateKey, toSign);
  return encode([PROTECTED_ES256, new Map(), payload, signature]);
}

/** The QR text of a holder-bound code: credential bytes and a fresh device proof. */
export async function holderCode(credential, privateKey, nowSeconds, nonce) {
  const proof = await deviceProof(credential, privateKey, nowSeconds, nonce);
  return PREFIX + b45encode(concat(Uint8Array.of(0x82), credential, proof));
}

/** Seconds until the next time step begins. */
export function secondsToNextStep(nowSeconds) {
  return TIME_STEP_S - (nowSeconds % TIME_STEP_S);
}
