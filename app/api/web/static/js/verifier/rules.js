// The rule language's third evaluator (Python: verifier/rules/): the same AST, parsed from the
// plain data a catalogue snapshot holds, compiled once per snapshot into closures, and explained
// in words that are identical, line for line, to Python's `explain(...).lines()`.
//
// Values keep Python's types, because the parse checks and the explanation text depend on them:
// integers are numbers (BigInt beyond 2^53), dates are PyDate (a day number, printed as
// YYYY-MM-DD), JSON floats are PyFloat (so 1.0 is not an integer), text is a string. Comparing a
// date with a number throws a TypeError, as it does in Python. `pyRepr`/`pyStr` print a value as
// Python's repr()/str() do, so every problem message reads as Python's.

// ---------- Python values ----------

/** A JSON number with a fraction or exponent: a Python float, kept apart from integers. */
export class PyFloat {
  constructor(value) {
    this.value = value;
  }
}

const DAY_MIN = daysFromCivil(1, 1, 1);
const DAY_MAX = daysFromCivil(9999, 12, 31);

function daysFromCivil(y, m, d) {
  // Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(n) {
  const z = n + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [era * 400 + yoe + (m <= 2 ? 1 : 0), m, d];
}

const isLeap = (y) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Python's ValueError (a date or time that does not parse); OverflowError for dates out of range. */
export class PyValueError extends Error {
  constructor(message) {
    super(message);
    this.name = "ValueError";
  }
}

export class PyOverflowError extends Error {
  constructor(message) {
    super(message);
    this.name = "OverflowError";
  }
}

/** A calendar date (Python `datetime.date`), as a day number since 1970-01-01. */
export class PyDate {
  constructor(n) {
    this.n = n;
  }

  static of(y, m, d) {
    if (!(y >= 1 && y <= 9999)) throw new PyValueError(`year ${y} is out of range`);
    if (!(m >= 1 && m <= 12)) throw new PyValueError("month must be in 1..12");
    const dim = m === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[m];
    if (!(d >= 1 && d <= dim)) throw new PyValueError("day is out of range for month");
    return new PyDate(daysFromCivil(y, m, d));
  }

  plusDays(k) {
    const n = this.n + k;
    if (n < DAY_MIN || n > DAY_MAX) throw new PyOverflowError("date value out of range");
    return new PyDate(n);
  }

  ymd() {
    return civilFromDays(this.n);
  }

  /** ISO weekday: 1 = Monday ... 7 = Sunday (1970-01-01 was a Thursday). */
  isoWeekday() {
    return ((((this.n + 3) % 7) + 7) % 7) + 1;
  }

