// Signed JSON documents (keys/signed_json.py): a `payload` and a detached signature over the
// payload's canonical JSON, made with the trust-list root key the handheld is pinned to.
//
// The signature covers Python's canonical JSON (sorted keys, no spaces, UTF-8, non-ASCII as
// is), so the document is parsed the way Python's json module parses it: integers of any size
// (BigInt past 2^53) apart from floats (kept as PyFloat and written back as Python's repr),
// NaN and Infinity allowed, duplicate keys the last one winning. Objects come back as Map.

import { ALG_IDS, ALG_NAMES, KeyError, importPublicKey, toHex } from "./keys.js";

export class SignedDocumentError extends Error {
  constructor(message) {
    super(message);
    this.name = "SignedDocumentError";
  }
}

/** A JSON number with a fraction or exponent: a Python float, never an int. */
export class PyFloat {
  constructor(value) {
    this.value = value;
  }
}

class JsonError extends Error {}

const MAX_DEPTH = 900; // Python's json stops near its recursion limit (1000 frames)
const MAX_INT_DIGITS = 4300; // Python's int() refuses longer decimal strings
const PLAIN = /[^"\\\x00-\x1f]*/y; // a run of string characters that need no care
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;

/** Parse JSON text as Python's json.loads does. Throws JsonError. */
export function parseJson(text) {
  let i = 0;
  const n = text.length;
  const skip = () => {
    let c = text.charCodeAt(i);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++i);
  };
  const fail = (what) => {
    throw new JsonError(`${what} at ${i}`);
  };

  function string() {
    i++; // opening quote
    let out = "";
    for (;;) {
      PLAIN.lastIndex = i;
      PLAIN.test(text);
      const end = PLAIN.lastIndex;
      if (end >= n) fail("unterminated string");
      out += text.slice(i, end);
      i = end;
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return out;
      }
      if (c < 0x20) fail("invalid control character");
      const e = text[i + 1];
      i += 2;
      switch (e) {
        case '"': out += '"'; break;
        case "\\": out += "\\"; break;
        case "/": out += "/"; break;
        case "b": out += "\b"; break;
        case "f": out += "\f"; break;
        case "n": out += "\n"; break;
        case "r": out += "\r"; break;
        case "t": out += "\t"; break;
        case "u": {
          const hex = text.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("invalid \\uXXXX escape");
          out += String.fromCharCode(parseInt(hex, 16));
          i += 4;
          break;
        }
        default:
          fail("invalid escape");
      }
    }
  }

  function number() {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail("expecting value");
    const s = m[0];
    i += s.length;
    if (m[1] !== undefined || m[2] !== undefined) return new PyFloat(Number(s));
    const digits = s[0] === "-" ? s.length - 1 : s.length;
    if (digits > MAX_INT_DIGITS) fail("integer too long");
    if (digits <= 15) return Number(s) + 0; // -0 is Python's int 0
    const big = BigInt(s);
    return big >= -9007199254740991n && big <= 9007199254740991n ? Number(big) : big;
  }

  function value(depth) {
    if (depth > MAX_DEPTH) fail("nested too deeply");
    skip();
    const c = text.charCodeAt(i);
    if (c === 0x22) return string();
    if ((c >= 0x30 && c <= 0x39) || (c === 0x2d && text[i + 1] !== "I")) return number();
    if (c === 0x7b) {
      i++;
      const out = new Map();
      skip();
      if (text.charCodeAt(i) === 0x7d) {
        i++;
        return out;
      }
      for (;;) {
        skip();
        if (text.charCodeAt(i) !== 0x22) fail("expecting property name enclosed in double quotes");
        const key = string();
        skip();
        if (text.charCodeAt(i) !== 0x3a) fail("expecting ':' delimiter");
        i++;
        out.set(key, value(depth + 1));
        skip();
        const d = text.charCodeAt(i++);
        if (d === 0x2c) continue;
        if (d === 0x7d) return out;
        i--;
        fail("expecting ',' delimiter");
      }
    }
    if (c === 0x5b) {
      i++;
      const out = [];
      skip();
      if (text.charCodeAt(i) === 0x5d) {
        i++;
        return out;
      }
      for (;;) {
        out.push(value(depth + 1));
        skip();
        const d = text.charCodeAt(i++);
        if (d === 0x2c) continue;
        if (d === 0x5d) return out;
        i--;
        fail("expecting ',' delimiter");
      }
    }
    for (const [word, v] of WORDS) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    return fail("expecting value");
  }

  const result = value(0);
  skip();
  if (i !== n) fail("extra data");
  return result;
}

const WORDS = [
  ["null", null],
  ["true", true],
  ["false", false],
  ["NaN", new PyFloat(NaN)],
  ["Infinity", new PyFloat(Infinity)],
  ["-Infinity", new PyFloat(-Infinity)],
];

