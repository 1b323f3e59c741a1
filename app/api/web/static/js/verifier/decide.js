// Privilege decisions on the handheld (Python: verifier/decide.py): a verified code, a venue and a
// time in; a decision out, equal to Python's `Decision.to_json()`, explanation lines included.
//
// Local time is China Standard Time (UTC+8, no daylight saving). Policies are indexed by venue
// type and venue id when the snapshot loads; a decision evaluates only the versions in force on
// the local day, at that weekday and minute, for the holder's region scope, best benefit first.
// Daily limits are counted per holder pseudonym, venue, policy and local day in a usage ledger:
// `InMemoryUsage`, or `IndexedDbUsage`, which answers from memory (so a decision stays
// synchronous) and writes every use through to IndexedDB, so limits survive a page reload.
//
// The code is `verifyCode(...).code`: {kind, issuer, region, kid, alg, issued_at, expires_at,
// proof_time, card_number, profile} with the profile as Python's Profile.to_json() gives it.

import { YRD_REGIONS } from "./catalogue.js";
import { AGE_THRESHOLDS, AgeBand, explain, isoDate, pyEq, PyDate, pyStr } from "./rules.js";
import { byName, ignoredAttributes, mapProfile, partnerMapper } from "./valuesets.js";

export const LOCAL_OFFSET_S = 8 * 3600;
export const GRANTED = "GRANTED";
export const REJECTED = "REJECTED";
export const CATALOGUE_STALE = "CATALOGUE_STALE";
export const NO_POLICY_FOR_VENUE = "NO_POLICY_FOR_VENUE";
export const NOT_ELIGIBLE = "NOT_ELIGIBLE";
const NEXT_THRESHOLD = new Map(AGE_THRESHOLDS.map((t, i) => [t, i + 1 < AGE_THRESHOLDS.length ? AGE_THRESHOLDS[i + 1] : null]));
const EVERYONE = 0;
const RESIDENTS = 1;
const SCOPES = { everyone: EVERYONE, residents: RESIDENTS, yrd: 2 };
const EPOCH_WEEKDAY = 4; // 1970-01-01 was a Thursday (ISO 4)

// ---------- profiles and facts ----------

/** A profile from Profile.to_json() form (absent: not asserted; dates ISO text; subject hex). */
export function profileFromJson(json) {
  const p = json || {};
  const opt = (name) => (p[name] === undefined ? null : p[name]);
  return {
    subject: p.subject || "",
    age_over: opt("age_over"),
    disability_category: opt("disability_category"),
    disability_grade: opt("disability_grade"),
    martyr_family: p.martyr_family === true,
    entitled_group: p.entitled_group === true,
    student_level: opt("student_level"),
    enrolled_until: p.enrolled_until ? isoDate(p.enrolled_until) : null,
    residence: opt("residence"),
    version: p.version || 0,
    enterprise: p.enterprise === true, // an enterprise's code (法人随申码)
    credit_good: p.credit_good === true,
    enterprise_region: opt("enterprise_region"),
  };
}

/** What a code tells a gate, under the rule language's attribute names. */
export function profileFacts(profile) {
  const facts = {};
  if (profile.age_over !== null) {
    const next = NEXT_THRESHOLD.get(profile.age_over);
    facts.age = new AgeBand(profile.age_over, next === undefined ? null : next);
  }
  if (profile.disability_category !== null) {
    facts["disability.category"] = profile.disability_category;
    facts["disability.grade"] = profile.disability_grade;
  }
  if (profile.martyr_family) facts.martyr_family = true;
  if (profile.entitled_group) facts.entitled_group = true;
  if (profile.student_level !== null) {
    facts["student.level"] = profile.student_level;
    facts["student.enrolled_until"] = profile.enrolled_until;
  }
  if (profile.residence !== null) facts["residence.region"] = profile.residence;
  if (profile.enterprise) {
    // an enterprise's code: its own attributes only
    if (profile.credit_good) facts["enterprise.credit_good"] = true;
    if (profile.enterprise_region !== null) facts["enterprise.region"] = profile.enterprise_region;
  }
  return facts;
}