  toString() {
    const [y, m, d] = this.ymd();
    return `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
  }
}

export const DATE_MIN = new PyDate(DAY_MIN);

/**
 * A calendar date written exactly YYYY-MM-DD in ASCII digits (Python: verifier.rules.parse.iso_date);
 * PyValueError otherwise. Python's date.fromisoformat alone also reads 20250101, "20250101ab" and
 * ISO week dates (2025-W01-1): neither reader takes those.
 */
export function isoDate(text) {
  const m = typeof text === "string" ? /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(text) : null;
  if (m === null) throw new PyValueError(`not a date YYYY-MM-DD: ${pyRepr(text)}`);
  return PyDate.of(Number(m[1]), Number(m[2]), Number(m[3]));
}

// Key order of objects as the JSON text gave it (JS puts integer-like keys first; Python does not).
const KEY_ORDER = new WeakMap();

export function setKeyOrder(object, keys) {
  KEY_ORDER.set(object, keys);
}

/** An object's keys in the order Python's dict would hold them. */
export function keysOf(object) {
  return KEY_ORDER.get(object) || Object.keys(object);
}

export const isDict = (x) => x !== null && typeof x === "object" && Object.getPrototypeOf(x) === Object.prototype;
export const isInt = (x) => (typeof x === "number" && Number.isInteger(x)) || typeof x === "bigint";
export const has = (o, k) => Object.hasOwn(o, k);
export const get = (o, k, otherwise = null) => (Object.hasOwn(o, k) ? o[k] : otherwise);

const isNumeric = (x) => typeof x === "number" || typeof x === "bigint" || typeof x === "boolean";
const numeric = (x) => (typeof x === "boolean" ? (x ? 1 : 0) : x);

/** Python's == for the values rules compare. */
export function pyEq(a, b) {
  if (isNumeric(a) && isNumeric(b)) return numeric(a) == numeric(b); // eslint-disable-line eqeqeq
  if (a instanceof PyFloat && (isNumeric(b) || b instanceof PyFloat)) return a.value == numeric(b instanceof PyFloat ? b.value : b); // eslint-disable-line eqeqeq
  if (b instanceof PyFloat && isNumeric(a)) return b.value == numeric(a); // eslint-disable-line eqeqeq
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (a instanceof PyDate && b instanceof PyDate) return a.n === b.n;
  if (a instanceof AgeBand && b instanceof AgeBand) return a.low === b.low && a.high === b.high;
  return a === b;
}

function typeName(x) {
  if (x === null || x === undefined) return "NoneType";
  if (typeof x === "boolean") return "bool";
  if (isInt(x)) return "int";
  if (x instanceof PyFloat) return "float";
  if (typeof x === "string") return "str";
  if (x instanceof PyDate) return "datetime.date";
  if (x instanceof AgeBand) return "AgeBand";
  if (Array.isArray(x)) return "list";
  return "dict";
}

/** Python's order of text (by code point), for sorting. */
export function compareStrings(a, b) {
  // Python orders text by code point; JS's < by UTF-16 unit, which differs past U+FFFF.
  if (!/[\uD800-\uDFFF]/.test(a + b)) return a < b ? -1 : a > b ? 1 : 0;
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** Python's <, <=, >, >= : numbers with numbers, text with text, dates with dates; TypeError otherwise. */
function order(op, a, b) {
  let c;
  if (isNumeric(a) && isNumeric(b)) {
    const x = numeric(a);
    const y = numeric(b);
    c = x < y ? -1 : x > y ? 1 : 0;
  } else if (typeof a === "string" && typeof b === "string") {
    c = compareStrings(a, b);
  } else if (a instanceof PyDate && b instanceof PyDate) {
    c = a.n - b.n;
  } else {
    throw new TypeError(`'${op}' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`);
  }
  if (op === "<") return c < 0;
  if (op === "<=") return c <= 0;
  if (op === ">") return c > 0;
  return c >= 0;
}

const OPS = {
  "==": (a, b) => pyEq(a, b),
  "!=": (a, b) => !pyEq(a, b),
  "<": (a, b) => order("<", a, b),
  "<=": (a, b) => order("<=", a, b),
  ">": (a, b) => order(">", a, b),
  ">=": (a, b) => order(">=", a, b),
};

/** A key under which Python's set membership (hash and ==) finds a value, or null for a linear search. */
function memberKey(v) {
  if (typeof v === "number") return `n${v}`;
  if (typeof v === "bigint") return `n${v}`;
  if (typeof v === "boolean") return v ? "n1" : "n0";
  if (typeof v === "string") return `s${v}`;
  if (v instanceof PyDate) return `d${v.n}`;
  return null;
}

/** Python's repr() of a float. */
export function floatRepr(x) {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mantissa, exp] = x.toExponential().split("e"); // shortest digits that read back as x
  const e = Number(exp);
  const negative = mantissa.startsWith("-");
  const digits = mantissa.replace("-", "").replace(".", "");
  let out;
  if (e < -4 || e >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    out = `${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  } else if (e < 0) {
    out = `0.${"0".repeat(-e - 1)}${digits}`;
  } else if (digits.length <= e + 1) {
    out = `${digits}${"0".repeat(e + 1 - digits.length)}.0`;
  } else {
    out = `${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
  }
  return negative ? `-${out}` : out;
}

const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

function strRepr(s) {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i);
    const ch = String.fromCodePoint(cp);
    i += cp > 0xffff ? 2 : 1;
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (cp < 0x7f || cp === 0x20) out += ch;
    else if (!NOT_PRINTABLE.test(ch)) out += ch;
    else if (cp < 0x100) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, "0")}`;
    else out += `\\U${cp.toString(16).padStart(8, "0")}`;
  }
  return out + quote;
}

/** Python's repr() of a value from JSON or the rule AST. */
export function pyRepr(v) {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  if (typeof v === "string") return strRepr(v);
  if (v instanceof PyFloat) return floatRepr(v.value);
  if (v instanceof PyDate) {
    const [y, m, d] = v.ymd();
    return `datetime.date(${y}, ${m}, ${d})`;
  }
  if (v instanceof Param) return `Param(name=${strRepr(v.name)})`;
  if (v instanceof Today) return `Today(offset_days=${v.offsetDays})`;
  if (v instanceof AgeBand) return `AgeBand(low=${v.low}, high=${pyRepr(v.high)})`;
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(", ")}]`;
  if (v instanceof Set) return v.size ? `{${[...v].map(pyRepr).join(", ")}}` : "set()";
  return `{${keysOf(v).map((k) => `${strRepr(k)}: ${pyRepr(v[k])}`).join(", ")}}`;
}

/** Python's str(): text as itself, dates as YYYY-MM-DD, everything else as repr(). */
export function pyStr(v) {
  if (typeof v === "string") return v;
  if (v instanceof PyDate || v instanceof AgeBand) return v.toString();
  return pyRepr(v);
}

/** repr() cut to 60 characters as the parsers show what they found. */
export function showFound(value) {
  const text = Array.from(pyRepr(value));
  return text.length <= 60 ? text.join("") : `${text.slice(0, 57).join("")}...`;
}

// Python's str.isspace() characters (JS's \s has U+FEFF, and lacks U+001C-001F and U+0085).
const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g");

/** Python's str.strip(). */
export const pyStrip = (s) => s.replace(STRIP, "");

/** Python's truthiness of a JSON value. */
export function pyTruthy(v) {
  if (v === null || v === undefined || v === false || v === 0 || v === 0n || v === "") return false;
  if (v instanceof PyFloat) return v.value !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (isDict(v)) return keysOf(v).length > 0;
  return true;
}

// ---------- attributes (verifier/rules/attributes.py) ----------

export const AGE_THRESHOLDS = [60, 65, 70, 80];
export const INT = "int";
export const BOOL = "bool";
export const DATE = "date";
export const TEXT = "text";

const attr = (name, kind, subject, atGate, privilege, words) => ({ name, kind, subject, atGate, privilege, words });

export const ATTRIBUTES = Object.fromEntries(
  [
    attr("age", INT, "person", true, "age_over", "age"),
    attr("birth_date", DATE, "person", false, null, "birth date"),
    attr("disability.category", INT, "person", true, "disability", "disability category"),
    attr("disability.grade", INT, "person", true, "disability", "disability grade"),
    attr("disability.certificate_valid_until", DATE, "person", false, null, "disability certificate valid until"),
    attr("martyr_family", BOOL, "person", true, "martyr_family", "martyr family (烈属)"),
    attr("entitled_group", BOOL, "person", true, "entitled_group", "entitled group (优抚对象)"),
    attr("student.level", INT, "person", true, "student", "student level"),
    attr("student.enrolled_until", DATE, "person", true, "student", "enrolled until"),
    attr("residence.region", INT, "person", true, "residence", "residence region"),
    attr("hukou.region", INT, "person", false, null, "household registration region"),
    attr("income.monthly", INT, "person", false, null, "monthly household income (yuan)"),
    attr("credit.blacklisted", BOOL, "person", false, null, "on the credit blacklist (失信受限)"),
    // derived for the day from the relation registries (issue 16); never carried by a code
    attr("household.size", INT, "person", false, null, "household members"),
    attr("household.per_capita_income", INT, "person", false, null, "household monthly income per member (yuan)"),
    attr("lives_alone", BOOL, "person", false, null, "lives alone (no one else at the address)"),
    attr("enterprise.employees", INT, "enterprise", false, null, "employees"),
    attr("enterprise.insured_employees", INT, "enterprise", false, null, "employees with social insurance"),
    attr("enterprise.layoff_rate_pct", INT, "enterprise", false, null, "layoff rate (%)"),
    attr("enterprise.annual_revenue", INT, "enterprise", false, null, "annual revenue (yuan)"),
    attr("enterprise.industry", TEXT, "enterprise", false, null, "industry"),
    attr("enterprise.registered_on", DATE, "enterprise", false, null, "registration date"),
    attr("enterprise.region", INT, "enterprise", true, "enterprise", "registered region"),
    attr("enterprise.credit.blacklisted", BOOL, "enterprise", false, null, "on the credit blacklist (失信受限)"),
    // 守信优先 (issue 15): an A-level taxpayer with no blacklist entry; an enterprise code carries it
    attr("enterprise.credit_good", BOOL, "enterprise", true, "enterprise", "creditworthy: A-level taxpayer, not blacklisted (守信)"),
  ].map((a) => [a.name, a]),
);

/** How a Chinese explanation names each attribute (Python: attributes.WORDS_ZH). */
export const WORDS_ZH = {
  "age": "年龄",
  "birth_date": "出生日期",
  "disability.category": "残疾类别",
  "disability.grade": "残疾等级",
  "disability.certificate_valid_until": "残疾证有效期至",
  "martyr_family": "烈属",
  "entitled_group": "优抚对象",
  "student.level": "学段",
  "student.enrolled_until": "学籍有效期至",
  "residence.region": "居住地区",
  "hukou.region": "户籍地区",
  "income.monthly": "家庭月收入（元）",
  "credit.blacklisted": "列入失信名单",
  "household.size": "户内人数",
  "household.per_capita_income": "家庭月人均收入（元）",
  "lives_alone": "独居（同一地址无其他人员）",
  "enterprise.employees": "职工人数",
  "enterprise.insured_employees": "参保职工人数",
  "enterprise.layoff_rate_pct": "裁员率（%）",
  "enterprise.annual_revenue": "年营业收入（元）",
  "enterprise.industry": "行业",
  "enterprise.registered_on": "登记日期",
  "enterprise.region": "注册地区",
  "enterprise.credit.blacklisted": "列入失信名单",
  "enterprise.credit_good": "守信企业（A级纳税人且未列入失信名单）",
};
for (const [name, words] of Object.entries(WORDS_ZH)) ATTRIBUTES[name].wordsZh = words;

/** How an explanation names each registry: [Chinese, English] (Python: attributes.REGISTRY_WORDS). */
export const REGISTRY_WORDS = {
  martyr_families: ["烈属", "martyr families"],
  entitled_groups: ["优抚对象", "entitled groups"],
  disabled_persons: ["残疾人", "disabled persons"],
  students: ["在校学生", "students"],
  small_enterprises: ["小型微利企业", "small enterprises"],
};

/** Registries a subject may be a member of, and the attribute that says so at a gate. */
export const REGISTRIES = {
  martyr_families: ["person", "martyr_family"],
  entitled_groups: ["person", "entitled_group"],
  disabled_persons: ["person", "disability.category"],
  students: ["person", "student.level"],
  small_enterprises: ["enterprise", null],
};

/** `related_to`: registries a relative may be found in, and the columns a where may test (attributes.py). */
export const RELATED_REGISTRIES = {
  martyrs: {},
  disability: { category: "disability.category", grade: "disability.grade" },
  students: { level: "student.level", enrolled_until: "student.enrolled_until" },
  persons: { age: "age", residence_region: "residence.region", hukou_region: "hukou.region" },
};
export const RELATED_REGISTRY_WORDS = {
  martyrs: ["烈士", "a martyr"],
  disability: ["持证残疾人", "a person with a disability certificate"],
  students: ["在校学生", "a student"],
  persons: ["在世人员", "a living person"],
};
export const RELATION_WORDS = {
  spouse: ["配偶", "spouse"],
  child: ["子女", "child"],
  parent: ["父母", "parent"],
  sibling: ["兄弟姐妹", "sibling"],
  grandparent: ["祖父母或外祖父母", "grandparent"],
  grandchild: ["孙子女或外孙子女", "grandchild"],
};
export const MEMBERS_AGED = "household.members_aged_over";
export const RELATED_TO = "related_to";
export const MEMBER_BIRTHS = "household.member_births";
export const KIN = "kin";
const RELATED_MEMBERSHIP = {
  martyrs: "registry:martyrs",
  disability: "registry:disabled_persons",
  students: "registry:students",
  persons: "registry:persons",
};

const sortedNames = (o) => Object.keys(o).sort(compareStrings);

// ---------- the AST (verifier/rules/ast.py) ----------

export const COMPARISONS = ["==", "!=", "<", "<=", ">", ">="];

export class Param {
  constructor(name) {
    this.name = name;
  }
}

export class Today {
  constructor(offsetDays = 0) {
    this.offsetDays = offsetDays;
  }
}

export class Compare {
  constructor(attr, op, value) {
    Object.assign(this, { attr, op, value });
  }
}

export class AgeOn {
  constructor(on, op, bound) {
    Object.assign(this, { on, op, bound });
  }
}

export class In {
  constructor(attr, values, negate = false) {
    Object.assign(this, { attr, values, negate });
  }
}

export class Between {
  constructor(attr, low, high) {
    Object.assign(this, { attr, low, high });
  }
}

export class Member {
  constructor(registry) {
    this.registry = registry;
  }
}

export class MembersAged {
  constructor(age, op, number) {
    Object.assign(this, { age, op, number });
  }
}

export class RelatedTo {
  constructor(registry, relations, where = null) {
    Object.assign(this, { registry, relations, where });
  }
}

export class All {
  constructor(rules) {
    this.rules = rules;
  }
}

export class AnyOf {
  constructor(rules) {
    this.rules = rules;
  }
}

export class Not {
  constructor(rule) {
    this.rule = rule;
  }
}

/** Every attribute a rule reads (registries count as the attribute that stands for them). */
export function attributesRead(rule) {
  if (rule instanceof Compare || rule instanceof In || rule instanceof Between) return new Set([rule.attr]);
  if (rule instanceof AgeOn) return new Set(["birth_date"]);
  if (rule instanceof Member) {
    const gateAttr = REGISTRIES[rule.registry][1];
    return new Set([gateAttr || `registry:${rule.registry}`]);
  }
  if (rule instanceof MembersAged) return new Set([MEMBERS_AGED]);
  if (rule instanceof RelatedTo) return new Set([RELATED_TO]);
  if (rule instanceof Not) return attributesRead(rule.rule);
  const out = new Set();
  for (const r of rule.rules) for (const a of attributesRead(r)) out.add(a);
  return out;
}

export function paramsRead(rule) {
  const names = (values) => new Set(values.filter((v) => v instanceof Param).map((v) => v.name));
  if (rule instanceof Compare) return names([rule.value]);
  if (rule instanceof AgeOn) return names([rule.on, rule.bound]);
  if (rule instanceof In) return names(rule.values);
  if (rule instanceof Between) return names([rule.low, rule.high]);
  if (rule instanceof Member) return new Set();
  if (rule instanceof MembersAged) return names([rule.age, rule.number]);
  if (rule instanceof RelatedTo) return rule.where ? paramsRead(rule.where) : new Set();
  if (rule instanceof Not) return paramsRead(rule.rule);
  const out = new Set();
  for (const r of rule.rules) for (const p of paramsRead(r)) out.add(p);
  return out;
}

/** The rule and every rule inside it, depth first (catalogue.py `_walk`). */
export function walk(rule) {
  const out = [rule];
  for (const child of rule.rules || []) out.push(...walk(child));
  if (rule.rule) out.push(...walk(rule.rule));
  if (rule.where) out.push(...walk(rule.where)); // a related_to's where
  return out;
}

// ---------- parse (verifier/rules/parse.py) ----------

export const MAX_DEPTH = 12;
export const MAX_TODAY_OFFSET_DAYS = 36600;

/** One thing wrong with a rule: where, what was expected, what was found (already shown). */
export class RuleProblem {
  constructor(path, expected, found) {
    Object.assign(this, { path, expected, found });
  }

  toString() {
    return `${this.path}: expected ${this.expected}, found ${this.found}`;
  }
}

const ATTRIBUTE_LIST = sortedNames(ATTRIBUTES).join(", ");
const FORMS = "all, any, not, member_of, age_on, household.members_aged_over, related_to";
const REGISTRY_LIST = `[${sortedNames(REGISTRIES).map(strRepr).join(", ")}]`;
const OPERATOR_LIST = [...COMPARISONS, "in", "not_in", "between"].join(", ");

class Parser {
  constructor(subject, columns = null) {
    this.subject = subject;
    this.columns = columns; // in a related_to where: the registry's columns, as the attributes they are
    this.problems = [];
  }

  fail(path, expected, found) {
    this.problems.push(new RuleProblem(path, expected, showFound(found)));
  }

  rule(data, path, depth = 0) {
    if (depth > MAX_DEPTH) {
      this.fail(path, `rules nested at most ${MAX_DEPTH} deep`, "deeper nesting");
      return null;
    }
    if (!isDict(data) || keysOf(data).length !== 1) {
      this.fail(path, "a mapping with exactly one key (all, any, not, member_of or an attribute)", data);
      return null;
    }
    const key = keysOf(data)[0];
    const body = data[key];
    const where = `${path}.${key}`;
    if (key === "all" || key === "any") {
      if (!Array.isArray(body) || !body.length) {
        this.fail(where, "a non-empty list of rules", body);
        return null;
      }
      const parts = body.map((item, i) => this.rule(item, `${where}[${i}]`, depth + 1));
      if (parts.some((p) => p === null)) return null;
      return key === "all" ? new All(parts) : new AnyOf(parts);
    }
    if (key === "not") {
      const inner = this.rule(body, where, depth + 1);
      return inner === null ? null : new Not(inner);
    }
    if (this.columns !== null) {
      if (has(this.columns, key)) return this.condition(this.columns[key], body, where);
      this.fail(path, `all, any, not or a column of the registry (${sortedNames(this.columns).join(", ")})`, key);
      return null;
    }
    if (key === "member_of") {
      const registry = typeof body === "string" && has(REGISTRIES, body) ? REGISTRIES[body] : null;
      if (registry === null) {
        this.fail(where, `one of the registries ${REGISTRY_LIST}`, body);
        return null;
      }
      if (registry[0] !== this.subject) {
        this.fail(where, `a registry of ${this.subject}s`, `${body} (a registry of ${registry[0]}s)`);
        return null;
      }
      return new Member(body);
    }
    if (key === "age_on") return this.ageOn(body, where);
    if (key === MEMBERS_AGED) return this.membersAged(body, where);
    if (key === RELATED_TO) return this.relatedTo(body, where, depth);
    if (has(ATTRIBUTES, key)) return this.condition(key, body, where);
    this.fail(path, `${FORMS} or an attribute (${ATTRIBUTE_LIST})`, key);
    return null;
  }

  aboutAPerson(path, form) {
    if (this.subject === "person") return true;
    this.fail(path, `a rule about a ${this.subject}`, `${form} (about a person)`);
    return false;
  }

  membersAged(body, path) {
    if (!this.aboutAPerson(path, MEMBERS_AGED)) return null;
    const ops = isDict(body) ? keysOf(body).filter((k) => COMPARISONS.includes(k)) : [];
    const wanted = new Set(["age", ...ops]);
    const keys = isDict(body) ? new Set(keysOf(body)) : null;
    const same = keys !== null && keys.size === wanted.size && [...keys].every((k) => wanted.has(k));
    if (!isDict(body) || !same || ops.length !== 1) {
      this.fail(path, "a mapping with age and one comparison of the count, e.g. {age: 80, '>=': 1}", body);
      return null;
    }
    const age = this.value(body.age, INT, `${path}.age`);
    const count = this.value(body[ops[0]], INT, `${path}.${ops[0]}`);
    if (age === null || count === null) return null;
    return new MembersAged(age, ops[0], count);
  }

  relatedTo(body, path, depth) {
    if (!this.aboutAPerson(path, RELATED_TO)) return null;
    const keys = isDict(body) ? keysOf(body) : [];
    const allowed = ["registry", "relations", "where"];
    if (!isDict(body) || !has(body, "registry") || !has(body, "relations") || keys.some((k) => !allowed.includes(k))) {
      this.fail(path, "a mapping with registry, relations and optionally where", body);
      return null;
    }
    const { registry, relations } = body;
    if (typeof registry !== "string" || !has(RELATED_REGISTRIES, registry)) {
      this.fail(`${path}.registry`, `one of the registries [${sortedNames(RELATED_REGISTRIES).map(strRepr).join(", ")}]`, registry);
      return null;
    }
    const known = Object.keys(RELATION_WORDS);
    if (
      !Array.isArray(relations) || !relations.length ||
      relations.some((r) => typeof r !== "string" || !known.includes(r)) ||
      new Set(relations).size !== relations.length
    ) {
      this.fail(`${path}.relations`, `a non-empty list of distinct relations from [${known.map(strRepr).join(", ")}]`, relations);
      return null;
    }
    let where = null;
    if (has(body, "where")) {
      const columns = RELATED_REGISTRIES[registry];
      if (!Object.keys(columns).length) {
        this.fail(`${path}.where`, `no where: the ${registry} registry has no columns to test`, body.where);
        return null;
      }
      const inner = new Parser(this.subject, columns);
      where = inner.rule(body.where, `${path}.where`, depth + 1);
      this.problems.push(...inner.problems);
      if (where === null) return null;
    }
    return new RelatedTo(registry, [...relations], where);
  }

  ageOn(body, path) {
    if (this.subject !== "person") {
      this.fail(path, `a rule about a ${this.subject}`, "age_on (about a person)");
      return null;
    }
    const ops = isDict(body) ? keysOf(body).filter((k) => COMPARISONS.includes(k)) : [];
    const wanted = new Set(["date", ...ops]);
    const keys = isDict(body) ? new Set(keysOf(body)) : null;
    const same = keys !== null && keys.size === wanted.size && [...keys].every((k) => wanted.has(k));
    if (!isDict(body) || !same || ops.length !== 1) {
      this.fail(path, "a mapping with date and one comparison, e.g. {date: 2026-12-31, '>=': 80}", body);
      return null;
    }
    const on = this.value(body.date, DATE, `${path}.date`);
    const bound = this.value(body[ops[0]], INT, `${path}.${ops[0]}`);
    if (on === null || bound === null) return null;
    return new AgeOn(on, ops[0], bound);
  }

  condition(attrName, body, path) {
    const attribute = ATTRIBUTES[attrName];
    if (attribute.subject !== this.subject) {
      this.fail(path, `an attribute of a ${this.subject}`, `${attrName} (an attribute of a ${attribute.subject})`);
      return null;
    }
    if (!isDict(body) || keysOf(body).length !== 1) {
      this.fail(path, `a mapping with one operator (${OPERATOR_LIST})`, body);
      return null;
    }
    const op = keysOf(body)[0];
    const raw = body[op];
    const where = `${path}.${op}`;
    const kind = attribute.kind;
    if (COMPARISONS.includes(op)) {
      if ((kind === BOOL || kind === TEXT) && op !== "==" && op !== "!=") {
        this.fail(where, `== or != for a ${kind} attribute`, op);
        return null;
      }
      const value = this.value(raw, kind, where);
      return value === null ? null : new Compare(attrName, op, value);
    }
    if (op === "in" || op === "not_in") {
      if (!Array.isArray(raw) || !raw.length) {
        this.fail(where, "a non-empty list", raw);
        return null;
      }
      const values = raw.map((v, i) => this.value(v, kind, `${where}[${i}]`));
      if (values.some((v) => v === null)) return null;
      return new In(attrName, values, op === "not_in");
    }
    if (op === "between") {
      if (!Array.isArray(raw) || raw.length !== 2) {
        this.fail(where, "a list of two bounds [low, high]", raw);
        return null;
      }
      if (kind !== INT && kind !== DATE) {
        this.fail(where, "a number or date attribute for between", `${attrName} (${kind})`);
        return null;
      }
      const low = this.value(raw[0], kind, `${where}[0]`);
      const high = this.value(raw[1], kind, `${where}[1]`);
      if (low === null || high === null) return null;
      const literal = (v) => !(v instanceof Param || v instanceof Today);
      if (literal(low) && literal(high) && order(">", low, high)) {
        this.fail(where, "low <= high", raw);
        return null;
      }
      return new Between(attrName, low, high);
    }
    this.fail(path, `an operator (${OPERATOR_LIST})`, op);
    return null;
  }

  value(raw, kind, path) {
    if (isDict(raw) && keysOf(raw).length === 1 && has(raw, "param") && typeof raw.param === "string") {
      return new Param(raw.param);
    }
    if (kind === DATE) {
      if (raw === "today") return new Today();
      if (isDict(raw) && keysOf(raw).length === 1 && has(raw, "today") && isInt(raw.today)) {
        const n = raw.today;
        if (n > MAX_TODAY_OFFSET_DAYS || n < -MAX_TODAY_OFFSET_DAYS) {
          const bound = MAX_TODAY_OFFSET_DAYS;
          this.fail(path, `{today: N} with N from -${bound} to ${bound}`, raw);
          return null;
        }
        return new Today(Number(n));
      }
      if (raw instanceof PyDate) return raw;
      if (typeof raw === "string") {
        try {
          return isoDate(raw);
        } catch (e) {
          if (!(e instanceof PyValueError)) throw e;
        }
      }
      this.fail(path, "a date YYYY-MM-DD, today, {today: N} or {param: NAME}", raw);
      return null;
    }
    if (kind === INT && isInt(raw)) return raw;
    if (kind === BOOL && typeof raw === "boolean") return raw;
    if (kind === TEXT && typeof raw === "string") return raw;
    this.fail(path, `a ${kind} value or {param: NAME}`, raw);
    return null;
  }
}

/** {rule, problems}: the rule is null whenever there is a problem. */
export function parseRule(data, path = "eligibility", { subject = "person" } = {}) {
  const parser = new Parser(subject);
  const rule = parser.rule(data, path);
  return { rule: parser.problems.length ? null : rule, problems: parser.problems };
}

// ---------- evaluation (verifier/rules/evaluate.py) ----------

/** Age known only as a band [low, high): what an `age_over` code tells a gate. */
export class AgeBand {
  constructor(low, high) {
    this.low = low;
    this.high = high; // null: no upper bound
  }

  /** True only when every age in the band satisfies `age OP bound`. */
  compare(op, bound) {
    const top = this.high !== null ? this.high - 1 : null;
    if (op === ">=") return order(">=", this.low, bound);
    if (op === ">") return order(">", this.low, bound);
    if (op === "<") return top !== null && order("<", top, bound);
    if (op === "<=") return top !== null && order("<=", top, bound);
    if (op === "==") return top !== null && top === this.low && pyEq(this.low, bound);
    return !(order("<=", this.low, bound) && (top === null || order("<=", bound, top)));
  }

  toString() {
    return this.high === null ? `at least ${this.low}` : `${this.low}-${this.high - 1}`;
  }
}

/** A parameter's value on a date: one value, or dated values [[from, value], ...] in order. */
export class ParamValues {
  constructor(dated) {
    this.starts = dated.map(([start]) => start);
    this.values = dated.map(([, value]) => value);
  }

  on(day) {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (day.n < this.starts[mid].n) hi = mid;
      else lo = mid + 1;
    }
    if (lo - 1 < 0) throw new RangeError(`no value before ${this.starts[0]}`);
    return this.values[lo - 1];
  }
}

function paramOf(params, name) {
  if (!params.has(name)) throw new RangeError(`KeyError: ${pyRepr(name)}`);
  return params.get(name);
}

function resolver(value, params) {
  if (value instanceof Param) {
    const dated = paramOf(params, value.name);
    if (dated.values.length === 1) {
      const constant = dated.values[0];
      return () => constant;
    }
    return (day) => dated.on(day);
  }
  if (value instanceof Today) {
    const offset = value.offsetDays;
    return (day) => day.plusDays(offset);
  }
  return () => value;
}

function constant(value, params) {
  if (value instanceof Today) return [false, null];
  if (value instanceof Param) {
    const dated = paramOf(params, value.name);
    return dated.values.length === 1 ? [true, dated.values[0]] : [false, null];
  }
  return [true, value];
}

/** Whole years from a birth date to a date (a birthday counts on the day itself). */
export function yearsBetween(born, on) {
  const [by, bm, bd] = born.ymd();
  const [oy, om, od] = on.ymd();
  return oy - by - (om < bm || (om === bm && od < bd) ? 1 : 0);
}

function bandTest(op, bound) {
  if (op === ">=") return (band) => order(">=", band.low, bound);
  if (op === "<") return (band) => band.high !== null && order("<=", band.high, bound);
  return (band) => band.compare(op, bound);
}

function compareValues(have, op, bound) {
  if (have === null || have === undefined) return false;
  if (have instanceof AgeBand) return have.compare(op, bound);
  return OPS[op](have, bound);
}

const fact = (facts, name) => (Object.hasOwn(facts, name) ? facts[name] : null);

function inSet(members, have) {
  const key = memberKey(have);
  if (key !== null) return members.keys.has(key);
  return members.values.some((v) => pyEq(have, v));
}

function memberSet(values) {
  const keys = new Set();
  for (const v of values) {
    const k = memberKey(v);
    if (k !== null) keys.add(k);
  }
  return { keys, values };
}

/** A closure `(facts, day) -> bool` for the rule, with parameters (a Map of ParamValues) bound. */
export function compileRule(rule, params = new Map()) {
  if (rule instanceof Compare) {
    const { attr: name, op } = rule;
    const [fixed, bound] = constant(rule.value, params);
    if (fixed) {
      const native = OPS[op];
      if (name === "age") {
        const test = bandTest(op, bound);
        return (facts) => {
          const have = fact(facts, "age");
          if (have instanceof AgeBand) return test(have);
          return have !== null && native(have, bound);
        };
      }
      return (facts) => {
        const have = fact(facts, name);
        return have !== null && native(have, bound);
      };
    }
    const resolve = resolver(rule.value, params);
    return (facts, day) => compareValues(fact(facts, name), op, resolve(day));
  }
  if (rule instanceof AgeOn) {
    const on = resolver(rule.on, params);
    const bound = resolver(rule.bound, params);
    const native = OPS[rule.op];
    return (facts, day) => {
      const born = fact(facts, "birth_date");
      return born !== null && native(yearsBetween(born, on(day)), bound(day));
    };
  }
  if (rule instanceof In) {
    const { attr: name, negate } = rule;
    const resolvers = rule.values.map((v) => resolver(v, params));
    if (rule.values.every((v) => constant(v, params)[0])) {
      const members = memberSet(resolvers.map((r) => r(DATE_MIN)));
      return (facts) => {
        const have = fact(facts, name);
        return have !== null && inSet(members, have) !== negate;
      };
    }
    return (facts, day) => {
      const have = fact(facts, name);
      return have !== null && inSet(memberSet(resolvers.map((r) => r(day))), have) !== negate;
    };
  }
  if (rule instanceof Between) {
    const name = rule.attr;
    const low = resolver(rule.low, params);
    const high = resolver(rule.high, params);
    return (facts, day) =>
      compareValues(fact(facts, name), ">=", low(day)) && compareValues(fact(facts, name), "<=", high(day));
  }
  if (rule instanceof Member) {
    const registry = rule.registry;
    const gateAttr = REGISTRIES[registry][1];
    return (facts) => {
      if (pyTruthy(fact(facts, `registry:${registry}`))) return true;
      if (gateAttr === null) return false;
      const v = fact(facts, gateAttr);
      return !(v === null || pyEq(v, false)); // `not in (None, False)`: 0 == False in Python
    };
  }
  if (rule instanceof MembersAged) {
    const age = resolver(rule.age, params);
    const count = resolver(rule.number, params);
    const counted = OPS[rule.op];
    return (facts, day) => {
      const births = fact(facts, MEMBER_BIRTHS);
      return births !== null && counted(aged(births, age(day), day), count(day));
    };
  }
  if (rule instanceof RelatedTo) {
    const found = relativeTest(rule, params);
    return (facts, day) => found(facts, day) !== null;
  }
  if (rule instanceof Not) {
    const inner = compileRule(rule.rule, params);
    return (facts, day) => !inner(facts, day);
  }
  const parts = rule.rules.map((r) => compileRule(r, params));
  if (parts.length === 1) return parts[0];
  if (rule instanceof All) {
    return (facts, day) => {
      for (const part of parts) if (!part(facts, day)) return false;
      return true;
    };
  }
  return (facts, day) => {
    for (const part of parts) if (part(facts, day)) return true;
    return false;
  };
}

function aged(births, age, day) {
  return births.filter((born) => order(">=", yearsBetween(born, day), age)).length;
}

/** The first relative (their facts) that a related_to rule finds, or null. A gate has no kin: always null there. */
function relativeTest(rule, params) {
  const membership = RELATED_MEMBERSHIP[rule.registry];
  const where = rule.where ? compileRule(rule.where, params) : null;
  return (facts, day) => {
    for (const [relation, kin] of fact(facts, KIN) || []) {
      if (rule.relations.includes(relation) && pyTruthy(fact(kin, membership)) && (where === null || where(kin, day))) {
        return kin;
      }
    }
    return null;
  };
}

/** [Chinese, English] for a list of relations: "配偶、父母或子女", "spouse, parent or child". */
export function relationsWords(relations) {
  const zh = relations.map((r) => RELATION_WORDS[r][0]);
  const en = relations.map((r) => RELATION_WORDS[r][1]);
  if (relations.length === 1) return [zh[0], en[0]];
  return [`${zh.slice(0, -1).join("、")}或${zh.at(-1)}`, `${en.slice(0, -1).join(", ")} or ${en.at(-1)}`];
}

/** Which clauses held and which failed, with the values compared, in Chinese (`zh`) and English (`text`). */
export class Explanation {
  constructor(held, text, parts = [], zh = "") {
    Object.assign(this, { held, text, parts, zh });
  }

  lines(indent = 0, lang = "en") {
    const out = [`${"  ".repeat(indent)}${this.held ? "✓" : "✗"} ${lang === "zh" ? this.zh : this.text}`];
    for (const part of this.parts) out.push(...part.lines(indent + 1, lang));
    return out;
  }
}

const SYMBOLS = { "==": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥" };

function show(value) {
  if (value === null || value === undefined) return "not known";
  if (typeof value === "boolean") return value ? "yes" : "no";
  return pyStr(value);
}

function showZh(value) {
  if (value === null || value === undefined) return "未知";
  if (typeof value === "boolean") return value ? "是" : "否";
  return pyStr(value);
}

const said = (held, en, zh, parts = []) => new Explanation(held, en, parts, zh);

export function explain(rule, facts, day, params = new Map()) {
  if (rule instanceof Compare) {
    const have = fact(facts, rule.attr);
    const bound = resolver(rule.value, params)(day);
    const held = compareValues(have, rule.op, bound);
    const a = ATTRIBUTES[rule.attr];
    const sym = SYMBOLS[rule.op];
    return said(held, `${a.words} ${show(have)}, needs ${sym} ${show(bound)}`, `${a.wordsZh} ${showZh(have)}，需 ${sym} ${showZh(bound)}`);
  }
  if (rule instanceof AgeOn) {
    const born = fact(facts, "birth_date");
    const on = resolver(rule.on, params)(day);
    const bound = resolver(rule.bound, params)(day);
    const age = born !== null ? yearsBetween(born, on) : null;
    const held = age !== null && OPS[rule.op](age, bound);
    const sym = SYMBOLS[rule.op];
    return said(held, `age on ${pyStr(on)} ${show(age)}, needs ${sym} ${pyStr(bound)}`,
      `${pyStr(on)} 时年龄 ${showZh(age)}，需 ${sym} ${pyStr(bound)}`);
  }
  if (rule instanceof In) {
    const have = fact(facts, rule.attr);
    const values = rule.values.map((v) => resolver(v, params)(day));
    const held = have !== null && values.some((v) => pyEq(have, v)) !== rule.negate;
    const a = ATTRIBUTES[rule.attr];
    const [verb, verbZh] = rule.negate ? ["not one of", "不为"] : ["one of", "为"];
    return said(held, `${a.words} ${show(have)}, needs ${verb} ${pyRepr(values)}`,
      `${a.wordsZh} ${showZh(have)}，需${verbZh} ${pyRepr(values)} 之一`);
  }
  if (rule instanceof Between) {
    const have = fact(facts, rule.attr);
    const low = resolver(rule.low, params)(day);
    const high = resolver(rule.high, params)(day);
    const held = compareValues(have, ">=", low) && compareValues(have, "<=", high);
    const a = ATTRIBUTES[rule.attr];
    return said(held, `${a.words} ${show(have)}, needs ${pyStr(low)} to ${pyStr(high)}`,
      `${a.wordsZh} ${showZh(have)}，需在 ${pyStr(low)} 至 ${pyStr(high)} 之间`);
  }
  if (rule instanceof Member) {
    const held = compileRule(rule, params)(facts, day);
    return said(held, `${held ? "in" : "not in"} the ${rule.registry.replaceAll("_", " ")} registry`,
      `${held ? "已列入" : "未列入"}${REGISTRY_WORDS[rule.registry][0]}名册`);
  }
  if (rule instanceof MembersAged) {
    const births = fact(facts, MEMBER_BIRTHS);
    const age = resolver(rule.age, params)(day);
    const count = resolver(rule.number, params)(day);
    const have = births !== null ? aged(births, age, day) : null;
    const held = have !== null && OPS[rule.op](have, count);
    const sym = SYMBOLS[rule.op];
    return said(held, `household members aged ${pyStr(age)} or over: ${show(have)}, needs ${sym} ${pyStr(count)}`,
      `户内年满 ${pyStr(age)} 周岁的成员 ${showZh(have)} 人，需 ${sym} ${pyStr(count)}`);
  }
  if (rule instanceof RelatedTo) {
    const kin = relativeTest(rule, params)(facts, day);
    const [whomZh, whomEn] = relationsWords(rule.relations);
    const [whatZh, whatEn] = RELATED_REGISTRY_WORDS[rule.registry];
    const parts = kin !== null && rule.where ? [explain(rule.where, kin, day, params)] : [];
    if (kin !== null) {
      return said(true, `a ${whomEn} is ${whatEn}${parts.length ? ":" : ""}`, `${whomZh}中有${whatZh}${parts.length ? "：" : ""}`, parts);
    }
    return said(false, `no ${whomEn} is ${whatEn}${rule.where ? " as required" : ""}`,
      `${whomZh}中没有${whatZh}${rule.where ? "（且符合条件）" : ""}`);
  }
  if (rule instanceof Not) {
    const inner = explain(rule.rule, facts, day, params);
    return said(!inner.held, "must not hold:", "不得满足：", [inner]);
  }
  const parts = rule.rules.map((r) => explain(r, facts, day, params));
  if (rule instanceof All) return said(parts.every((p) => p.held), "all of:", "须全部满足：", parts);
  return said(parts.some((p) => p.held), "any of:", "须满足其一：", parts);
}
