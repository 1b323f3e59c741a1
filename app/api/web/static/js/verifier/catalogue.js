// The signed catalogue snapshot as the handheld reads it (Python: verifier/catalogue.py): the
// document's signature checked with WebCrypto against the pinned trust-list root (signed_json.js,
// the same reader and canonical JSON as the trust and revocation lists), then every policy parsed
// with the same checks, in the same order, with the same messages as Python's parse_policy.
//
// Staleness is not an error here: `snapshot.expiresAt`, and the decision says CATALOGUE_STALE.

import {
  AgeOn,
  MembersAged,
  ATTRIBUTES,
  AGE_THRESHOLDS,
  attributesRead,
  BOOL,
  Between,
  Compare,
  compareStrings,
  compileRule,
  DATE,
  DATE_MIN,
  get,
  has,
  In,
  INT,
  isDict,
  isInt,
  isoDate,
  keysOf,
  Param,
  ParamValues,
  paramsRead,
  parseRule,
  pyEq,
  PyDate,
  PyFloat,
  pyRepr,
  pyStr,
  pyStrip,
  pyTruthy,
  PyValueError,
  RuleProblem,
  setKeyOrder,
  showFound,
  TEXT,
  walk,
} from "./rules.js";
import { canonicalJson, importRootKey, openDocument, PyFloat as DocumentFloat, SignedDocumentError } from "./signed_json.js";
import { valueSetFromJson } from "./valuesets.js";

export const DELIVERY_MODES = ["direct", "confirm", "scan"];
export const SUBJECTS = ["person", "enterprise"];
export const STATUSES = ["draft", "published", "retired"];
export const REGION_SCOPES = ["residents", "yrd", "everyone"];
export const BENEFIT_KINDS = ["free_entry", "discount", "amount", "priority"]; // priority: 绿色通道 (守信优先)
export const PAYS = ["monthly", "quarterly", "yearly", "once"]; // how often a direct or confirm policy pays
export const BUDGET_PERIODS = ["year", "month"]; // what a policy's budget covers
export const VENUE_TYPES = [
  "park", "museum", "scenic_area", "metro", "bus", "ferry", "library",
  "sports_venue", "gallery", "zoo", "botanical_garden", "theatre",
  "service_hall", // 政务服务中心: enterprise codes (法人随申码) shown at a government service hall
];
export const YRD_REGIONS = new Set([310000, 320000, 330000, 340000]); // 长三角: Shanghai, Jiangsu, Zhejiang, Anhui
export const SNAPSHOT_FORMAT = "suishen-catalogue/1";
export const DEFAULT_SNAPSHOT_MAX_AGE_S = 3 * 86400;
// Whole text, ASCII digits (Python: fullmatch with re.ASCII; no final newline, no other scripts' digits).
const ID = /^[a-z0-9][a-z0-9-]{2,63}$/;
const HOURS = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;

/** A snapshot cannot be used: bad signature, wrong format, bad content (Python: CatalogueError). */
export class CatalogueError extends SignedDocumentError {
  constructor(message) {
    super(message);
    this.name = "CatalogueError";
  }
}

export { importRootKey };

/**
 * A payload as signed_json.js reads it (objects as Map, floats as its PyFloat) in the form the
 * policy parser reads: plain objects that remember their key order, floats as rules.js PyFloat.
 */
function plain(value) {
  if (value instanceof Map) {
    const object = {};
    for (const [k, v] of value) {
      Object.defineProperty(object, k, { value: plain(v), enumerable: true, writable: true, configurable: true });
    }
    setKeyOrder(object, [...value.keys()]);
    return object;
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof DocumentFloat) return new PyFloat(value.value);
  return value;
}

// ---------- policies (verifier/catalogue.py parse_policy) ----------

/** What a privilege gives: its rank (larger is better) and its words. */
export class Benefit {
  constructor(kind, percent = 0, amountYuan = 0, companions = 0) {
    Object.assign(this, { kind, percent, amountYuan, companions });
  }

  /** Free entry beats any discount, a deeper discount beats a shallower, then more companions. */
  rank() {
    return [{ free_entry: 2, discount: 1, amount: 0, priority: 0 }[this.kind], this.percent + this.amountYuan, this.companions];
  }

