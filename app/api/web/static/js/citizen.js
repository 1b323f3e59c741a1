// 市民主页: sign in, the live Suishen code, groups and entitlements, confirmations, objections.

import { api, ApiError, clock, el, pick } from "./api.js";
import { renderConfirm } from "./confirm.js";
import { credentialRequest, fromB64url, holderCode, publicJwk, secondsToNextStep, timeStep } from "./holder.js";
import { applyText, currentLang, setupLanguage, t } from "./i18n.js";
import { drawQr } from "./qr.js";
import { clearHolder, loadHolder, saveHolder } from "./store.js";

const SESSION = "suishen.citizen";
const PREFER = "suishen.codeMode";
const RENEW_BEFORE_S = 2 * 3600; // renew the holder-bound credential when less than this is left
const MOVED = "suishen.phoneEnded"; // "replaced" or "lost": this phone no longer holds the code (until a new sign-in)
const ENDED_CODES = { phone_replaced: "replaced", phone_lost: "lost" };

const $ = (id) => document.getElementById(id);
const nowS = () => clock.now(); // the server's time, even on a phone whose clock is wrong

const state = {
  session: null, // {token, expiresAt, subject}
  holder: null, // IndexedDB record
  online: null, // {text, expiresAt, refreshAt}
  shown: { text: null, kind: null, step: null },
  fetching: false,
  nextTry: 0, // after a failed online code, not before this
  making: false,
  renewing: false,
  entitlements: null,
  notifications: null,
  policies: [], // published policies, for objections about a missing privilege
  lastError: null,
};

function readSession() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION) || "null");
    if (s && s.token && s.expiresAt > nowS()) return s;
  } catch {
    /* ignore */
  }
  return null;
}

function holderValid() {
  return !!(state.holder && state.holder.expiresAt > nowS() + 5 && state.holder.keyPair && state.holder.credential);
}

function preferredMode() {
  return localStorage.getItem(PREFER) === "online" ? "online" : "holder";
}

// ---------- sign in ----------

async function login(event) {
  event.preventDefault();
  const subject = $("subject").value.trim();
  const msg = $("login-message");
  msg.textContent = "";
  if (!subject) return;
  try {
    const answer = await api("/v1/dev/login", { method: "POST", body: { subject } });
    const expiresAt = Number(answer.expires_at) || nowS() + 3600;
    state.session = { token: answer.token, expiresAt, subject };
    localStorage.setItem(SESSION, JSON.stringify(state.session));
    localStorage.removeItem(MOVED); // a new sign-in on this phone may take the code back (a new phone key)
    if (state.holder && state.holder.subject !== subject) {
      await clearHolder();
      state.holder = null;
    }
    state.online = null;
    state.nextTry = 0;
    await afterLogin();
  } catch (err) {
    msg.textContent = err instanceof ApiError && err.status === 404 ? t("login_unavailable") : explain(err);
  }
}

async function logout() {
  localStorage.removeItem(SESSION);
  localStorage.removeItem(CACHE);
  await clearHolder();
  Object.assign(state, { session: null, holder: null, online: null, entitlements: null, notifications: null });
  state.shown = { text: null, kind: null, step: null };
  render();
}

function explain(err) {
  if (err instanceof ApiError) {
    if (err.status === 0) return t("offline");
    if (err.status === 429) return `${t("error")} (429)`;
    return err.detail || err.code || t("error");
  }
  return String(err && err.message ? err.message : err);
}

const CACHE = "suishen.citizen.me"; // the last answers, to show while offline (this phone only; cleared on sign-out)

function restoreCache() {
  try {
    const saved = JSON.parse(localStorage.getItem(CACHE) || "null");
    if (saved && state.session && saved.subject === state.session.subject) {
      state.entitlements = saved.entitlements || null;
      state.notifications = saved.notifications || null;
      state.policies = saved.policies || [];
    }
  } catch {
    /* ignore */
  }
}

function storeCache() {
  if (!state.session || !state.entitlements || state.entitlements.error) return;
  const { entitlements, notifications, policies } = state;
  localStorage.setItem(CACHE, JSON.stringify({ subject: state.session.subject, entitlements, notifications, policies }));
}

async function afterLogin() {
  restoreCache();
  render();
  if (navigator.onLine) {
    // nothing here is needed for the code itself: offline, the page shows what it last saw
    await checkPhone(); // before renewing: a phone the code moved away from says so and renews nothing
    await Promise.allSettled([loadEntitlements(), loadNotifications(), loadPolicies(), ensureHolder(), loadCards()]);
    storeCache();
  }
  render();
  tick();
}

