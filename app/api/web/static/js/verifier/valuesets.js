// Value sets and partner mappings (Python: verifier/valuesets.py).
//
// A partner region may code a group attribute its own way; its mapping table turns its codes
// into ours before any rule reads them. A code no table knows is dropped (the rule sees "not
// known"), and the explanation says so in the same words as Python.
//
// Profiles here are normalised (see decide.js `profileFromJson`): every field present, null or
// false when not asserted, enrolled_until a PyDate.

import { isDict, isInt, keysOf, pyRepr, pyStr, RuleProblem, showFound } from "./rules.js";

/** Value-set name -> the profile field it governs. */
export const PROFILE_FIELDS = {
  "residence.region": "residence",
  "disability.category": "disability_category",
  "student.level": "student_level",
};
const NAMES = Object.keys(PROFILE_FIELDS).sort();

/** A value set a decision cannot use (a snapshot's value sets are checked when it loads: never thrown then). */
export class ValueSetError extends Error {}

// A code as Python's to_json writes it as a JSON key: str() of an int, at most 20 ASCII digits.
const CODE_TEXT = /^-?(0|[1-9][0-9]{0,19})$/;

/** The code a key stands for (a number, or BigInt past 2^53 as signed_json.js reads big numbers), or null. */
function codeOf(key) {
  if (!CODE_TEXT.test(key)) return null;
  const n = BigInt(key);
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/** Map keyed by Python int: numbers as themselves, BigInt as text (they never equal a safe number). */
const intKey = (n) => (typeof n === "bigint" ? `big:${n}` : n);

const byValue = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * {valueSet, problems}: a value set inside a verified snapshot (Python `value_set_from_json`, which
 * checks as `parse_value_set` does), or null with every problem found. A code is read only from
 * exactly the key text Python writes for it; any other key is a code that is not an integer.
 */
export function valueSetFromJson(data) {
  const problems = [];
  const fail = (path, expected, found) => problems.push(new RuleProblem(path, expected, showFound(found)));
  const none = () => ({ valueSet: null, problems });
  if (!isDict(data)) {
    fail("(file)", "a mapping with name, version, values and mappings", data);
    return none();
  }
  const name = Object.hasOwn(data, "name") ? data.name : null;
  if (typeof name !== "string" || !Object.hasOwn(PROFILE_FIELDS, name)) fail("name", `one of ${pyRepr(NAMES)}`, name);
  const version = Object.hasOwn(data, "version") ? data.version : null;
  if (!isInt(version) || version < 1) fail("version", "a whole number from 1", version);
  const rawValues = Object.hasOwn(data, "values") ? data.values : null;
  const values = new Map();
  const codes = [];
  if (!isDict(rawValues) || !keysOf(rawValues).length) {
    fail("values", "a mapping of codes to labels", rawValues);
  } else {
    for (const key of keysOf(rawValues)) {
      const code = codeOf(key);
      const label = rawValues[key];
      if (code === null || typeof label !== "string") {
        fail(`values.${key}`, "an integer code with a text label", label);
      } else {
        if (!values.has(intKey(code))) codes.push(code);
        values.set(intKey(code), label);
      }
    }
  }
  const ours = pyRepr([...codes].sort(byValue));
  const mappings = new Map();
  let rawMappings = Object.hasOwn(data, "mappings") ? data.mappings : {};
  if (!isDict(rawMappings)) {
    fail("mappings", "a mapping of partner issuers to code tables", rawMappings);
    rawMappings = {};
  }
  for (const issuer of keysOf(rawMappings)) {
    const table = rawMappings[issuer];
    if (!isDict(table)) {
      fail(`mappings.${issuer}`, "a table of partner code to our code", table);
      continue;
    }
    const mapped = new Map();
    for (const key of keysOf(table)) {
      const theirs = codeOf(key);
      const to = table[key];
      if (theirs === null || !isInt(to) || !values.has(intKey(to))) {
        fail(`mappings.${issuer}.${key}`, `an integer code mapped to one of ${ours}`, to);
      } else {
        mapped.set(intKey(theirs), to);
      }
    }
    mappings.set(issuer, mapped);
  }
  if (problems.length) return none();
  return { valueSet: { name, version, values, mappings }, problems: [] };
}

function profileField(valueSet) {
  // Python: PROFILE_FIELDS[value_set.name]; loadSnapshot has refused every name it does not know.
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

/** The value sets by name (Python: {v.name: v for v in value_sets}; a snapshot names each once). */
export function byName(valueSets) {
  return new Map(valueSets.map((v) => [v.name, v]));
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
 * In words ({zh, en}), each partner code that no mapping table knows and that the decision therefore ignored.
 * `profile` is the profile as the partner issued it (before mapping). For explanations only.
 */
export function ignoredAttributes(profile, issuer, valueSets) {
  const lines = [];
  for (const valueSet of valueSets) {
    const table = valueSet.mappings.get(issuer);
    if (table === undefined) continue;
    const value = profile[profileField(valueSet)];
    if (value !== null && !table.has(intKey(value))) {
      lines.push({
        zh: `${issuer} 的${pyStr(valueSet.name)}代码 ${value} 在值集 ${pyStr(valueSet.name)} v${pyStr(valueSet.version)} ` +
          "中没有对应：已忽略",
        en: `${issuer} code ${value} for ${pyStr(valueSet.name)} has no mapping in value set ` +
          `${pyStr(valueSet.name)} v${pyStr(valueSet.version)}: ignored`,
      });
    }
  }
  return lines;
}