  words() {
    const base = {
      free_entry: "free entry", discount: `${this.percent}% off`, amount: `¥${this.amountYuan}`,
      priority: "priority service (green channel)",
    }[this.kind];
    return base + (this.companions ? `, with ${this.companions} companion(s)` : "");
  }
}

/** Weekdays (ISO, 1 = Monday) and opening hours in seconds after local midnight (closing excluded). */
export class TimeRules {
  constructor(weekdays = new Set([1, 2, 3, 4, 5, 6, 7]), opens = null, closes = null) {
    Object.assign(this, { weekdays, opens, closes });
  }

  /** At local ISO weekday `weekday` and `seconds` (a fraction allowed) after local midnight. */
  allows(weekday, seconds) {
    if (!this.weekdays.has(weekday)) return false;
    if (this.opens === null || this.closes === null) return true;
    return this.opens <= seconds && seconds < this.closes;
  }
}

export class PolicyVersion {
  constructor(fields) {
    Object.assign(this, fields); // version, effectiveFrom, effectiveTo, rule, params, benefit, timeRules, usesPerDayPerVenue, test
  }

  inForce(day) {
    return this.effectiveFrom.n <= day.n && (this.effectiveTo === null || day.n <= this.effectiveTo.n);
  }
}

export class Policy {
  constructor(fields) {
    Object.assign(this, fields);
  }

  versionOn(day) {
    for (const version of this.versions) if (version.inForce(day)) return version;
    return null;
  }
}

class Checker {
  constructor() {
    this.problems = [];
  }

  fail(path, expected, found) {
    this.problems.push(new RuleProblem(path, expected, showFound(found)));
  }

  text(data, key, path = "") {
    const value = get(data, key);
    if (typeof value !== "string" || !pyStrip(value)) {
      this.fail(`${path}${key}`, "non-empty text", value);
      return "";
    }
    return value;
  }

  choice(data, key, options) {
    const value = get(data, key);
    if (!options.includes(value)) {
      this.fail(key, `one of ${pyRepr(options)}`, value);
      return options[0];
    }
    return value;
  }

  date(value, path, optional = false) {
    if (value === null && optional) return null;
    if (value instanceof PyDate) return value;
    if (typeof value === "string") {
      try {
        return isoDate(value);
      } catch (e) {
        if (!(e instanceof PyValueError)) throw e;
      }
    }
    this.fail(path, `a date YYYY-MM-DD${optional ? " or null" : ""}`, value);
    return null;
  }

  natural(data, key, path, low = 0, high = 10 ** 9) {
    const value = get(data, key, 0);
    if (!isInt(value) || !(low <= value && value <= high)) {
      this.fail(`${path}${key}`, `a whole number from ${low} to ${high}`, value);
      return low;
    }
    return Number(value);
  }
}

const KNOWN_FIELDS = [
  "id", "title", "lead_department", "data_departments", "legal_basis", "delivery", "subject",
  "status", "region_scope", "venues", "versions", "pays", "confirm_within_days", "commitment", "budget",
];
const byCodePointSort = (xs) => [...xs].sort(compareStrings);

