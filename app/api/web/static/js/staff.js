// Staff handheld page: device key, venue, camera scanning (zxing-wasm in the page), POST /v1/verify
// when the server answers quickly, a decision in the page when it does not (handheld.js), and a
// result screen readable at arm's length.

import { prepareZXingModule, readBarcodes } from "/static/vendor/zxing-wasm/es/reader/index.js";
import { api, ApiError, clock, el, pick } from "./api.js";
import { Handheld } from "./handheld.js";
import { applyText, currentLang, reasonWords, setupLanguage, t } from "./i18n.js";

const KEY = "suishen.staff.key";
const VENUE = "suishen.staff.venue";
const SAME_CODE_PAUSE_MS = 8000; // a code just shown is not read again for this long
const GRANTED_SHOWN_MS = 10000; // a GRANTED screen goes back to scanning by itself after this
const VERIFY_TIMEOUT_MS = 1500; // past this the page decides by itself (a queue cannot wait for a dead network)
const REFRESH_EVERY_MS = 5 * 60 * 1000; // offline documents: trust list, catalogue, revocations, venues
const $ = (id) => document.getElementById(id);

prepareZXingModule({
  overrides: {
    locateFile: (path, prefix) => (path.endsWith(".wasm") ? `/static/vendor/zxing-wasm/reader/${path}` : prefix + path),
  },
});

const state = {
  stream: null, scanning: false, busy: false, last: { text: null, at: 0 }, result: null, venues: [], dismiss: null,
  flushing: false, handheld: null,
};
const canvas = document.createElement("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });

function deviceKey() {
  return $("device-key").value.trim();
}

async function loadVenues() {
  try {
    const answer = await api("/v1/venues", { timeoutMs: VERIFY_TIMEOUT_MS * 2 });
    state.venues = answer.venues || [];
  } catch (err) {
    // offline: the venues kept with the other documents
    state.venues = state.handheld ? state.handheld.venues : [];
    if (!state.venues.length) $("setup-message").textContent = err.message;
  }
  renderVenues();
}

/** Load the held documents (signatures checked again at every load), then refresh them when online. */
async function setupOffline() {
  try {
    state.handheld = await Handheld.open();
    await state.handheld.load(clock.now());
    if (navigator.onLine) await state.handheld.refresh(clock.now());
  } catch (err) {
    state.handheld = null;
    $("offline-status").textContent = `${t("offline_docs_none")}: ${err && err.message ? err.message : err}`;
    return;
  }
  showOfflineStatus();
}

function showOfflineStatus() {
  const h = state.handheld;
  const line = h && h.ready ? t("offline_docs_ready") : t("offline_docs_none");
  $("offline-status").textContent = [line, ...(h ? h.problems : [])].join("\n");
  document.body.dataset.offlineReady = h && h.ready ? "1" : "";
}

function renderVenues() {
  const select = $("venue");
  const lang = currentLang();
  const saved = localStorage.getItem(VENUE);
  select.replaceChildren(...state.venues.map((v) => el("option", { value: v.id, text: `${pick(v.name, lang)} (${v.id})` })));
  if (saved && state.venues.some((v) => v.id === saved)) select.value = saved;
}

// ---------- camera ----------

async function startCamera() {
  if (!deviceKey()) {
    $("scan-message").textContent = t("need_key");
    $("device-key").focus();
    return;
  }
  $("scan-message").textContent = "";
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    });
  } catch (err) {
    $("scan-message").textContent = `${t("camera_denied")}: ${err.name || err}`;
    return;
  }
  const video = $("video");
  video.srcObject = state.stream;
  await video.play();
  state.scanning = true;
  $("viewfinder").hidden = false;
  $("scan-hint").hidden = false;
  $("scan").textContent = t("scan_stop");
  $("scan").dataset.i18n = "scan_stop";
  document.body.dataset.scanning = "1";
  scanLoop();
}

function stopCamera() {
  state.scanning = false;
  if (state.stream) for (const track of state.stream.getTracks()) track.stop();
  state.stream = null;
  $("viewfinder").hidden = true;
  $("scan-hint").hidden = true;
  $("scan").textContent = t("scan_start");
  $("scan").dataset.i18n = "scan_start";
  document.body.dataset.scanning = "";
}

