// Value sets and partner mappings (Python: verifier/valuesets.py).
//
// A partner region may code a group attribute its own way; its mapping table turns its codes
// into ours before any rule reads them. A code no table knows is dropped (the rule sees "not
// known"), and the explanation says so in the same words as Python.
//
// Profiles here are normalised (see decide.js `profileFromJson`): every field present, null or
// false when not asserted, enrolled_until a PyDate.

import { isDict, isInt, keysOf, PyFloat, pyStr, pyStrip } from "./rules.js";

/** Value-set name -> the profile field it governs. */
export const PROFILE_FIELDS = {
  "residence.region": "residence",
  "disability.category": "disability_category",
  "student.level": "student_level",
};

/** A value set inside a snapshot is malformed (Python: KeyError, TypeError, ValueError or AttributeError). */
export class ValueSetError extends Error {}

// Python's int() of text: surrounding whitespace, a sign, ASCII digits with single underscores.
const INT_TEXT = /^[+-]?[0-9]+(?:_[0-9]+)*$/;

/** Python's int(x) as value_set_from_json applies it to JSON keys and values. */
function pyInt(x) {
  if (typeof x === "boolean") return x ? 1 : 0;
  if (isInt(x)) return x;
  if (x instanceof PyFloat) {
    if (Number.isNaN(x.value)) throw new ValueSetError("cannot convert float NaN to integer");
    if (!Number.isFinite(x.value)) throw new RangeError("OverflowError: cannot convert float infinity to integer");
    return Math.trunc(x.value) || 0;
  }
  if (typeof x === "string") {
    const text = pyStrip(x);
    if (!INT_TEXT.test(text)) throw new ValueSetError(`invalid literal for int() with base 10: ${text}`);
    const digits = text.replace(/_/g, "");
    const n = BigInt(digits);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }
  throw new ValueSetError("int() argument must be a string, a bytes-like object or a real number");
}

const dictItems = (d) => {
  if (!isDict(d)) throw new ValueSetError("'list' object has no attribute 'items'");
  return keysOf(d).map((k) => [k, d[k]]);
};

const field = (d, name) => {
  if (!isDict(d)) throw new ValueSetError("not subscriptable by name");
  if (!Object.hasOwn(d, name)) throw new ValueSetError(`KeyError: '${name}'`);
  return d[name];
};

/** Map keyed by Python int: numbers as themselves, BigInt as text (they never equal a safe number). */
const intKey = (n) => (typeof n === "bigint" ? `big:${n}` : n);

/** A value set inside a verified snapshot (Python `value_set_from_json`: JSON keys are text). */
export function valueSetFromJson(data) {
  const name = field(data, "name");
  const version = field(data, "version");
  const values = new Map();
  for (const [k, v] of dictItems(field(data, "values"))) values.set(intKey(pyInt(k)), v);
  const mappings = new Map();
  for (const [issuer, table] of dictItems(field(data, "mappings"))) {
    const mapped = new Map();
    for (const [k, v] of dictItems(table)) mapped.set(intKey(pyInt(k)), pyInt(v));
    mappings.set(issuer, mapped);
  }
  return { name, version, values, mappings };
}

function profileField(valueSet) {
  // Python: PROFILE_FIELDS[value_set.name], a KeyError for a name it does not know.
  const name = valueSet.name;
  if (typeof name !== "string" || !Object.hasOwn(PROFILE_FIELDS, name)) {
    throw new ValueSetError(`KeyError: value set ${pyStr(name)} governs no profile field`);
  }
  return PROFILE_FIELDS[name];
}

/**
 * issuer -> [[profile field, table]], for the issuers that code something their own way.
 * `valueSets` is a Map name -> value set (Python builds it as {v.name: v for v in value_sets}).
 */
export function partnerMapper(valueSets) {
  const byIssuer = new Map();
  for (const valueSet of valueSets.values()) {
    for (const [issuer, table] of valueSet.mappings) {
      if (!byIssuer.has(issuer)) byIssuer.set(issuer, []);
      byIssuer.get(issuer).push([profileField(valueSet), table]);
    }
  }
  return byIssuer;
}

/** The value sets by name, the last of a name in the place of the first (a Python dict built in order). */
export function byName(valueSets) {
  const out = new Map();
  for (const v of valueSets) out.set(v.name === null || typeof v.name !== "object" ? v.name : pyStr(v.name), v);
  return out;
}

/** A partner's profile in our codes; an unmappable code becomes 'not asserted'. */
export function mapProfile(profile, tables) {
  const changes = {};
  for (const [name, table] of tables) {
    const value = profile[name];
    if (value !== null) {
      const ours = table.get(intKey(value));
      changes[name] = ours === undefined ? null : ours;
    }
  }
  if (Object.hasOwn(changes, "disability_category") && changes.disability_category === null) {
    changes.disability_grade = null;
  }
  if (Object.hasOwn(changes, "student_level") && changes.student_level === null) changes.enrolled_until = null;
  return { ...profile, ...changes };
}

/**
 * In words, each partner code that no mapping table knows and that the decision therefore ignored.
 * `profile` is the profile as the partner issued it (before mapping). For explanations only.
 */
export function ignoredAttributes(profile, issuer, valueSets) {
  const lines = [];
  for (const valueSet of valueSets) {
    const table = valueSet.mappings.get(issuer);
    if (table === undefined) continue;
    const value = profile[profileField(valueSet)];
    if (value !== null && !table.has(intKey(value))) {
      lines.push(
        `${issuer} code ${value} for ${pyStr(valueSet.name)} has no mapping in value set ` +
          `${pyStr(valueSet.name)} v${pyStr(valueSet.version)}: ignored`,
      );
    }
  }
  return lines;
}