/** {policy, problems}: a policy from plain data, or null with every problem found (not just the first). */
export function parsePolicy(data) {
  const c = new Checker();
  if (!isDict(data)) {
    c.fail("(file)", "a mapping of policy fields", data);
    return { policy: null, problems: c.problems };
  }
  const known = byCodePointSort(KNOWN_FIELDS);
  for (const extra of byCodePointSort(keysOf(data).filter((k) => !KNOWN_FIELDS.includes(k)))) {
    c.fail(extra, `only the fields ${pyRepr(known)}`, extra);
  }
  let policyId = get(data, "id");
  if (typeof policyId !== "string" || !ID.test(policyId)) {
    c.fail("id", "3-64 characters of a-z, 0-9 and -", policyId);
    policyId = "";
  }
  let title = get(data, "title");
  if (!isDict(title) || typeof get(title, "zh") !== "string" || typeof get(title, "en") !== "string") {
    c.fail("title", "a mapping with zh and en texts", title);
    title = { zh: "", en: "" };
  }
  const lead = c.text(data, "lead_department");
  let departments = get(data, "data_departments", []);
  if (!Array.isArray(departments) || !departments.every((d) => typeof d === "string" && d)) {
    c.fail("data_departments", "a list of department names", departments);
    departments = [];
  }
  const basis = get(data, "legal_basis");
  let basisText;
  if (!isDict(basis) || typeof get(basis, "title") !== "string") {
    c.fail("legal_basis", "a mapping with title and reference", basis);
    basisText = "";
  } else {
    basisText = pyStrip(`${basis.title} ${pyStr(get(basis, "reference", ""))}`);
  }
  const delivery = c.choice(data, "delivery", DELIVERY_MODES);
  const subject = c.choice(data, "subject", SUBJECTS);
  const status = c.choice(data, "status", STATUSES);
  const scope = c.choice(data, "region_scope", REGION_SCOPES);
  const [venueTypes, venueIds] = venues(c, get(data, "venues"), delivery);
  if (subject === "enterprise" && scope !== "everyone") {
    c.fail("region_scope", "everyone for an enterprise policy (write an enterprise.region rule)", scope);
  }
  const rawVersions = get(data, "versions");
  const versions = [];
  if (!Array.isArray(rawVersions) || !rawVersions.length) {
    c.fail("versions", "a non-empty list of dated versions", rawVersions);
  } else {
    rawVersions.forEach((raw, i) => {
      const version = parseVersion(c, raw, `versions[${i}]`, delivery, subject);
      if (version !== null) versions.push(version);
    });
    checkSequence(c, versions);
  }
  const { pays, confirmWithinDays, commitment } = paymentTerms(c, data, delivery);
  const budget = parseBudget(c, get(data, "budget"), delivery);
  if (c.problems.length) return { policy: null, problems: c.problems };
  const policy = new Policy({
    id: policyId, titleZh: title.zh, titleEn: title.en, leadDepartment: lead, dataDepartments: departments,
    legalBasis: basisText, delivery, subject, status, regionScope: scope, venueTypes, venueIds, versions, source: data,
    pays, confirmWithinDays, commitment, budget,
  });
  return { policy, problems: [] };
}

const BUDGET_FORM = "a budget in whole yuan for a year or a month: {amount_yuan: N, period: year|month}";

/** A paid policy's optional budget (Python: _budget), {amountYuan, period} or null. */
function parseBudget(c, raw, delivery) {
  if (raw === null) return null;
  if (delivery === "scan") {
    c.fail("budget", "no budget for a scan-mode policy (nothing is paid)", raw);
    return null;
  }
  if (!isDict(raw) || keysOf(raw).length !== 2 || !["amount_yuan", "period"].every((k) => has(raw, k))) {
    c.fail("budget", BUDGET_FORM, raw);
    return null;
  }
  const before = c.problems.length;
  const amountYuan = c.natural(raw, "amount_yuan", "budget.", 1, 10 ** 13);
  const period = get(raw, "period");
  if (!BUDGET_PERIODS.includes(period)) c.fail("budget.period", `one of ${pyRepr(BUDGET_PERIODS)}`, period);
  return c.problems.length === before ? { amountYuan, period } : null;
}

/**
 * How often a paid policy pays, a confirm policy's deadline and its commitment notice (告知承诺书),
 * checked when present (Python: _payment_terms; the catalogue validator's missing_terms requires them).
 */