// ---------- holder-bound credential ----------

function canHold() {
  return !!(window.isSecureContext && crypto.subtle && window.indexedDB);
}

async function ensureHolder() {
  if (!state.session || !canHold() || localStorage.getItem(MOVED)) return;
  const h = state.holder;
  if (h && h.subject === state.session.subject && h.expiresAt - nowS() > RENEW_BEFORE_S) return;
  const { generateDeviceKey } = await import("./holder.js");
  const keyPair = h && h.subject === state.session.subject && h.keyPair ? h.keyPair : await generateDeviceKey();
  const body = await credentialRequest(keyPair, Math.floor(nowS()));
  try {
    const answer = await api("/v1/credentials", { method: "POST", token: state.session.token, body });
    state.holder = {
      subject: state.session.subject,
      keyPair,
      credential: fromB64url(answer.credential),
      expiresAt: Number(answer.expires_at),
      timeStep: Number(answer.time_step) || 30,
    };
    await saveHolder(state.holder);
    state.lastError = null;
  } catch (err) {
    if (err instanceof ApiError && ENDED_CODES[err.code]) await phoneEnded(ENDED_CODES[err.code]);
    else if (err instanceof ApiError && err.code === "fresh_sign_in_required") state.lastError = t("phone_sign_in_again");
    else state.lastError = explain(err);
  }
}

// ---------- one phone per person: moved to another phone, or reported lost ----------

/** This phone's code was moved to another phone (or reported lost): forget it and say so. */
async function phoneEnded(how) {
  localStorage.setItem(MOVED, how);
  await clearHolder();
  state.holder = null;
  state.online = null;
  state.shown = { text: null, kind: null, step: null };
  const box = $("code-box"); // the last code drawn is gone, not merely greyed
  const canvas = $("qr");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  box.classList.add("stale");
  for (const name of ["code", "kind", "step"]) delete box.dataset[name];
  $("code-kind").textContent = "";
  renderPhone(currentLang());
}

/** Online again with a credential: is it still this phone's? (GET /v1/me/phone) */
async function checkPhone() {
  if (!state.session || !state.holder || !state.holder.keyPair) return;
  try {
    const { x, y } = await publicJwk(state.holder.keyPair);
    const answer = await api(`/v1/me/phone?x=${x}&y=${y}`, { token: state.session.token });
    if (answer.status === "replaced" || answer.status === "lost") await phoneEnded(answer.status);
  } catch {
    /* offline or refused: the code stays until the next check */
  }
}

function renderPhone(lang) {
  const how = localStorage.getItem(MOVED);
  const note = $("phone-ended");
  note.hidden = !how;
  if (how) note.textContent = t(how === "lost" ? "phone_ended_lost" : "phone_moved", lang);
  const lost = $("phone-lost");
  lost.textContent = t(lost.dataset.armed ? "phone_lost_confirm" : "phone_lost_button", lang);
}

async function reportPhoneLost() {
  const button = $("phone-lost");
  if (!button.dataset.armed) {
    button.dataset.armed = "1"; // every code of this person stops working: the first tap only asks to confirm
    renderPhone(currentLang());
    return;
  }
  delete button.dataset.armed;
  const done = $("phone-lost-done");
  try {
    await api("/v1/me/phone/lost", { method: "POST", token: state.session.token });
    done.textContent = t("phone_lost_done");
  } catch (err) {
    done.textContent = explain(err);
  }
  done.hidden = false;
  renderPhone(currentLang());
}

// ---------- the code ----------

function wantHolder() {
  return holderValid() && (preferredMode() === "holder" || !navigator.onLine || !state.session);
}

async function refreshOnline() {
  if (state.fetching || !state.session || localStorage.getItem(MOVED)) return; // moved away: this phone shows no code
  state.fetching = true;
  try {
    const answer = await api("/v1/codes", { method: "POST", token: state.session.token });
    const refreshIn = Number(answer.refresh_in) || 30;
    state.online = { text: answer.text, expiresAt: Number(answer.expires_at), refreshAt: nowS() + refreshIn, refreshIn };
    state.lastError = null;
    show(answer.text, "online", null);
  } catch (err) {
    state.lastError = explain(err);
    state.nextTry = nowS() + (err instanceof ApiError && err.retryAfter ? err.retryAfter : 10); // no hammering
    if (err instanceof ApiError && err.status === 401) {
      localStorage.removeItem(SESSION);
      state.session = null;
      render();
    } else if (holderValid()) {
      localStorage.setItem(PREFER, "holder"); // no network: the offline code takes over
    }
  } finally {
    state.fetching = false;
  }
}

