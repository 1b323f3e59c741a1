// Minimal deterministic CBOR (RFC 8949 §4.2.1) encoder: just what the Suishen code needs.
// Integers (safe range), byte strings (Uint8Array), text, arrays, maps (keys sorted by their
// encoded bytes), booleans and null. Shortest heads, definite lengths, no floats, no tags.

export function concat(...parts) {
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

export function head(major, n) {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError("CBOR length or value out of range");
  const m = major << 5;
  if (n < 24) return Uint8Array.of(m | n);
  if (n < 0x100) return Uint8Array.of(m | 24, n);
  if (n < 0x10000) return Uint8Array.of(m | 25, n >> 8, n & 0xff);
  if (n < 0x100000000) return Uint8Array.of(m | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
  const hi = Math.floor(n / 0x100000000);
  const lo = n >>> 0;
  return Uint8Array.of(
    m | 27,
    (hi >>> 24) & 0xff, (hi >> 16) & 0xff, (hi >> 8) & 0xff, hi & 0xff,
    (lo >>> 24) & 0xff, (lo >> 16) & 0xff, (lo >> 8) & 0xff, lo & 0xff,
  );
}

function compareBytes(a, b) {
  // RFC 8949 §4.2.1: keys sorted by the bytewise lexicographic order of their encodings.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

const textEncoder = new TextEncoder();

export function encode(value) {
  if (value === null || value === undefined) return Uint8Array.of(0xf6);
  if (value === false) return Uint8Array.of(0xf4);
  if (value === true) return Uint8Array.of(0xf5);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new TypeError("only safe integers are encoded");
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (value instanceof Uint8Array) return concat(head(2, value.length), value);
  if (typeof value === "string") {
    const bytes = textEncoder.encode(value);
    return concat(head(3, bytes.length), bytes);
  }
  if (Array.isArray(value)) return concat(head(4, value.length), ...value.map(encode));
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  const pairs = entries.map(([k, v]) => [encode(k), encode(v)]);
  pairs.sort((x, y) => compareBytes(x[0], y[0]));
  for (let i = 1; i < pairs.length; i++) {
    if (compareBytes(pairs[i - 1][0], pairs[i][0]) === 0) throw new TypeError("duplicate map key");
  }
  return concat(head(5, pairs.length), ...pairs.flat());
}
