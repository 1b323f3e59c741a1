// Strict CBOR for the handheld: a reader that accepts deterministic encodings only
// (verifier/cbor_strict.py), and field readers for layouts known in advance (verifier/cbor_read.py).
//
// Python decodes with cbor2 and then proves the input was deterministic; here the reader is
// strict by construction: shortest heads, definite lengths, map keys (integers, byte or text
// strings) in bytewise order without repeats, valid UTF-8, no floats, null, undefined or simple
// values, and none of the tags cbor2 would turn into other objects. Integers past 2^53 come back
// as BigInt. Reading past the end throws CborEnd (Python's IndexError), a CborError.

export class CborError extends Error {
  constructor(message) {
    super(message);
    this.name = "CborError";
  }
}

/** Input ended inside an item. */
export class CborEnd extends CborError {
  constructor() {
    super("CBOR ends early");
    this.name = "CborEnd";
  }
}

/** An unknown tag and its content, kept as data (cbor2's CBORTag). */
export class Tag {
  constructor(tag, value) {
    this.tag = tag;
    this.value = value;
  }
}

// Tags cbor2 turns into Python objects (dates, bignums, shared values, string references, ...):
// in a deterministic item they can never stand, so cbor_strict refuses each of them.
const SEMANTIC_TAGS = new Set([0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 100, 256, 258, 260, 261, 1004, 43000, 55799]);
const MAX_DEPTH = 256;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const TWO_32 = 0x100000000;

/** data[i], or CborEnd past the end. */
export function at(data, i) {
  if (i >= data.length) throw new CborEnd();
  return data[i];
}

function uint64(data, i) {
  if (i + 8 > data.length) throw new CborEnd();
  const hi = ((data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3]) >>> 0;
  const lo = ((data[i + 4] << 24) | (data[i + 5] << 16) | (data[i + 6] << 8) | data[i + 7]) >>> 0;
  if (hi < 0x200000) return hi * TWO_32 + lo; // below 2^53: exact as a Number
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function uint32(data, i) {
  return ((data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3]) >>> 0;
}

/** [argument, next position] of the head at i, shortest form only; indefinite lengths refused. */
function argument(data, i, info) {
  if (info < 24) return [info, i + 1];
  if (info === 24) {
    const v = at(data, i + 1);
    if (v < 24) throw new CborError("CBOR head not in shortest form");
    return [v, i + 2];
  }
  if (info === 25) {
    if (i + 3 > data.length) throw new CborEnd();
    const v = (data[i + 1] << 8) | data[i + 2];
    if (v < 0x100) throw new CborError("CBOR head not in shortest form");
    return [v, i + 3];
  }
  if (info === 26) {
    if (i + 5 > data.length) throw new CborEnd();
    const v = uint32(data, i + 1);
    if (v < 0x10000) throw new CborError("CBOR head not in shortest form");
    return [v, i + 5];
  }
  if (info === 27) {
    const v = uint64(data, i + 1);
    if (typeof v === "number" && v < TWO_32) throw new CborError("CBOR head not in shortest form");
    return [v, i + 9];
  }
  if (info === 31) throw new CborError("CBOR indefinite length not allowed");
  throw new CborError("CBOR head with a reserved length");
}

function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) if (a[k] !== b[k]) return a[k] - b[k];
  return a.length - b.length;
}