async function makeHolderCode(step) {
  if (state.making) return;
  state.making = true;
  try {
    const text = await holderCode(state.holder.credential, state.holder.keyPair.privateKey, nowS());
    show(text, "holder", step);
  } catch (err) {
    state.lastError = explain(err);
  } finally {
    state.making = false;
  }
}

function show(text, kind, step) {
  state.shown = { text, kind, step };
  const canvas = $("qr");
  const box = $("code-box");
  drawQr(canvas, text);
  box.classList.remove("stale");
  $("code-message").textContent = "";
  box.dataset.code = text;
  box.dataset.kind = kind;
  box.dataset.step = step === null ? "" : String(step);
  box.dataset.count = String(Number(box.dataset.count || 0) + 1);
  canvas.setAttribute("aria-label", t(kind === "holder" ? "code_kind_holder" : "code_kind_online"));
  $("code-kind").textContent = t(kind === "holder" ? "code_kind_holder" : "code_kind_online");
  $("code-kind").className = "badge " + (kind === "holder" ? "badge-holder" : "badge-online");
}

function tick() {
  const now = nowS();
  $("net").textContent = navigator.onLine ? t("online") : t("offline");
  $("net").className = "net " + (navigator.onLine ? "net-on" : "net-off");
  if (!state.session && !holderValid()) return;
  let remaining = null;
  let total = 30;
  if (state.session && navigator.onLine && holderValid() && state.holder.expiresAt - now < RENEW_BEFORE_S && !state.renewing) {
    state.renewing = true; // a fresh 24 h credential for the same device key, while the network is there
    ensureHolder().finally(() => (state.renewing = false));
  }
  if (wantHolder()) {
    const step = timeStep(now);
    if (state.shown.kind !== "holder" || state.shown.step !== step) makeHolderCode(step);
    remaining = Math.ceil(secondsToNextStep(now));
    total = state.holder.timeStep || 30;
  } else if (state.session) {
    if ((!state.online || now >= state.online.refreshAt) && now >= state.nextTry) refreshOnline();
    else if (state.shown.kind !== "online" || state.shown.text !== state.online.text) {
      show(state.online.text, "online", null);
    }
    if (state.online) {
      remaining = Math.max(0, Math.ceil(state.online.refreshAt - now));
      total = state.online.refreshIn;
    }
  }
  const countdown = $("countdown");
  if (remaining !== null) {
    countdown.hidden = false;
    $("countdown-n").textContent = String(remaining);
    $("countdown-bar").style.width = `${Math.min(100, (100 * remaining) / Math.max(total, remaining))}%`;
  } else {
    countdown.hidden = true;
  }
  const stale =
    (state.shown.kind === "online" && state.online && now > state.online.expiresAt) ||
    (state.shown.kind === "holder" && !holderValid());
  $("code-box").classList.toggle("stale", !!stale || !state.shown.text);
  $("code-message").textContent = stale ? t("code_expired") : !state.shown.text && state.lastError ? state.lastError : "";
  renderHolderStatus();
}

function renderHolderStatus() {
  const status = $("holder-status");
  const toggle = $("mode-toggle");
  if (!canHold()) {
    status.textContent = t("offline_unsupported");
    toggle.hidden = true;
    return;
  }
  if (holderValid()) {
    const until = new Date(state.holder.expiresAt * 1000);
    const when = until.toLocaleString(currentLang() === "zh" ? "zh-CN" : "en-GB", {
      month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    });
    status.textContent = `${t("offline_ready")} ${t("offline_until")} ${when}`;
    toggle.hidden = !state.session;
    toggle.textContent = wantHolder() ? t("use_online") : t("use_holder");
  } else {
    status.textContent = state.session ? t("loading") : "";
    toggle.hidden = true;
  }
}

function toggleMode() {
  localStorage.setItem(PREFER, wantHolder() ? "online" : "holder");
  state.shown = { text: null, kind: null, step: null };
  state.nextTry = 0;
  tick();
}

// ---------- groups, entitlements, notifications ----------

async function loadEntitlements() {
  if (!state.session) return;
  try {
    state.entitlements = await api("/v1/me/entitlements", { token: state.session.token });
    storeCache();
  } catch (err) {
    state.entitlements = { error: explain(err) };
  }
}

