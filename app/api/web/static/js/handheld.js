// The staff handheld's offline mode: the signed documents a decision needs, kept in IndexedDB,
// refreshed by ETag while the network is there, checked against the pinned root at every load,
// and decisions made in the page (js/verifier/) when the server does not answer.
//
// A metro platform or a basement museum has no signal exactly where a handheld is used, so the
// page holds what the gate program holds: the trust list, the catalogue snapshot, the revocation
// list (a full list plus the deltas since) and the venues. A stale document never grants: the
// decision is CHECK BY HAND, as at a gate.

import { loadSnapshot } from "./verifier/catalogue.js";
import { Decider, IndexedDbUsage } from "./verifier/decide.js";
import { IndexedDBReplayGuard } from "./verifier/replay.js";
import { loadRevocationList } from "./verifier/revocation.js";
import { importRootKey } from "./verifier/signed_json.js";
import { loadTrustList } from "./verifier/trust.js";
import { loadDocuments, verifyCode } from "./verifier/verify.js";

const DB = "suishen-handheld";
const STORE = "documents";
const FETCH_TIMEOUT_MS = 4000; // a document refresh; the verify call has its own, shorter timeout
const MAX_DELTAS = 24; // past this many deltas the full revocation list is fetched again
// Decisions the handheld makes itself: a stale document (or an issuer this browser cannot check)
// is a person's decision, never a refusal.
export const MANUAL_REASONS = new Set(["TRUST_LIST_STALE", "CATALOGUE_STALE"]);

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function openDb() {
  const opening = indexedDB.open(DB, 1);
  opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
  return request(opening);
}

async function getDoc(db, name) {
  return request(db.transaction(STORE, "readonly").objectStore(STORE).get(name));
}