function paymentTerms(c, data, delivery) {
  let pays = get(data, "pays");
  if (pays !== null) {
    if (delivery === "scan") {
      c.fail("pays", "no pays for a scan-mode policy (nothing is paid)", pays);
      pays = null;
    } else if (!PAYS.includes(pays)) {
      c.fail("pays", `how often the policy pays, one of ${pyRepr(PAYS)}`, pays);
      pays = null;
    }
  }
  let within = get(data, "confirm_within_days");
  if (within !== null) {
    if (delivery !== "confirm") {
      c.fail("confirm_within_days", "no confirm_within_days for a direct or scan policy", within);
      within = null;
    } else if (!isInt(within) || !(within >= 1 && within <= 3650)) {
      c.fail("confirm_within_days", "a whole number of days from 1 to 3650", within);
      within = null;
    } else {
      within = Number(within);
    }
  }
  const raw = get(data, "commitment");
  const done = (commitment) => ({ pays, confirmWithinDays: within, commitment });
  if (raw === null) return done(null);
  if (delivery !== "confirm") {
    c.fail("commitment", "no commitment notice for a direct or scan policy", raw);
    return done(null);
  }
  if (!isDict(raw) || keysOf(raw).length !== 3 || !["version", "zh", "en"].every((k) => has(raw, k))) {
    c.fail("commitment", COMMITMENT_FORM, raw);
    return done(null);
  }
  const before = c.problems.length;
  const version = c.natural(raw, "version", "commitment.", 1, 10 ** 6);
  const zh = c.text(raw, "zh", "commitment.");
  const en = c.text(raw, "en", "commitment.");
  return done(c.problems.length === before ? { version, zh, en } : null);
}

const COMMITMENT_FORM =
  "the commitment notice (告知承诺书) a confirm-mode policy shows before the confirm button: " +
  "{version: N, zh: ..., en: ...}";

function venues(c, raw, delivery) {
  if (delivery !== "scan") {
    if (raw !== null) c.fail("venues", "no venues for a direct or confirm policy", raw);
    return [new Set(), new Set()];
  }
  if (!isDict(raw) || !(pyTruthy(get(raw, "types")) || pyTruthy(get(raw, "ids")))) {
    c.fail("venues", "a mapping with venue types and/or venue ids for a scan-mode policy", raw);
    return [new Set(), new Set()];
  }
  let types = get(raw, "types", []);
  let ids = get(raw, "ids", []);
  if (!Array.isArray(types) || !types.every((t) => VENUE_TYPES.includes(t))) {
    c.fail("venues.types", `a list of venue types from ${pyRepr(VENUE_TYPES)}`, types);
    types = [];
  }
  if (!Array.isArray(ids) || !ids.every((v) => typeof v === "string" && v)) {
    c.fail("venues.ids", "a list of venue ids", ids);
    ids = [];
  }
  return [new Set(types), new Set(ids)];
}

function parseVersion(c, raw, path, delivery, subject) {
  if (!isDict(raw)) {
    c.fail(path, "a mapping with version, effective_from, eligibility and benefit", raw);
    return null;
  }
  const before = c.problems.length;
  const number = c.natural(raw, "version", `${path}.`, 1, 10 ** 6);
  const start = c.date(get(raw, "effective_from"), `${path}.effective_from`);
  const end = c.date(get(raw, "effective_to"), `${path}.effective_to`, true);
  if (start && end && end.n < start.n) c.fail(`${path}.effective_to`, "a date on or after effective_from", String(end));
  let params = parseParams(c, get(raw, "parameters", {}), `${path}.parameters`);
  const { rule, problems } = parseRule(get(raw, "eligibility"), `${path}.eligibility`, { subject });
  c.problems.push(...problems);
  if (rule !== null) {
    const missing = byCodePointSort([...paramsRead(rule)].filter((name) => !params.has(name)));
    for (const name of missing) c.fail(`${path}.eligibility`, `a parameter named in ${path}.parameters`, name);
    if (delivery === "scan") checkGateRule(c, rule, `${path}.eligibility`);
  }
  if (rule !== null) params = typedParams(c, params, paramKinds(rule), `${path}.parameters`);
  for (const [name, dated] of params) {
    if (start !== null && dated.starts[0].n > start.n) {
      c.fail(`${path}.parameters.${name}`, `a value from ${start} (effective_from) on`, String(dated.starts[0]));
    }
  }
  const benefit = parseBenefit(c, get(raw, "benefit"), `${path}.benefit`, delivery);
  const timeRules = parseTimeRules(c, get(raw, "time_rules"), `${path}.time_rules`);
  let limits = get(raw, "limits");
  if (!pyTruthy(limits)) limits = {};
  let uses = null;
  if (pyTruthy(limits)) {
    if (!isDict(limits) || keysOf(limits).length !== 1 || !has(limits, "uses_per_day_per_venue")) {
      c.fail(`${path}.limits`, "a mapping with uses_per_day_per_venue", limits);
    } else {
      uses = c.natural(limits, "uses_per_day_per_venue", `${path}.limits.`, 1, 100);
    }
  }
  if (c.problems.length > before || rule === null || start === null || benefit === null) return null;
  let test;
  try {
    test = compileRule(rule, params);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    c.fail(`${path}.eligibility`, "parameters with a value on every date", e.message);
    return null;
  }
  return new PolicyVersion({
    version: number, effectiveFrom: start, effectiveTo: end, rule, params, benefit, timeRules,
    usesPerDayPerVenue: uses, test,
  });
}