async function loadNotifications() {
  if (!state.session) return;
  try {
    state.notifications = await api("/v1/me/notifications", { token: state.session.token });
  } catch {
    state.notifications = null;
  }
}

const DISABILITY = {
  1: { zh: "视力", en: "vision" }, 2: { zh: "听力", en: "hearing" }, 3: { zh: "言语", en: "speech" },
  4: { zh: "肢体", en: "physical" }, 5: { zh: "智力", en: "intellectual" }, 6: { zh: "精神", en: "mental" },
  7: { zh: "多重", en: "multiple" },
};
const GRADE = { 1: { zh: "一级", en: "grade 1" }, 2: { zh: "二级", en: "grade 2" }, 3: { zh: "三级", en: "grade 3" },
  4: { zh: "四级", en: "grade 4" } };
const STUDENT = {
  1: { zh: "小学生", en: "primary pupil" }, 2: { zh: "初中生", en: "junior secondary pupil" },
  3: { zh: "高中生", en: "senior secondary pupil" }, 4: { zh: "职业院校学生", en: "vocational student" },
  5: { zh: "本科生", en: "undergraduate" }, 6: { zh: "研究生", en: "postgraduate" },
};
const REGIONS = { 310000: { zh: "上海", en: "Shanghai" }, 320000: { zh: "江苏", en: "Jiangsu" },
  330000: { zh: "浙江", en: "Zhejiang" }, 340000: { zh: "安徽", en: "Anhui" } };

function groupLines(g, lang) {
  const zh = lang === "zh";
  const lines = [];
  const get = (...names) => names.map((n) => g[n]).find((v) => v !== undefined && v !== null && v !== false);
  let age = get("age_over", "age");
  if (Array.isArray(age)) age = age[0]; // an age band [lowest age, next threshold or null]
  if (typeof age === "number") lines.push(zh ? `${age}周岁以上老年人` : `Aged ${age} or over`);
  const cat = get("disability_category", "disability.category");
  if (cat) {
    const grade = get("disability_grade", "disability.grade");
    const parts = [pick(DISABILITY[cat], lang) || String(cat), grade ? pick(GRADE[grade], lang) || String(grade) : ""];
    lines.push(zh ? `持证残疾人（${parts.filter(Boolean).join("，")}）` : `Person with a disability (${parts.filter(Boolean).join(", ")})`);
  }
  if (get("martyr_family")) lines.push(zh ? "烈士家属" : "Family of a martyr");
  if (get("entitled_group")) lines.push(zh ? "优抚对象" : "Entitled group (veterans and their families)");
  const level = get("student_level", "student.level");
  if (level) {
    const until = get("enrolled_until", "student.enrolled_until");
    const what = pick(STUDENT[level], lang) || String(level);
    lines.push(until ? (zh ? `在读${what}（学籍至 ${until}）` : `Enrolled ${what} (until ${until})`) : zh ? `在读${what}` : `Enrolled ${what}`);
  }
  const region = get("residence", "residence.region");
  if (region) lines.push(zh ? `常住地：${pick(REGIONS[region], lang) || region}` : `Lives in ${pick(REGIONS[region], lang) || region}`);
  const known = new Set(["age_over", "age", "disability_category", "disability.category", "disability_grade",
    "disability.grade", "martyr_family", "entitled_group", "student_level", "student.level", "enrolled_until",
    "student.enrolled_until", "residence", "residence.region", "subject", "version"]);
  for (const [k, v] of Object.entries(g)) {
    if (!known.has(k) && v !== null && v !== false && v !== undefined && typeof v !== "object") lines.push(`${k}: ${v}`);
  }
  return lines;
}

function renderGroups(lang) {
  const list = $("groups");
  list.replaceChildren();
  const data = state.entitlements;
  if (!data || data.error) return;
  const lines = groupLines(data.subject_groups || {}, lang);
  if (!lines.length) list.append(el("li", { class: "muted", text: t("groups_none") }));
  for (const line of lines) list.append(el("li", { text: line }));
}