function item(data, i, depth) {
  if (depth > MAX_DEPTH) throw new CborError("CBOR nested too deeply");
  const head = at(data, i);
  const major = head >> 5;
  const info = head & 31;
  if (major === 7) {
    if (head === 0xf4) return [false, i + 1];
    if (head === 0xf5) return [true, i + 1];
    throw new CborError("CBOR floats, null, undefined and simple values not allowed");
  }
  const [n, start] = argument(data, i, info);
  switch (major) {
    case 0:
      return [n, start];
    case 1:
      return [typeof n === "number" && n < Number.MAX_SAFE_INTEGER ? -1 - n : -1n - BigInt(n), start];
    case 2:
    case 3: {
      if (typeof n !== "number" || start + n > data.length) throw new CborEnd();
      const bytes = data.subarray(start, start + n);
      if (major === 2) return [bytes, start + n];
      try {
        return [utf8.decode(bytes), start + n];
      } catch {
        throw new CborError("CBOR text is not valid UTF-8");
      }
    }
    case 4: {
      if (typeof n !== "number" || n > data.length - start) throw new CborEnd();
      const out = new Array(n);
      let j = start;
      for (let k = 0; k < n; k++) [out[k], j] = item(data, j, depth + 1);
      return [out, j];
    }
    case 5: {
      if (typeof n !== "number" || 2 * n > data.length - start) throw new CborEnd();
      const out = new Map();
      let j = start;
      let previous = null;
      for (let k = 0; k < n; k++) {
        const keyStart = j;
        if (at(data, j) >> 5 > 3) throw new CborError("CBOR map key of a type not allowed");
        let key;
        [key, j] = item(data, j, depth + 1);
        const raw = data.subarray(keyStart, j);
        if (previous !== null && compareBytes(previous, raw) >= 0) {
          throw new CborError("map keys out of deterministic order");
        }
        previous = raw;
        let value;
        [value, j] = item(data, j, depth + 1);
        out.set(key, value); // byte-string keys by identity: lookups are by integer
      }
      return [out, j];
    }
    default: {
      if (SEMANTIC_TAGS.has(n)) throw new CborError(`CBOR tag ${n} not allowed`);
      const [value, j] = item(data, start, depth + 1);
      return [new Tag(n, value), j];
    }
  }
}

/** Decode one deterministic CBOR item that fills `data` exactly, or throw CborError. */
export function loads(data) {
  const [value, end] = item(data, 0, 0);
  if (end !== data.length) throw new CborError("CBOR not in deterministic encoding (or trailing bytes)");
  return value;
}

// ---- field readers for fixed layouts (verifier/cbor_read.py) ----

/** [value, next] of an unsigned integer in shortest form. */
export function readUint(data, i) {
  const head = at(data, i);
  if (head < 24) return [head, i + 1];
  if (head === 0x18) {
    const v = at(data, i + 1);
    if (v >= 24) return [v, i + 2];
  } else if (head === 0x19) {
    const v = (at(data, i + 1) << 8) | at(data, i + 2);
    if (v >= 0x100) return [v, i + 3];
  } else if (head === 0x1a) {
    if (i + 5 <= data.length) {
      const v = uint32(data, i + 1);
      if (v >= 0x10000) return [v, i + 5];
    }
  } else if (head === 0x1b) {
    if (i + 9 <= data.length) {
      const v = uint64(data, i + 1);
      if (typeof v !== "number" || v >= TWO_32) return [v, i + 9];
    }
  } else {
    throw new CborError("expected an unsigned integer");
  }
  throw new CborError("integer not in shortest form (or cut short)");
}

function length(data, i, major) {
  const info = at(data, i) - major;
  if (info >= 0 && info < 24) return [info, i + 1];
  if (info === 24 && at(data, i + 1) >= 24) return [data[i + 1], i + 2];
  if (info === 25 && at(data, i + 1) !== 0) return [(data[i + 1] << 8) | at(data, i + 2), i + 3];
  throw new CborError("expected a string in shortest form");
}

export function readBytes(data, i) {
  const [n, start] = length(data, i, 0x40);
  const end = start + n;
  if (end > data.length) throw new CborEnd();
  return [data.subarray(start, end), end];
}

export function readAscii(data, i) {
  const [n, start] = length(data, i, 0x60);
  const end = start + n;
  if (end > data.length) throw new CborEnd();
  let s = "";
  for (let k = start; k < end; k++) {
    if (data[k] > 0x7f) throw new CborError("expected ASCII text");
    s += String.fromCharCode(data[k]);
  }
  return [s, end];
}