async function scanLoop() {
  const video = $("video");
  while (state.scanning) {
    if (!state.busy && state.result === null && video.readyState >= 2 && video.videoWidth) {
      const scale = Math.min(1, 960 / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      try {
        const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
        const found = await readBarcodes(image, { formats: ["QRCode"], tryHarder: true, maxNumberOfSymbols: 1 });
        const text = found.find((r) => r.isValid && r.text)?.text;
        if (text) await onText(text.trim());
      } catch (err) {
        $("scan-message").textContent = String(err && err.message ? err.message : err);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 120));
  }
}

async function onText(text) {
  const now = Date.now();
  if (text === state.last.text && now - state.last.at < SAME_CODE_PAUSE_MS) return;
  state.last = { text, at: now };
  await check(text);
}

// ---------- verify and show ----------

async function check(text) {
  const key = deviceKey();
  if (!key) {
    $("scan-message").textContent = t("need_key");
    return;
  }
  const venue = $("venue").value;
  state.busy = true;
  try {
    // Online first: the server also checks replays across every gate and handheld.
    const answer = await api("/v1/verify", {
      method: "POST", token: key, body: { code: text, venue }, timeoutMs: VERIFY_TIMEOUT_MS,
    });
    showResult(answer, await reasonWords());
    recordEvent(eventOf(answer, venue), key);
    if (state.handheld) state.handheld.remember(text, venue, clock.now()).catch(() => {});
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      $("setup-message").textContent = `${t("device_key_label")}: ${err.detail || err.code}`;
    }
    if (err instanceof ApiError && err.status === 0 && state.handheld) {
      await decideOffline(text, venue, key); // no network, or too slow: the page decides
    } else {
      // the code was not judged (a wrong key or venue): never a refusal, a person decides
      showManual(err instanceof ApiError && err.status === 0 ? t("offline") : `${err.code || ""} ${err.detail || err.message}`);
      recordEvent(newEvent(venue, "MANUAL_CHECK", { degraded: true }), key);
    }
  } finally {
    state.busy = false;
  }
}

async function decideOffline(text, venue, key) {
  let answer;
  try {
    answer = await state.handheld.decide(text, venue, clock.now());
  } catch (err) {
    answer = { result: "MANUAL_CHECK", manual: true, detail: String(err && err.message ? err.message : err) };
  }
  if (answer.result === "MANUAL_CHECK") {
    const words = answer.reason ? (await reasonWords())[answer.reason] : null;
    showManual([t("offline_decision"), words ? `${words.zh} / ${words.en}` : "", answer.detail || ""].filter(Boolean).join("\n"));
    $("result").dataset.reason = answer.reason || "";
    recordEvent(newEvent(venue, "MANUAL_CHECK", { degraded: true, reason: answer.reason || null }), key);
    return;
  }
  showResult(answer, await reasonWords());
  recordEvent({ ...eventOf(answer, venue), degraded: true }, key);
}

/** The benefit in the page's language: "free entry", "50% off", "¥710" (+ companions) from the server. */
function benefitWords(privilege, lang) {
  const words = String(privilege.benefit || "").replace(/, with \d+ companion\(s\)$/, "");
  if (lang !== "zh") return words;
  if (words === "free entry") return "免费入场";
  const off = /^(\d+)% off$/.exec(words);
  if (off) return `${(100 - Number(off[1])) / 10}折`.replace(".0折", "折");
  return words;
}

function showResult(answer, reasons) {
  const lang = currentLang();
  const decision = answer.decision || null;
  const granted = !!(decision && decision.result === "GRANTED");
  const reason = (decision && decision.reason) || answer.reason || null;
  state.result = answer;
  const box = $("result");
  box.className = "result " + (granted ? "granted" : "rejected");
  box.dataset.result = granted ? "GRANTED" : "NOT_GRANTED";
  box.dataset.reason = reason || "";
  box.dataset.offline = answer.offline ? "1" : "";
  $("verdict").textContent = granted ? "✔ 通过" : "✘ 不通过";
  $("verdict-en").textContent = granted ? "GRANTED" : "NOT GRANTED";
  const privileges = $("privileges");
  privileges.replaceChildren();
  if (granted) {
    for (const p of decision.privileges || []) {
      privileges.append(el("p", { class: "privilege", text: `${benefitWords(p, lang)} · ${pick(p.title, lang)}` }));
      if (p.companions) {
        privileges.append(el("p", { class: "companions", text: `${t("companions")}: ${p.companions}` }));
      }
    }
  }
  if (decision && decision.check_id) {
    // a printed card: staff look at the holder's photo ID, whatever the answer
    privileges.append(el("p", { class: "check-id", text: `${t("check_photo_id", "zh")} / ${t("check_photo_id", "en")}` }));
  }
  const words = reason ? reasons[reason] : null;
  $("reason").textContent = granted ? "" : words ? `${words.zh}\n${words.en}` : reason || t("error");
  // the code's kind and issuer (a partner region's codes say so), and why a holder did not qualify
  const kind = answer.kind === "holder_bound" ? t("code_kind_holder") : answer.kind === "online" ? t("code_kind_online") : "";
  const kind2 = answer.kind === "card" ? t("code_kind_card") : kind;
  const origin = [kind2, answer.issuer, answer.offline ? t("offline_decision") : ""].filter(Boolean).join(" · ");
  const why = !granted && decision ? (decision.explanation || []).slice(0, 4).map((l) => pick(l, lang)) : [];
  $("detail").textContent = [origin, granted ? "" : answer.detail || "", ...why].filter(Boolean).join("\n");
  box.hidden = false;
  $("next").focus();
  clearTimeout(state.dismiss);
  if (granted) state.dismiss = setTimeout(hideResult, GRANTED_SHOWN_MS); // the queue moves on by itself
  else if (navigator.vibrate) navigator.vibrate([200, 100, 200]); // a refusal waits for the staff member
}