function renderEntitlements(lang) {
  const list = $("entitlements");
  list.replaceChildren();
  const data = state.entitlements;
  if (!data) return;
  if (data.error) {
    list.append(el("p", { class: "error", text: data.error }));
    return;
  }
  const items = data.entitlements || [];
  if (!items.length) list.append(el("p", { class: "muted", text: t("ent_none") }));
  for (const e of items) {
    const id = e.id || e.policy_id;
    const status = e.status ? t(`status_${e.status}`) : "";
    const explanation = (e.explanation || []).map((line) => el("li", { text: pick(line, lang) }));
    const card = el(
      "article",
      { class: "card entitlement", dataset: { policy: id, status: e.status || "", mode: e.mode || "" } },
      el("h3", { text: pick(e.title, lang) || id }),
      el("p", { class: `mode mode-${e.mode}`, text: e.mode ? t(`mode_${e.mode}`) : "" }),
      status ? el("p", { class: `status status-${e.status}`, text: status.startsWith("status_") ? e.status : status }) : null,
      explanation.length
        ? el("details", {}, el("summary", { text: t("ent_why") }), el("ul", { class: "why" }, explanation))
        : null,
    );
    const actions = el("div", { class: "actions" });
    if (e.confirmable) {
      // the sealed application, its seal checked here, the commitment notice, then the (signed) confirm button
      const box = el("div", { class: "confirm-box" });
      card.append(box);
      const path = `/v1/me/entitlements/${encodeURIComponent(id)}`;
      renderConfirm(box, {
        applicationRoute: `${path}/application`, confirmRoute: `${path}/confirm`, token: state.session.token,
        channel: "web", lang, device: deviceKey, onConfirmed: async () => { await loadEntitlements(); render(); },
      });
    } else if (e.status === "confirmed") {
      actions.append(el("span", { class: "done", text: "✔ " + t("confirmed") }));
    }
    actions.append(el("button", { class: "secondary", type: "button", onclick: () => openObjection(id, "wrong"),
      text: t("object_button") }));
    card.append(actions);
    list.append(card);
  }
  renderPolicyChoices(lang);
}

function renderPolicyChoices(lang) {
  // the caller's entitlements first, then every other published policy (for "I should have it")
  const select = $("objection-policy");
  const chosen = select.value;
  const seen = new Set();
  const options = [];
  const items = (state.entitlements && state.entitlements.entitlements) || [];
  for (const p of [...items, ...state.policies]) {
    const id = p.id || p.policy_id;
    if (!id || seen.has(id)) continue;
    seen.add(id);
    options.push(el("option", { value: id, text: pick(p.title, lang) || id }));
  }
  select.replaceChildren(...options);
  if (chosen && seen.has(chosen)) select.value = chosen;
}

async function loadPolicies() {
  try {
    const snapshot = await api("/v1/catalogue/snapshot");
    const policies = (snapshot && snapshot.payload && snapshot.payload.policies) || [];
    state.policies = policies.filter((p) => p.subject !== "enterprise").map((p) => ({ id: p.id, title: p.title }));
  } catch {
    state.policies = [];
  }
}

/** The device key this page holds for the signed-in person (the holder-bound code's), if any. */
function deviceKey() {
  const h = state.holder;
  if (!h || !h.keyPair || !state.session || h.subject !== state.session.subject || localStorage.getItem(MOVED)) return null;
  return h.keyPair;
}

function openObjection(policyId, kind) {
  const form = $("objection-form");
  $("objection-policy").value = policyId;
  form.querySelector(`input[name=kind][value=${kind}]`).checked = true;
  form.scrollIntoView({ behavior: "smooth", block: "start" });
  $("objection-statement").focus();
}

async function sendObjection(event) {
  event.preventDefault();
  const out = $("objection-result");
  out.textContent = "";
  const form = event.target;
  const kind = form.querySelector("input[name=kind]:checked").value;
  const statement = $("objection-statement").value.trim();
  const policyId = $("objection-policy").value || null;
  if (!statement) {
    $("objection-statement").focus();
    return;
  }
  try {
    const answer = await api("/v1/me/objections", {
      method: "POST", token: state.session.token, body: { policy_id: policyId, kind, statement },
    });
    out.textContent = `${t("objection_sent")} ${answer.id}`;
    out.className = "ok";
    $("objection-statement").value = "";
    await loadEntitlements();
    render();
  } catch (err) {
    out.textContent = explain(err);
    out.className = "error";
  }
}

function renderNotifications(lang) {
  const list = $("notifications");
  list.replaceChildren();
  const items = (state.notifications && state.notifications.notifications) || [];
  $("notes-section").hidden = !state.session;
  if (!items.length) list.append(el("li", { class: "muted", text: t("notes_none") }));
  for (const n of items) {
    const at = typeof n.created_at === "number" ? new Date(n.created_at * 1000) : new Date(n.created_at);
    const when = n.created_at && !Number.isNaN(at.getTime()) ? at.toLocaleDateString(lang === "zh" ? "zh-CN" : "en-GB") : "";
    const done = n.read
      ? null
      : el("button", { type: "button", class: "secondary read", onclick: () => markRead(n), text: t("notes_read") });
    list.append(el("li", { class: n.read ? "" : "unread", dataset: { id: String(n.id) } },
      `${t("notes_new")}${pick(n.title, lang)}`, el("small", { text: ` ${when}` }), done ? el("div", {}, done) : null));
  }
}

