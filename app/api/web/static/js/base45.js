// base45 (RFC 9285): the alphabet is QR alphanumeric mode's, so codes fit the densest QR mode.

export const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

export function b45encode(bytes) {
  let out = "";
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    let n = bytes[i] * 256 + bytes[i + 1];
    const c = n % 45;
    n = (n - c) / 45;
    const d = n % 45;
    const e = (n - d) / 45;
    out += ALPHABET[c] + ALPHABET[d] + ALPHABET[e];
  }
  if (bytes.length % 2) {
    const n = bytes[bytes.length - 1];
    out += ALPHABET[n % 45] + ALPHABET[Math.floor(n / 45)];
  }
  return out;
}

export function b45decode(text) {
  if (text.length % 3 === 1) throw new Error("base45 length leaves a single character");
  const digits = [...text].map((ch) => {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) throw new Error("base45 text has a character outside the alphabet");
    return v;
  });
  const out = [];
  for (let i = 0; i < digits.length; i += 3) {
    if (i + 2 < digits.length) {
      const n = digits[i] + 45 * digits[i + 1] + 2025 * digits[i + 2];
      if (n > 0xffff) throw new Error("base45 chunk above 65535");
      out.push(n >> 8, n & 0xff);
    } else {
      const n = digits[i] + 45 * digits[i + 1];
      if (n > 0xff) throw new Error("base45 final pair above 255");
      out.push(n);
    }
  }
  return Uint8Array.from(out);
}