function showManual(why) {
  clearTimeout(state.dismiss);
  state.result = { manual: true };
  const box = $("result");
  box.className = "result manual";
  box.dataset.result = "MANUAL_CHECK";
  box.dataset.reason = "";
  box.dataset.offline = "";
  $("verdict").textContent = "⚠ 人工核验";
  $("verdict-en").textContent = "CHECK BY HAND";
  $("privileges").replaceChildren();
  $("reason").textContent = "未能核验，请查看证件\nNot checked: look at the holder's papers";
  $("detail").textContent = why;
  box.hidden = false;
  $("next").focus();
}

function hideResult() {
  clearTimeout(state.dismiss);
  if (state.last.text) state.last.at = Date.now(); // the phone is likely still in front of the camera
  $("result").hidden = true;
  state.result = null;
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const OUTBOX = "suishen.staff.outbox";
const OUTBOX_MAX = 1000; // one POST /v1/events batch

function newEvent(venue, result, fields = {}) {
  return {
    id: hex(crypto.getRandomValues(new Uint8Array(16))), venue, at: clock.now(), result, reason: null,
    policy_id: null, kind: null, issuer: null, degraded: false, repeat: false, ...fields,
  };
}

function eventOf(answer, venue) {
  const decision = answer.decision || {};
  const granted = decision.result === "GRANTED";
  return newEvent(venue, granted ? "GRANTED" : "REJECTED", {
    reason: granted ? null : decision.reason || answer.reason || null,
    policy_id: granted && decision.privileges && decision.privileges.length ? decision.privileges[0].policy_id : null,
    kind: answer.kind || null,
    issuer: answer.issuer || null,
    repeat: answer.reason === "REPLAYED" || decision.reason === "REPLAYED",
  });
}

function readOutbox() {
  try {
    const list = JSON.parse(localStorage.getItem(OUTBOX) || "[]");
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

/**
 * Handheld decisions feed the same audit and usage statistics as the gates' (POST /v1/events).
 * They wait in a local outbox until the server has them; event ids make a repeated upload harmless.
 */
async function recordEvent(event, key) {
  const outbox = [...readOutbox(), event].slice(-OUTBOX_MAX);
  localStorage.setItem(OUTBOX, JSON.stringify(outbox));
  await flushOutbox(key);
}

async function flushOutbox(key) {
  const outbox = readOutbox();
  if (!outbox.length || !key || state.flushing) return;
  state.flushing = true;
  try {
    await api("/v1/events", { method: "POST", token: key, body: { events: outbox } });
    const sent = new Set(outbox.map((e) => e.id));
    localStorage.setItem(OUTBOX, JSON.stringify(readOutbox().filter((e) => !sent.has(e.id))));
  } catch {
    /* kept for the next try: the verify answer is what the staff member needs now */
  } finally {
    state.flushing = false;
  }
}

function main() {
  applyText();
  // sessionStorage, not localStorage: a device key is forgotten when the tab closes (the outbox in
  // IndexedDB keeps every decision until a key is entered again and it can be uploaded).
  localStorage.removeItem(KEY); // a key kept by an earlier version of this page
  $("device-key").value = sessionStorage.getItem(KEY) || "";
  $("device-key").addEventListener("input", () => sessionStorage.setItem(KEY, deviceKey()));
  $("venue").addEventListener("change", () => localStorage.setItem(VENUE, $("venue").value));
  $("setup-form").addEventListener("submit", (e) => e.preventDefault());
  $("scan").addEventListener("click", () => (state.scanning ? stopCamera() : startCamera()));
  $("next").addEventListener("click", hideResult);
  $("manual-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("manual-code").value.trim();
    if (text) check(text);
  });
  setupLanguage($("lang"), () => renderVenues());
  window.addEventListener("online", () => {
    flushOutbox(deviceKey());
    if (state.handheld) state.handheld.refresh(clock.now()).then(showOfflineStatus);
  });
  setInterval(() => {
    if (state.handheld && navigator.onLine) state.handheld.refresh(clock.now()).then(showOfflineStatus);
  }, REFRESH_EVERY_MS);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => undefined); // the page itself, offline
  }
  setupOffline()
    .then(() => Promise.all([loadVenues(), reasonWords()]))
    .then(() => {
      document.body.dataset.ready = "1";
      flushOutbox(deviceKey());
    });
}

main();