function parseParams(c, raw, path) {
  const params = new Map();
  if (!isDict(raw)) {
    c.fail(path, "a mapping of parameter names to values", raw);
    return params;
  }
  for (const name of keysOf(raw)) {
    const value = raw[name];
    const where = `${path}.${name}`;
    if (Array.isArray(value)) {
      const dated = [];
      value.forEach((item, i) => {
        if (!isDict(item) || keysOf(item).length !== 2 || !has(item, "from") || !has(item, "value")) {
          c.fail(`${where}[${i}]`, "a mapping {from: DATE, value: VALUE}", item);
          return;
        }
        const day = c.date(item.from, `${where}[${i}].from`);
        if (day !== null) dated.push([day, item.value]);
      });
      const days = dated.map(([d]) => d.n);
      const ordered = [...new Set(days)].sort((a, b) => a - b);
      if (days.length !== ordered.length || days.some((d, k) => d !== ordered[k])) {
        c.fail(where, "dated values in increasing date order, each date once", value);
      } else if (dated.length) {
        params.set(name, new ParamValues(dated));
      }
    } else if (isInt(value) || typeof value === "string" || typeof value === "boolean" || value instanceof PyDate) {
      params.set(name, new ParamValues([[DATE_MIN, value]]));
    } else {
      c.fail(where, "a value or a list of dated values", value);
    }
  }
  return params;
}

/** Each parameter the rule reads, with the kind of the attribute it is compared with (the last one wins). */
function paramKinds(rule) {
  const kinds = new Map();
  for (const node of walk(rule)) {
    if (node instanceof AgeOn) {
      if (node.on instanceof Param) kinds.set(node.on.name, DATE);
      if (node.bound instanceof Param) kinds.set(node.bound.name, INT);
      continue;
    }
    if (node instanceof MembersAged) {
      for (const v of [node.age, node.number]) if (v instanceof Param) kinds.set(v.name, INT);
      continue;
    }
    let values = [];
    if (node instanceof Compare) values = [node.value];
    else if (node instanceof In) values = node.values;
    else if (node instanceof Between) values = [node.low, node.high];
    for (const value of values) if (value instanceof Param) kinds.set(value.name, ATTRIBUTES[node.attr].kind);
  }
  return kinds;
}

function typedParams(c, params, kinds, path) {
  const typed = new Map(params);
  for (const [name, kind] of kinds) {
    const dated = params.get(name);
    if (dated === undefined) continue;
    const converted = [];
    dated.starts.forEach((start, k) => {
      let value = dated.values[k];
      if (kind === DATE && typeof value === "string") {
        try {
          value = isoDate(value);
        } catch (e) {
          if (!(e instanceof PyValueError)) throw e;
        }
      }
      const ok = { [INT]: isInt(value), [BOOL]: typeof value === "boolean", [TEXT]: typeof value === "string" }[kind];
      if (!(ok === undefined ? value instanceof PyDate : ok)) {
        c.fail(`${path}.${name}`, `a ${kind} value (it is compared with a ${kind} attribute)`, value);
      }
      converted.push([start, value]);
    });
    typed.set(name, new ParamValues(converted));
  }
  return typed;
}

