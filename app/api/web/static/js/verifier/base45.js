// Strict base45 (RFC 9285), as verifier/base45.py: canonical input only, anything else refused.
//
// A code's text is at most 1 KiB, so one pass with a lookup table is all it costs (well under
// a microsecond per 150 bytes); chunks above 65535 and final pairs above 255 are non-canonical.

export const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
const DIGITS = new Uint8Array(128).fill(0xff);
for (let i = 0; i < ALPHABET.length; i++) DIGITS[ALPHABET.charCodeAt(i)] = i;

export class Base45Error extends Error {
  constructor(message) {
    super(message);
    this.name = "Base45Error";
  }
}

function digit(text, i) {
  const c = text.charCodeAt(i);
  if (c > 0x7f) throw new Base45Error("base45 text has a non-ASCII character");
  const v = DIGITS[c];
  if (v === 0xff) throw new Base45Error("base45 text has a character outside the alphabet");
  return v;
}

/** Decode canonical base45 text to bytes; any other input throws Base45Error. */
export function b45decode(text) {
  const n = text.length;
  // Python counts code points; a non-ASCII character is refused either way, so only its message differs.
  if (n % 3 === 1) throw new Base45Error("base45 length leaves a single character");
  const chunks = Math.floor(n / 3);
  const out = new Uint8Array(2 * chunks + (n % 3 ? 1 : 0));
  for (let c = 0; c < chunks; c++) {
    const i = 3 * c;
    const v = digit(text, i) + 45 * digit(text, i + 1) + 2025 * digit(text, i + 2);
    if (v > 0xffff) throw new Base45Error("base45 chunk above 65535 (non-canonical)");
    out[2 * c] = v >> 8;
    out[2 * c + 1] = v & 0xff;
  }
  if (n % 3) {
    const v = digit(text, n - 2) + 45 * digit(text, n - 1);
    if (v > 0xff) throw new Base45Error("base45 final pair above 255 (non-canonical)");
    out[2 * chunks] = v;
  }
  return out;
}

export function b45encode(bytes) {
  let out = "";
  const even = bytes.length - (bytes.length & 1);
  for (let i = 0; i < even; i += 2) {
    const v = bytes[i] * 256 + bytes[i + 1];
    out += ALPHABET[v % 45] + ALPHABET[Math.floor(v / 45) % 45] + ALPHABET[Math.floor(v / 2025)];
  }
  if (bytes.length & 1) {
    const v = bytes[bytes.length - 1];
    out += ALPHABET[v % 45] + ALPHABET[Math.floor(v / 45)];
  }
  return out;
}