// ---------- local time ----------

function roundHalfEven(x) {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The local day and second of `now` truncated to whole seconds (as decide counts: int(now)). */
function localOf(seconds) {
  const s = seconds + LOCAL_OFFSET_S;
  const dayNumber = Math.floor(s / 86400);
  return { dayNumber, second: s - dayNumber * 86400 };
}

/** The local day and second as Python's datetime.fromtimestamp(now, UTC+8) has them (microseconds rounded half-even). */
function localClock(now) {
  let whole = Math.trunc(now);
  let micro = roundHalfEven((now - whole) * 1e6);
  if (micro >= 1e6) whole += 1;
  else if (micro < 0) whole -= 1;
  return localOf(whole);
}

const isoWeekday = (dayNumber) => ((((dayNumber + EPOCH_WEEKDAY - 1) % 7) + 7) % 7) + 1;

/** The local day number (days since 1970-01-01 in UTC+8) of a unix time. */
export const localDayNumber = (now) => localOf(Math.trunc(now)).dayNumber;

// ---------- usage ledgers ----------

const keyText = (key) => JSON.stringify(key);

/** Uses per [subject hex, venue id, policy id, local day YYYY-MM-DD], in memory. */
export class InMemoryUsage {
  constructor() {
    this.counts = new Map();
  }

  count(key) {
    return this.counts.get(keyText(key)) || 0;
  }

  record(key) {
    const k = keyText(key);
    this.counts.set(k, (this.counts.get(k) || 0) + 1);
  }
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * The same ledger kept in IndexedDB (database `name`, store "usage"). `open` reads the uses of
 * the last `keepDays` local days into memory and deletes older ones; `record` counts in memory at
 * once and writes through; `flush()` resolves when every write has landed.
 */
export class IndexedDbUsage extends InMemoryUsage {
  static async open({ name = "suishen-handheld-usage", now = Date.now() / 1000, keepDays = 2 } = {}) {
    const opening = indexedDB.open(name, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore("usage");
    const db = await request(opening);
    const ledger = new IndexedDbUsage(db);
    const oldest = String(new PyDate(localDayNumber(now) - keepDays + 1));
    const tx = db.transaction("usage", "readwrite");
    const store = tx.objectStore("usage");
    const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
    keys.forEach((k, i) => {
      if (values[i].day < oldest) store.delete(k);
      else ledger.counts.set(k, values[i].count);
    });
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
    return ledger;
  }

  constructor(db) {
    super();
    this.db = db;
    this.pending = Promise.resolve();
  }

  record(key) {
    super.record(key);
    const k = keyText(key);
    const value = { count: this.counts.get(k), day: key[3] };
    this.pending = this.pending.then(
      () =>
        new Promise((resolve, reject) => {
          const tx = this.db.transaction("usage", "readwrite");
          tx.objectStore("usage").put(value, k);
          tx.oncomplete = resolve;
          tx.onerror = () => reject(tx.error);
        }),
    );
  }

  flush() {
    return this.pending;
  }

  close() {
    this.db.close();
  }
}

// ---------- decisions ----------

function privilegeJson(p) {
  return {
    policy_id: p.policyId,
    version: p.version,
    title: { zh: p.titleZh, en: p.titleEn },
    benefit: p.benefit.words(),
    companions: p.benefit.companions,
  };
}

/** "SC 0000 0001 2345": a card number as printed. */
export function cardText(number) {
  const digits = String(number).padStart(12, "0");
  return `SC ${digits.slice(0, 4)} ${digits.slice(4, 8)} ${digits.slice(8)}`;
}

export class Decision {
  constructor(fields) {
    Object.assign(this, { limited: false, ...fields }); // result, reason, privileges, venue, day, profile, code, decider, now
  }

  get granted() {
    return this.result === GRANTED;
  }

  get best() {
    return this.privileges.length ? this.privileges[0] : null;
  }

  /** A printed card: every decision on it asks staff to check the holder's photo ID. */
  get checkId() {
    return this.card !== null && this.card !== undefined;
  }

  /** [policy, version in force or null, why it did or did not apply] for every candidate policy. */
  notes() {
    if (this.decider === null || this.code === null) return [];
    const granted = new Set(this.privileges.map((p) => p.policyId));
    return this.decider.notesFor(this.code, this.venue, this.now, granted);
  }

  /** In words ({zh, en} a line), policy by policy: which clauses held and which failed (Python's explanation()). */
  explanation() {
    const lines = [];
    if (this.checkId) {
      const label = cardText(this.card);
      lines.push(words(`卡 ${label}：请核对持卡人身份证件`, `card ${label}: check the holder's photo ID`));
    }
    if (this.reason === CATALOGUE_STALE) {
      lines.push(words("本机政策目录已过期：请人工核验持有人证件",
        "the policy catalogue on this gate is out of date: check the holder's documents by hand"));
      return lines;
    }
    if (this.reason === NO_POLICY_FOR_VENUE) {
      const v = this.venue;
      lines.push(words(`没有已发布的政策适用于 ${v.type} 类场所或场所 ${v.id}`, `no published policy covers ${v.type} venues or venue ${v.id}`));
      return lines;
    }
    if (this.decider !== null && this.code !== null) lines.push(...this.decider.ignored(this.code));
    const facts = profileFacts(this.profile);
    for (const [policy, version, note] of this.notes()) {
      const head = version === null
        ? words(`${policy.titleZh}（${policy.id}）`, `${policy.titleEn} (${policy.id})`)
        : words(`${policy.titleZh}（${policy.id} 第${version.version}版）`, `${policy.titleEn} (${policy.id} v${version.version})`);
      lines.push(words(`${head.zh}：${note.zh}`, `${head.en}: ${note.en}`));
      if (version !== null) {
        const clauses = explain(version.rule, facts, this.day, version.params);
        const zh = clauses.lines(1, "zh");
        clauses.lines(1).forEach((en, i) => lines.push(words(zh[i], en)));
      }
    }
    return lines;
  }

  /** The explanation's lines in one language. */
  explain(lang = "en") {
    return this.explanation().map((line) => (lang === "zh" ? line.zh : line.en));
  }

  toJson() {
    return {
      result: this.result,
      reason: this.reason,
      privileges: this.privileges.map(privilegeJson),
      venue: { ...this.venue },
      check_id: this.checkId,
      explanation: this.explanation(), // each line {zh, en}
    };
  }
}

/** A line in both languages, keys in Python's order (Words.to_json). */
const words = (zh, en) => ({ zh, en });
const GRANTED_WORDS = words("准予享受", "granted");

function normaliseVenue(venue) {
  return {
    id: venue.id,
    type: venue.type,
    region: venue.region === undefined ? 310000 : venue.region,
    operator: venue.operator === undefined ? "" : venue.operator,
  };
}

function entryOf(policy, version) {
  const rules = version.timeRules;
  return {
    policy,
    version,
    privilege: {
      policyId: policy.id, version: version.version, titleZh: policy.titleZh, titleEn: policy.titleEn,
      benefit: version.benefit,
    },
    rank: version.benefit.rank(),
    scope: SCOPES[policy.regionScope],
    weekdays: rules.weekdays.size === 7 ? null : rules.weekdays,
    opens: rules.opens === null ? 0 : rules.opens,
    closes: rules.closes === null ? 86400 : rules.closes,
    test: version.test,
    limit: version.usesPerDayPerVenue,
    enterprise: policy.subject === "enterprise", // for enterprise codes only; a person's policy for persons' codes only
  };
}

function byRank(a, b) {
  for (let k = 0; k < 3; k++) if (a.rank[k] !== b.rank[k]) return b.rank[k] - a.rank[k];
  return 0;
}

/** Decisions from one catalogue snapshot; build one per snapshot load. */
export class Decider {
  constructor(snapshot, usage = null) {
    this.snapshot = snapshot;
    this.usage = usage;
    this.byType = new Map();
    this.byId = new Map();
    for (const policy of snapshot.policies) {
      if (policy.delivery !== "scan" || policy.status !== "published") continue;
      for (const type of policy.venueTypes) {
        if (!this.byType.has(type)) this.byType.set(type, []);
        this.byType.get(type).push(policy);
      }
      for (const id of policy.venueIds) {
        if (!this.byId.has(id)) this.byId.set(id, []);
        this.byId.get(id).push(policy);
      }
    }
    this.entries = new Map();
    this.partnerTables = partnerMapper(byName(snapshot.valueSets));
  }

  candidates(venue) {
    const byType = this.byType.get(venue.type) || [];
    const byId = this.byId.get(venue.id);
    if (!byId || !byId.length) return byType;
    return byType.concat(byId.filter((p) => !byType.includes(p)));
  }

  entriesOn(venue, dayNumber) {
    const key = JSON.stringify([venue.type, venue.id, dayNumber]);
    let entries = this.entries.get(key);
    if (entries === undefined) {
      if (this.entries.size > 4096) this.entries.clear(); // a new day: yesterday's entries are of no more use
      const day = new PyDate(dayNumber);
      entries = [];
      for (const policy of this.candidates(venue)) {
        const version = policy.versionOn(day);
        if (version !== null) entries.push(entryOf(policy, version));
      }
      this.entries.set(key, entries);
    }
    return entries;
  }

  /** The decision on `code` (verifyCode's code) at `venue` ({id, type, region, operator}) at unix time `now`. */
  decide(code, venue, now) {
    const place = normaliseVenue(venue);
    const { dayNumber, second } = localOf(Math.trunc(now));
    const day = new PyDate(dayNumber);
    const held = profileFromJson(code.profile);
    const seen = { ...code, profile: held };
    const profile = this.profileOf(seen);
    const card = code.card_number === undefined ? null : code.card_number;
    const base = { venue: place, day, profile, now, card };
    if (now > this.snapshot.expiresAt || !this.candidates(place).length) {
      const reason = now > this.snapshot.expiresAt ? CATALOGUE_STALE : NO_POLICY_FOR_VENUE;
      return new Decision({ ...base, result: REJECTED, reason, privileges: [], code: null, decider: null });
    }
    const eligible = this.eligibleNow(place, dayNumber, second, profile);
    let granted = eligible;
    if (this.usage !== null && eligible.some((e) => e.limit)) {
      granted = eligible.filter((e) => !e.limit || this.usage.count([held.subject, place.id, e.policy.id, String(day)]) < e.limit);
    }
    if (!granted.length) {
      return new Decision({ ...base, result: REJECTED, reason: NOT_ELIGIBLE, privileges: [], code: seen, decider: this });
    }
    const best = granted[0];
    if (best.limit && this.usage !== null) this.usage.record([profile.subject, place.id, best.policy.id, String(day)]);
    return new Decision({
      ...base, result: GRANTED, reason: null, privileges: granted.map((e) => e.privilege), code: seen, decider: this,
      limited: Boolean(best.limit),
    });
  }

  /** The policies whose time, region and rule hold, best benefit first (no usage limits). */
  eligibleNow(venue, dayNumber, second, profile) {
    const entries = this.entriesOn(venue, dayNumber);
    const day = new PyDate(dayNumber);
    const facts = profileFacts(profile);
    const weekday = isoWeekday(dayNumber);
    const region = profile.residence;
    const home = this.snapshot.region;
    const eligible = [];
    const enterprise = Boolean(profile.enterprise);
    for (const e of entries) {
      if (e.enterprise !== enterprise) continue;
      if (e.weekdays !== null && !e.weekdays.has(weekday)) continue;
      if (!(e.opens <= second && second < e.closes)) continue;
      if (e.scope && (e.scope === RESIDENTS ? !pyEq(region, home) : !YRD_REGIONS.has(region))) continue;
      if (e.test(facts, day)) eligible.push(e);
    }
    return eligible.sort(byRank);
  }

  /** The holder's profile in our codes (a partner issuer's codes mapped through the value sets). */
  profileOf(code) {
    const tables = this.partnerTables.get(code.issuer);
    return tables && tables.length ? mapProfile(code.profile, tables) : code.profile;
  }

  /** A partner's codes that no mapping table knows: ignored by the decision, and said so. */
  ignored(code) {
    if (!this.partnerTables.has(code.issuer)) return [];
    return ignoredAttributes(code.profile, code.issuer, this.snapshot.valueSets);
  }

  /** Why each candidate policy did or did not apply (the slow path, for explanations). */
  notesFor(code, venue, now, granted) {
    const { dayNumber, second } = localClock(now);
    const day = new PyDate(dayNumber);
    const weekday = isoWeekday(dayNumber);
    const facts = profileFacts(this.profileOf(code));
    const region = Object.hasOwn(facts, "residence.region") ? facts["residence.region"] : null;
    return this.candidates(venue).map((policy) => {
      const version = policy.versionOn(day);
      let note;
      if (granted.has(policy.id)) {
        const scope = this.scopeNote(policy.regionScope, region);
        note = words(GRANTED_WORDS.zh + scope.zh, GRANTED_WORDS.en + scope.en);
      } else {
        note = this.note(policy, version, facts, region, weekday, second, day, code, venue);
      }
      return [policy, version, note];
    });
  }

  scopeNote(scope, region) {
    const home = pyStr(this.snapshot.region);
    if (scope === "residents") {
      return words(`（仅限 ${home} 居民：码中为 ${pyStr(region)}）`, ` (residents of ${home} only: the code states ${pyStr(region)})`);
    }
    if (scope === "yrd") {
      return words(`（长三角居民：码中为 ${pyStr(region)}）`, ` (Yangtze River Delta residents: the code states ${pyStr(region)})`);
    }
    return words("", "");
  }

  note(policy, version, facts, region, weekday, second, day, code, venue) {
    if (version === null) return words("当日不在有效期内", "not in force on this date");
    if ((policy.subject === "enterprise") !== Boolean(this.profileOf(code).enterprise)) {
      return policy.subject === "enterprise"
        ? words("仅限企业码", "for enterprises' codes only")
        : words("仅限个人码", "for persons' codes only");
    }
    if (!version.timeRules.allows(weekday, second)) return words("不在适用的日期或时段", "not at this day or hour");
    const scope = policy.regionScope;
    const home = pyStr(this.snapshot.region);
    const stated = region !== null
      ? words(`码中为 ${pyStr(region)}`, `code: ${pyStr(region)}`)
      : words("码中未载明居住地", "the code states no residence");
    if (scope === "residents" && !pyEq(region, this.snapshot.region)) {
      return words(`仅限 ${home} 居民（${stated.zh}）`, `for residents of ${home} only (${stated.en})`);
    }
    if (scope === "yrd" && !YRD_REGIONS.has(region)) {
      return words(`仅限长三角居民（${stated.zh}）`, `for Yangtze River Delta residents only (${stated.en})`);
    }
    if (!version.test(facts, day)) return words("不符合条件", "not eligible");
    const limit = version.usesPerDayPerVenue;
    if (limit && this.usage !== null) {
      const used = this.usage.count([code.profile.subject, venue.id, policy.id, String(day)]);
      if (used >= limit) {
        return words(`今日已在本场所使用 ${used} 次（上限 ${limit} 次）`, `already used ${used} time(s) today at this venue (limit ${limit})`);
      }
    }
    return GRANTED_WORDS;
  }
}