/** A scan-mode rule may read only what a code carries, and age only at code thresholds. */
function checkGateRule(c, rule, path) {
  for (const name of byCodePointSort(attributesRead(rule))) {
    const attribute = has(ATTRIBUTES, name) ? ATTRIBUTES[name] : null;
    if (attribute === null || !attribute.atGate) c.fail(path, "attributes a code carries (scan-mode policy)", name);
  }
  for (const node of walk(rule)) {
    if (node instanceof In && node.attr === "age") {
      c.fail(path, "age compared with <, <=, >, >= or between at a gate (a code shows an age band)", "in");
      continue;
    }
    if ((node instanceof Compare || node instanceof Between) && node.attr === "age") {
      let bounds = node instanceof Compare ? [node.value] : [];
      if (node instanceof Between) {
        const high = node.high;
        bounds = [node.low, typeof high === "bigint" ? high + 1n : isInt(high) ? high + 1 : high];
      }
      for (const bound of bounds) {
        if (bound instanceof Param || !AGE_THRESHOLDS.some((t) => pyEq(t, bound))) {
          c.fail(path, `age bounds a code can show: ${pyRepr(AGE_THRESHOLDS)}`, bound);
        }
      }
    }
  }
}

function parseBenefit(c, raw, path, delivery) {
  if (!isDict(raw) || !BENEFIT_KINDS.includes(get(raw, "kind"))) {
    c.fail(path, `a mapping with kind one of ${pyRepr(BENEFIT_KINDS)}`, raw);
    return null;
  }
  const kind = raw.kind;
  const allowed = ["kind", "percent", "amount_yuan", "companions"];
  const extra = byCodePointSort(keysOf(raw).filter((k) => !allowed.includes(k)));
  if (extra.length) c.fail(path, "only kind, percent, amount_yuan and companions", extra);
  const before = c.problems.length;
  const percent = c.natural(raw, "percent", `${path}.`, 0, 100);
  const amount = c.natural(raw, "amount_yuan", `${path}.`, 0, 10 ** 8);
  const companions = c.natural(raw, "companions", `${path}.`, 0, 5);
  if (c.problems.length === before) {
    if (kind === "discount" && !(percent > 0 && percent < 100)) c.fail(`${path}.percent`, "1 to 99 for a discount", percent);
    if (kind === "amount" && amount <= 0) c.fail(`${path}.amount_yuan`, "a positive amount for a payout", amount);
  }
  if ((kind === "amount") === (delivery === "scan")) {
    c.fail(`${path}.kind`, "free_entry or discount on site; amount for direct or confirm", kind);
  }
  return new Benefit(kind, percent, amount, companions);
}

/** Seconds after midnight of an "HH:MM" that HOURS accepted. */
const timeOf = (text) => Number(text.slice(0, 2)) * 3600 + Number(text.slice(3)) * 60;

function parseTimeRules(c, raw, path) {
  if (raw === null) return new TimeRules();
  if (!isDict(raw) || !keysOf(raw).every((k) => k === "weekdays" || k === "hours")) {
    c.fail(path, "a mapping with weekdays and/or hours", raw);
    return new TimeRules();
  }
  let weekdays = get(raw, "weekdays", [1, 2, 3, 4, 5, 6, 7]);
  if (!Array.isArray(weekdays) || !weekdays.length || !weekdays.every((d) => isInt(d) && d >= 1 && d <= 7)) {
    c.fail(`${path}.weekdays`, "a list of ISO weekdays 1 (Monday) to 7 (Sunday)", weekdays);
    weekdays = [1, 2, 3, 4, 5, 6, 7];
  }
  const hours = get(raw, "hours");
  let opens = null;
  let closes = null;
  if (hours !== null) {
    const wellFormed = Array.isArray(hours) && hours.length === 2;
    if (!wellFormed || !hours.every((h) => typeof h === "string" && HOURS.test(h))) {
      c.fail(`${path}.hours`, 'two times ["HH:MM", "HH:MM"]', hours);
    } else {
      [opens, closes] = [timeOf(hours[0]), timeOf(hours[1])];
      if (closes <= opens) c.fail(`${path}.hours`, "a closing time after the opening time", hours);
    }
  }
  return new TimeRules(new Set(weekdays.map(Number)), opens, closes);
}