/** Python's repr of a float, as json.dumps writes it. */
export function pyFloatRepr(x) {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mantissa, exp] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const e = Number(exp);
  const decpt = e + 1;
  if (decpt <= -4 || decpt > 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${"0".repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

// Python sorts keys by code point; JS compares UTF-16 units, which differ only above U+FFFF.
function codePointOrder(a, b) {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    let x = a.charCodeAt(k);
    let y = b.charCodeAt(k);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

const WELL_FORMED = typeof "".isWellFormed === "function"
  ? (s) => s.isWellFormed()
  : (s) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

function canonical(value) {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (typeof value === "string") {
    if (!WELL_FORMED(value)) throw new JsonError("text that is not valid Unicode (an unpaired surrogate)");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const keys = [...value.keys()].sort(codePointOrder);
  return `{${keys.map((k) => `${canonical(k)}:${canonical(value.get(k))}`).join(",")}}`;
}

/** canonical_json: sorted keys, no spaces, UTF-8, non-ASCII as is. */
export function canonicalJson(value) {
  return new TextEncoder().encode(canonical(value));
}

const B64 = new Int16Array(128).fill(-1);
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".split("").forEach((c, k) => {
  B64[c.charCodeAt(0)] = k;
});

/** Python's unb64url: base64.urlsafe_b64decode(text + padding), characters outside the alphabet skipped. */
export function unb64url(text) {
  for (let k = 0; k < text.length; k++) if (text.charCodeAt(k) > 0x7f) throw new JsonError("not ASCII");
  const s = (text + "=".repeat((4 - (text.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  const out = [];
  let quad = 0;
  let left = 0;
  let pads = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c === 0x3d) {
      if (quad >= 2 && quad + ++pads >= 4) return Uint8Array.from(out);
      continue;
    }
    const v = B64[c];
    if (v < 0) continue;
    pads = 0;
    if (quad === 0) {
      left = v;
      quad = 1;
    } else if (quad === 1) {
      out.push(((left << 2) | (v >> 4)) & 0xff);
      left = v & 0x0f;
      quad = 2;
    } else if (quad === 2) {
      out.push(((left << 4) | (v >> 2)) & 0xff);
      left = v & 0x03;
      quad = 3;
    } else {
      out.push(((left << 6) | v) & 0xff);
      quad = 0;
    }
  }
  if (quad !== 0) throw new JsonError("incorrect base64 padding");
  return Uint8Array.from(out);
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The text of a document given as bytes (UTF-8, a BOM skipped as Python's utf-8-sig does) or as text. */
export function documentText(document) {
  if (typeof document === "string") return document;
  return utf8.decode(document instanceof ArrayBuffer ? new Uint8Array(document) : document);
}

/**
 * A pinned root key from SubjectPublicKeyInfo DER (bytes, base64url text, or PEM text):
 * `{alg, kid, kidHex, check}`, imported once.
 */
export async function importRootKey(spki) {
  if (typeof spki === "string") {
    const pem = spki.match(/-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/);
    spki = unb64url(pem ? pem[1].replace(/\s+/g, "") : spki);
  }
  try {
    const key = await importPublicKey(spki);
    return { ...key, kidHex: toHex(key.kid) };
  } catch (exc) {
    if (exc instanceof KeyError) throw new SignedDocumentError(`the root key is not usable: ${exc.message}`);
    throw exc;
  }
}

const isObject = (v) => v instanceof Map;

/** The payload (a Map) of a document signed by `root`; throws `ErrorClass` naming `what` otherwise. */
export async function openDocument(document, root, what, ErrorClass = SignedDocumentError) {
  let doc;
  try {
    doc = parseJson(documentText(document));
  } catch (exc) {
    throw new ErrorClass(`${what} is not valid JSON: ${exc.name === "TypeError" ? "UnicodeDecodeError" : exc.message}`);
  }
  if (!isObject(doc) || !isObject(doc.get("payload"))) {
    throw new ErrorClass(`${what} must be an object with 'payload' and 'signature'`);
  }
  const sig = doc.get("signature");
  if (!isObject(sig) || !["alg", "kid", "value"].every((f) => typeof sig.get(f) === "string")) {
    throw new ErrorClass(`${what} signature must have string fields alg, kid and value`);
  }
  if (ALG_IDS.get(sig.get("alg")) !== root.alg) {
    throw new ErrorClass(`${what} signed with ${sig.get("alg")}, but the root key is ${ALG_NAMES.get(root.alg)}`);
  }
  if (sig.get("kid") !== root.kidHex) {
    throw new ErrorClass(`${what} signed by key ${sig.get("kid")}, not by the root key ${root.kidHex}`);
  }
  let signature;
  try {
    signature = unb64url(sig.get("value"));
  } catch {
    throw new ErrorClass(`${what} signature is not base64url`);
  }
  const payload = doc.get("payload");
  let signed;
  try {
    signed = canonicalJson(payload);
  } catch {
    throw new ErrorClass(`${what} holds text that is not valid Unicode (an unpaired surrogate)`);
  }
  if (root.check === null) throw new ErrorClass(`${what}: ${root.manual}`);
  if (!(await root.check(signature, signed))) throw new ErrorClass(`${what} signature is not valid for the root key`);
  return payload;
}