async function putDoc(db, name, value) {
  const tx = db.transaction(STORE, "readwrite");
  tx.objectStore(STORE).put(value, name);
  await new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/** GET with a deadline; `{status, text, etag}`; throws on no network or timeout. */
async function fetchDoc(path, etag) {
  const headers = { Accept: "application/json" };
  if (etag) headers["If-None-Match"] = etag;
  const response = await fetch(path, { headers, cache: "no-store", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (response.status === 304) return { status: 304, text: null, etag };
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return { status: response.status, text: await response.text(), etag: response.headers.get("ETag") };
}

export class Handheld {
  constructor(db) {
    this.db = db;
    this.docs = null; // verified trust list and revocation list
    this.decider = null;
    this.replay = null;
    this.usage = null;
    this.venues = [];
    this.problems = []; // one line per document that could not be used
    this.root = null;
  }

  static async open() {
    const handheld = new Handheld(await openDb());
    handheld.replay = await IndexedDBReplayGuard.open();
    handheld.usage = await IndexedDbUsage.open();
    return handheld;
  }

  /** Documents held at all: a decision can be made in the page (perhaps CHECK BY HAND when stale). */
  get ready() {
    return this.docs !== null && this.decider !== null;
  }

  /**
   * Fetch what changed (by ETag; the revocation list by delta), verify each new document before
   * keeping it, then load. A document that fails keeps the one held, and says why.
   */
  async refresh(now) {
    const problems = [];
    try {
      const rootKey = (await this.pinRoot()).public_key;
      const root = await importRootKey(rootKey);
      const check = async (name, path, verify) => {
        const held = await getDoc(this.db, name);
        const answer = await fetchDoc(path, held && held.etag);
        if (answer.status === 304) return;
        try {
          await verify(answer.text);
          await putDoc(this.db, name, { text: answer.text, etag: answer.etag });
        } catch (err) {
          problems.push(`${name} not taken, the one held is kept: ${err.message}`);
        }
      };
      await check("trust", "/v1/trust-list", (text) => loadTrustList(text, root, now));
      await check("catalogue", "/v1/catalogue/snapshot", (text) => loadSnapshot(text, root));
      await this.refreshRevocations(root, now, problems);
      const venues = JSON.parse((await fetchDoc("/v1/venues", null)).text);
      await putDoc(this.db, "venues", Array.isArray(venues.venues) ? venues.venues : []);
    } catch (err) {
      problems.push(`offline documents not refreshed: ${err && err.message ? err.message : err}`);
    }
    await this.load(now);
    this.problems = [...problems, ...this.problems];
    return this.problems;
  }

  /** The root is pinned once, at set-up; a different root later is refused, never followed. */
  async pinRoot() {
    const held = await getDoc(this.db, "root");
    const served = JSON.parse((await fetchDoc("/v1/trust-root", null)).text);
    if (!held) {
      await putDoc(this.db, "root", served);
      return served;
    }
    if (held.kid !== served.kid) {
      throw new Error(`the server's trust root ${served.kid} is not the one this handheld holds (${held.kid}): reset the handheld`);
    }
    return held;
  }

  /** A delta since the version held (a full list when the server says so, or after many deltas). */
  async refreshRevocations(root, now, problems) {
    const held = await getDoc(this.db, "revocations");
    const since = held && held.deltas.length < MAX_DELTAS ? `?since=${held.version}` : "";
    const answer = await fetchDoc(`/v1/revocations${since}`, held && held.etag);
    if (answer.status === 304) return;
    try {
      const base = held ? await this.heldRevocations(root, held) : null;
      const list = await loadRevocationList(answer.text, root, now, { held: base });
      const isDelta = list !== null && base !== null && JSON.parse(answer.text).payload.since !== null;
      const record = isDelta
        ? { full: held.full, deltas: [...held.deltas, answer.text], version: list.version, etag: answer.etag }
        : { full: answer.text, deltas: [], version: list.version, etag: answer.etag };
      await putDoc(this.db, "revocations", record);
    } catch (err) {
      problems.push(`revocation list not taken, the one held is kept: ${err.message}`);
    }
  }

  async heldRevocations(root, held) {
    let list = await loadRevocationList(held.full, root, 0, { allowStale: true });
    for (const delta of held.deltas) list = await loadRevocationList(delta, root, 0, { held: list, allowStale: true });
    return list;
  }

  /** Verify every held document against the pinned root (at every page load), stale ones included. */
  async load(now) {
    this.problems = [];
    const rootDoc = await getDoc(this.db, "root");
    const trust = await getDoc(this.db, "trust");
    const revocations = await getDoc(this.db, "revocations");
    const catalogue = await getDoc(this.db, "catalogue");
    this.venues = (await getDoc(this.db, "venues")) || [];
    this.docs = null;
    this.decider = null;
    if (!rootDoc || !trust || !revocations || !catalogue) {
      this.problems.push("this handheld holds no documents yet: connect it to the network once");
      return;
    }
    try {
      this.docs = await loadDocuments(
        {
          rootKey: rootDoc.public_key,
          trustList: trust.text,
          revocationList: revocations.full,
          revocationDeltas: revocations.deltas,
        },
        now,
        { allowStale: true },
      );
      this.decider = new Decider(await loadSnapshot(catalogue.text, this.docs.root), this.usage);
    } catch (err) {
      this.docs = null;
      this.problems.push(`documents held on this handheld cannot be used: ${err.message}`);
    }
  }

  venue(id) {
    return this.venues.find((v) => v.id === id) || null;
  }

  /**
   * The decision in the page, in the shape of `POST /v1/verify`'s answer, marked `offline` and
   * `degraded` (no cross-gate replay check was possible).
   */
  async decide(text, venueId, now) {
    const venue = this.venue(venueId);
    if (!this.ready || !venue) {
      return { result: "MANUAL_CHECK", manual: true, offline: true, degraded: true, reason: null, detail: this.problems.join("; ") || "no venue" };
    }
    const checked = await verifyCode(text, this.docs, this.replay, now, venueId);
    if (!checked.ok) {
      const manual = checked.manual || MANUAL_REASONS.has(checked.reason);
      return {
        result: manual ? "MANUAL_CHECK" : "REJECTED", manual, offline: true, degraded: true,
        reason: checked.reason, detail: checked.detail, kind: null, issuer: null, profile: null,
      };
    }
    const decision = this.decider.decide(checked.code, { id: venue.id, type: venue.type, region: venue.region ?? 310000, operator: venue.operator || "" }, now).toJson();
    const manual = MANUAL_REASONS.has(decision.reason);
    return {
      result: manual ? "MANUAL_CHECK" : "VALID", manual, offline: true, degraded: true, reason: null, detail: null,
      kind: checked.code.kind, issuer: checked.code.issuer, decision,
    };
  }

  /** Record a use the server accepted, so the same code shown here again offline is a replay. */
  async remember(text, venueId, now) {
    if (this.ready) await verifyCode(text, this.docs, this.replay, now, venueId);
  }
}