function checkSequence(c, versions) {
  const numbers = versions.map((v) => v.version);
  const ordered = [...new Set(numbers)].sort((a, b) => a - b);
  if (numbers.length !== ordered.length || numbers.some((n, k) => n !== ordered[k])) {
    c.fail("versions", "version numbers increasing, each once", numbers);
  }
  const byStart = [...versions].sort((a, b) => a.effectiveFrom.n - b.effectiveFrom.n); // stable, as Python's sorted
  for (let k = 1; k < byStart.length; k++) {
    const [earlier, later] = [byStart[k - 1], byStart[k]];
    if (earlier.effectiveTo === null || earlier.effectiveTo.n >= later.effectiveFrom.n) {
      c.fail(
        "versions",
        "date ranges that do not overlap (end the earlier version before the later starts)",
        `version ${earlier.version} and version ${later.version}`,
      );
    }
  }
}

// ---------- snapshots ----------

export class Snapshot {
  constructor(fields) {
    Object.assign(this, fields); // version, issuedAt, maxAge, region, contentHash, policies, valueSets
    const big = typeof this.issuedAt === "bigint" || typeof this.maxAge === "bigint";
    this.expiresAt = big ? BigInt(this.issuedAt) + BigInt(this.maxAge) : this.issuedAt + this.maxAge;
  }

  /** Past its max age: decisions answer CATALOGUE_STALE. */
  isStale(now) {
    return now > this.expiresAt;
  }
}

const hex = (u) => Array.from(u, (x) => x.toString(16).padStart(2, "0")).join("");

/** SHA-256 (hex) over the canonical JSON of the policies (and value sets, when there are any), as signed_json.js reads them. */
export async function contentHash(policies, valueSets = []) {
  const content = valueSets.length ? new Map([["policies", policies], ["value_sets", valueSets]]) : policies;
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", canonicalJson(content))));
}

/**
 * Verify and parse a snapshot (verifier.catalogue.load_snapshot) against `root`, the pinned
 * trust-list root from `importRootKey`; CatalogueError naming the problem otherwise.
 */
export async function loadSnapshot(document, root) {
  const signed = await openDocument(document, root, "catalogue snapshot", CatalogueError);
  const field = (name, otherwise = null) => (signed.has(name) ? signed.get(name) : otherwise);
  if (field("format") !== SNAPSHOT_FORMAT) {
    throw new CatalogueError(`catalogue snapshot format must be ${pyRepr(SNAPSHOT_FORMAT)}`);
  }
  const numbers = {};
  for (const name of ["version", "issued_at", "max_age", "region"]) {
    const value = plain(field(name));
    if (!isInt(value)) throw new CatalogueError(`catalogue snapshot ${name} must be an integer, found ${pyRepr(value)}`);
    numbers[name] = value;
  }
  const sources = field("policies");
  if (!Array.isArray(sources)) throw new CatalogueError("catalogue snapshot policies must be a list");
  const rawSets = field("value_sets", []);
  if (!Array.isArray(rawSets)) throw new CatalogueError("catalogue snapshot value_sets must be a list");
  if (field("content_hash") !== (await contentHash(sources, rawSets))) {
    throw new CatalogueError("catalogue snapshot content hash does not match its policies");
  }
  const valueSets = [];
  rawSets.forEach((raw, i) => {
    const { valueSet, problems } = valueSetFromJson(plain(raw));
    if (valueSet === null) throw new CatalogueError(`catalogue snapshot value set ${i}: ${problems[0]}`);
    const earlier = valueSets.findIndex((v) => v.name === valueSet.name);
    if (earlier !== -1) {
      throw new CatalogueError(`catalogue snapshot value set ${i}: name ${pyRepr(valueSet.name)} is also value set ${earlier}`);
    }
    valueSets.push(valueSet);
  });
  const policies = sources.map((source, i) => {
    const { policy, problems } = parsePolicy(plain(source));
    if (policy === null) throw new CatalogueError(`catalogue snapshot policy ${i}: ${problems[0]}`);
    return policy;
  });
  return new Snapshot({
    version: numbers.version, issuedAt: numbers.issued_at, maxAge: numbers.max_age, region: numbers.region,
    contentHash: field("content_hash"), policies, valueSets,
  });
}