async function markRead(n) {
  try {
    await api(`/v1/me/notifications/${encodeURIComponent(n.id)}/read`, { method: "POST", token: state.session.token });
    n.read = true;
    storeCache();
  } catch {
    /* it stays unread; nothing else depends on it */
  }
  renderNotifications(currentLang());
}

// ---------- printed card (长者卡): shown, and reported lost in two taps ----------

async function loadCards() {
  if (!state.session) return;
  try {
    state.cards = await api("/v1/me/cards", { token: state.session.token });
  } catch {
    state.cards = null;
  }
}

function renderCards(lang) {
  const cards = (state.cards && state.cards.cards) || [];
  const list = $("cards");
  list.replaceChildren();
  if (!cards.length) list.append(el("li", { class: "muted", text: t("card_none", lang) }));
  for (const c of cards) {
    const words = `${c.label} · ${t(`card_status_${c.status}`, lang)} · ${t("card_valid_until", lang)} ${c.valid_until}`;
    list.append(el("li", { dataset: { card: String(c.number), status: c.status }, text: words }));
  }
  const lost = $("card-lost");
  lost.hidden = !cards.some((c) => c.status === "active");
  lost.textContent = t(lost.dataset.armed ? "card_lost_confirm" : "card_lost_button", lang);
}

async function reportCardLost() {
  const button = $("card-lost");
  if (!button.dataset.armed) {
    button.dataset.armed = "1"; // a lost report cannot be undone: the first tap only asks to confirm
    renderCards(currentLang());
    return;
  }
  delete button.dataset.armed;
  try {
    await api("/v1/me/cards/lost", { method: "POST", token: state.session.token });
    $("card-lost-done").textContent = t("card_lost_done");
    $("card-lost-done").hidden = false;
  } catch (err) {
    $("card-lost-done").hidden = false;
    $("card-lost-done").textContent = explain(err);
  }
  await loadCards();
  renderCards(currentLang());
}

function render() {
  const lang = currentLang();
  const signedIn = !!state.session;
  $("login-section").hidden = signedIn;
  $("code-section").hidden = !signedIn && !holderValid();
  $("me").hidden = !signedIn;
  $("sign-out").hidden = !signedIn && !holderValid();
  $("who").textContent = signedIn ? state.session.subject : "";
  renderGroups(lang);
  renderEntitlements(lang);
  renderNotifications(lang);
  renderCards(lang);
  renderPhone(lang);
  if (state.shown.kind) $("code-kind").textContent = t(state.shown.kind === "holder" ? "code_kind_holder" : "code_kind_online");
  renderHolderStatus();
}

function redraw() {
  if (state.shown.text) drawQr($("qr"), state.shown.text); // the room for the code changed
}

function setupTextSize(button) {
  const apply = () => {
    const big = localStorage.getItem("suishen.bigText") === "1";
    document.documentElement.classList.toggle("big-text", big);
    button.setAttribute("aria-pressed", String(big));
    redraw();
  };
  button.addEventListener("click", () => {
    localStorage.setItem("suishen.bigText", localStorage.getItem("suishen.bigText") === "1" ? "0" : "1");
    apply();
  });
  apply();
}

async function main() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => undefined);
  }
  $("login-form").addEventListener("submit", login);
  $("sign-out").addEventListener("click", logout);
  $("mode-toggle").addEventListener("click", toggleMode);
  $("objection-form").addEventListener("submit", sendObjection);
  $("card-lost").addEventListener("click", reportCardLost);
  $("phone-lost").addEventListener("click", reportPhoneLost);
  window.addEventListener("online", () => (state.session ? afterLogin() : tick()));
  window.addEventListener("offline", () => tick());
  window.addEventListener("resize", redraw);
  setupLanguage($("lang"), () => render());
  setupTextSize($("bigger"));
  state.session = readSession();
  state.holder = (await loadHolder()) || null;
  if (state.holder && state.session && state.holder.subject !== state.session.subject) state.holder = null;
  render();
  setInterval(tick, 1000);
  if (state.session) await afterLogin();
  else tick();
  document.body.dataset.ready = "1";
}

applyText();
main();
