// Replay guards for the handheld, with the rules of verifier/replay.py.
//
// Keys are built from signed fields (kid, cti, venue and day), never from signature bytes.
// - firstUse(key): an online code is used once; a printed card once per venue per local day.
// - firstStep(key, step): a holder-bound credential is accepted again only with a later proof
//   step than any accepted before, and at least MIN_INTERVAL_S of this clock after the last
//   acceptance (`stepIsNext`), so the -2 ... +2 steps the skew window allows pass once.
// A guard is a small interface with async methods, so the in-memory guard (tests, a page
// without storage) and the IndexedDB guard (the staff page, surviving a reload) are the same.

import { TIME_STEP_S } from "./code.js";
import { concatBytes, toHex } from "./keys.js";

export const MIN_INTERVAL_S = TIME_STEP_S;

export function replayKey(kid, cti) {
  return concatBytes(kid, cti);
}

/** A printed card is used once per venue per local day: kid + cti + "@" + venue + day (4 bytes). */
export function cardReplayKey(kid, cti, venue, dayNumber) {
  const day = Uint8Array.of((dayNumber >>> 24) & 0xff, (dayNumber >> 16) & 0xff, (dayNumber >> 8) & 0xff, dayNumber & 0xff);
  return concatBytes(kid, cti, Uint8Array.of(0x40), new TextEncoder().encode(venue), day);
}

/** The rule every guard applies; `last` is {step, at, expires_at} or null, an expired one counts as none. */
export function stepIsNext(last, step, now) {
  if (last == null || last.expires_at < now) return true;
  return step > last.step && now >= last.at + MIN_INTERVAL_S;
}

/** A guard in this page's memory; expired entries are swept when a table has doubled. */
export class MemoryReplayGuard {
  constructor() {
    this.seen = new Map();
    this.steps = new Map();
    this.sweepAt = 1024;
  }

  async firstUse(key, expiresAt, now) {
    const k = toHex(key);
    const previous = this.seen.get(k);
    if (previous !== undefined && previous >= now) return false;
    this.seen.set(k, expiresAt);
    if (this.seen.size >= this.sweepAt) this.sweep(now);
    return true;
  }

  async lastStep(key, now) {
    const held = this.steps.get(toHex(key));
    return held !== undefined && held.expires_at >= now ? held : null;
  }

  async firstStep(key, step, expiresAt, now) {
    const k = toHex(key);
    if (!stepIsNext(this.steps.get(k) ?? null, step, now)) return false;
    this.steps.set(k, { step, at: now, expires_at: expiresAt });
    if (this.steps.size >= this.sweepAt) this.sweep(now);
    return true;
  }

  sweep(now) {
    for (const [k, exp] of this.seen) if (exp < now) this.seen.delete(k);
    for (const [k, a] of this.steps) if (a.expires_at < now) this.steps.delete(k);
    this.sweepAt = Math.max(1024, 2 * Math.max(this.seen.size, this.steps.size));
  }

  get size() {
    return this.seen.size + this.steps.size;
  }
}

const USES = "uses";
const STEPS = "steps";
const SWEEP_EVERY = 512;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("replay cache transaction aborted"));
  });
}

/**
 * A guard kept in IndexedDB: each question is one read-write transaction (the check and the
 * record together, so two tabs of the staff page cannot both accept one code), committed
 * before the answer is given. An entry is a replay key (kid, cti, and for a card the venue and
 * day) with times, never a person's data; expired entries are swept now and then.
 */
export class IndexedDBReplayGuard {
  constructor(db) {
    this.db = db;
    this.writes = 0;
  }

  static async open(name = "suishen-replay") {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore(USES).createIndex("expires_at", "expires_at");
      db.createObjectStore(STEPS).createIndex("expires_at", "expires_at");
    };
    return new IndexedDBReplayGuard(await request(req));
  }

  close() {
    this.db.close();
  }

  async firstUse(key, expiresAt, now) {
    const tx = this.db.transaction(USES, "readwrite");
    const store = tx.objectStore(USES);
    const k = toHex(key);
    const previous = await request(store.get(k));
    if (previous !== undefined && previous.expires_at >= now) {
      await done(tx);
      return false;
    }
    store.put({ expires_at: expiresAt }, k);
    await done(tx);
    this.afterWrite(now);
    return true;
  }

  async lastStep(key, now) {
    const tx = this.db.transaction(STEPS, "readonly");
    const held = await request(tx.objectStore(STEPS).get(toHex(key)));
    return held !== undefined && held.expires_at >= now ? held : null;
  }

  async firstStep(key, step, expiresAt, now) {
    const tx = this.db.transaction(STEPS, "readwrite");
    const store = tx.objectStore(STEPS);
    const k = toHex(key);
    const last = await request(store.get(k));
    if (!stepIsNext(last ?? null, step, now)) {
      await done(tx);
      return false;
    }
    store.put({ step, at: now, expires_at: expiresAt }, k);
    await done(tx);
    this.afterWrite(now);
    return true;
  }

  afterWrite(now) {
    if (++this.writes % SWEEP_EVERY === 0) this.sweep(now).catch(() => {});
  }

  /** Delete the entries that expired before `now`. */
  async sweep(now) {
    const tx = this.db.transaction([USES, STEPS], "readwrite");
    for (const name of [USES, STEPS]) {
      const index = tx.objectStore(name).index("expires_at");
      const cursorReq = index.openCursor(IDBKeyRange.upperBound(now, true));
      cursorReq.onsuccess = () => {
        const cursor = cursorReq.result;
        if (cursor) {
          cursor.delete();
          cursor.continue();
        }
      };
    }
    await done(tx);
  }

  /** Forget everything (a handheld handed to another venue's staff starts clean). */
  async clear() {
    const tx = this.db.transaction([USES, STEPS], "readwrite");
    tx.objectStore(USES).clear();
    tx.objectStore(STEPS).clear();
    await done(tx);
  }
}
