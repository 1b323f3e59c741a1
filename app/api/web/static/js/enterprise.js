// 企业专属网页: the enterprise's own page. Sign in with the unified social credit code (demo mode), then
// its entitlements with their explanations, one-click confirmation with the commitment notice and a
// signature (confirm.js: the page's non-extractable P-256 key, registered at POST /v1/enterprise/device),
// the enterprise's Suishen code (法人随申码) to show at a service hall, payouts, reminders and objections.
// Everything is read from /v1/enterprise/...; a citizen's token gets 403 citizen_account there.

import { api, ApiError, el, pick } from "./api.js";
import { credentialRequest, generateDeviceKey } from "./holder.js";
import { applyText, currentLang, setupLanguage, t } from "./i18n.js";
import { drawQr } from "./qr.js";

const TOKEN_KEY = "suishen.enterpriseToken";
const $ = (id) => document.getElementById(id);
const state = { token: localStorage.getItem(TOKEN_KEY), device: null, data: null, codeTimer: null };

async function call(path, options = {}) {
  try {
    return await api(path, { token: state.token, ...options });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) signOut();
    throw err;
  }
}

function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.device = null;
  clearTimeout(state.codeTimer);
  show();
}

function show() {
  const signedIn = Boolean(state.token);
  $("ent-login").hidden = signedIn;
  $("ent-home").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  if (signedIn) load();
}

/** A device key for signed confirmations; without one (registration refused) confirmations go unsigned. */
async function registerDevice() {
  try {
    const keyPair = await generateDeviceKey();
    await call("/v1/enterprise/device", { method: "POST", body: await credentialRequest(keyPair, Math.floor(Date.now() / 1000)) });
    state.device = keyPair;
  } catch {
    state.device = null;
  }
}

async function login(event) {
  event.preventDefault();
  const message = $("ent-login-message");
  message.textContent = "";
  const code = $("credit-code").value.trim().toUpperCase();
  try {
    const answer = await api("/v1/dev/enterprise-login", { method: "POST", body: { credit_code: code } });
    state.token = answer.token;
    localStorage.setItem(TOKEN_KEY, answer.token);
    await registerDevice();
    show();
  } catch (err) {
    message.dataset.error = err instanceof ApiError ? err.code : "error";
    message.textContent = err instanceof ApiError && err.code === "invalid_credit_code"
      ? `${t("ent_code_invalid")}（${err.detail}）`
      : err instanceof ApiError && err.status === 404 ? t("login_unavailable") : String(err.detail || err.message);
  }
}

async function load() {
  try {
    const [ents, payouts, notes] = await Promise.all([
      call("/v1/enterprise/entitlements"), call("/v1/enterprise/payouts"), call("/v1/enterprise/notifications"),
    ]);
    state.data = { ents, payouts, notes };
    render();
  } catch (err) {
    $("ent-entitlements").replaceChildren(el("li", { class: "error", text: err.detail || err.message }));
  }
}

function render() {
  if (!state.data) return;
  const lang = currentLang();
  const { ents, payouts, notes } = state.data;
  $("ent-who").textContent = ents.credit_code;
  const standing = ents.standing;
  const line = $("ent-standing");
  line.dataset.creditGood = standing ? String(standing.credit_good) : "unknown";
  line.textContent = !standing ? t("ent_not_in_results") : standing.credit_good ? t("ent_credit_good") : t("ent_credit_plain");
  line.className = `standing ${standing && standing.credit_good ? "good" : ""}`;

  const list = $("ent-entitlements");
  list.replaceChildren();
  if (!ents.entitlements.length) list.append(el("li", { class: "muted", text: t("ent_none") }));
  for (const item of ents.entitlements) {
    const confirmBox = el("div", { class: "confirm-slot" });
    const li = el("li", { class: `entitlement status-${item.status}`, dataset: { policy: item.policy_id } },
      el("h3", { text: pick(item.title, lang) }),
      el("p", {},
        el("span", { class: "badge", text: t(`mode_${item.mode}`) }), " ",
        el("span", { class: "status", text: t(`status_${item.status}`) }),
        pick(item.benefit, lang) ? el("span", { class: "benefit", text: ` · ${pick(item.benefit, lang)}` }) : null),
      el("ul", { class: "explanation" }, item.explanation.map((line) => el("li", { text: pick(line, lang) }))),
      item.clauses.length
        ? el("details", { class: "clauses" }, el("summary", { text: t("ent_why") }),
          el("pre", { text: item.clauses.map((line) => pick(line, lang)).join("\n") }))
        : null,
      confirmBox);
    list.append(li);
    if (item.confirmable) wireConfirm(confirmBox, item, lang);
  }
  const select = $("ent-obj-policy");
  const chosen = select.value;
  select.replaceChildren(...ents.entitlements.map((e) => el("option", { value: e.policy_id, text: pick(e.title, lang) })));
  if (chosen) select.value = chosen;

  $("ent-payouts").replaceChildren(...payouts.payouts.map((p) => el("tr", { dataset: { policy: p.policy_id } },
    el("td", { text: p.period }), el("td", { text: pick(p.title, lang) }), el("td", { class: "num", text: p.amount_yuan.toLocaleString() }))));
  $("ent-payout-total").textContent = payouts.payouts.length
    ? `${t("ent_total")} ${payouts.total_yuan.toLocaleString()} ${t("ent_yuan")}`
    : t("ent_no_payouts");
  $("ent-notifications").replaceChildren(...(notes.notifications.length
    ? notes.notifications.map((n) => el("li", { class: n.read ? "read" : "unread", text: `${t("ent_new_privilege")}${pick(n.title, lang)}` }))
    : [el("li", { class: "muted", text: t("ent_no_reminders") })]));
}

async function wireConfirm(box, item, lang) {
  let confirm;
  try {
    confirm = await import("./confirm.js");
  } catch {
    box.replaceChildren(el("p", { class: "muted", text: t("ent_confirm_unavailable") }));
    return;
  }
  const base = `/v1/enterprise/entitlements/${encodeURIComponent(item.policy_id)}`;
  await confirm.renderConfirm(box, {
    applicationRoute: `${base}/application`, confirmRoute: `${base}/confirm`, token: state.token, channel: "web",
    device: () => state.device, lang, onConfirmed: () => load(),
  });
}

async function showCode() {
  clearTimeout(state.codeTimer);
  const status = $("ent-code-state");
  try {
    const answer = await call("/v1/enterprise/codes", { method: "POST" });
    drawQr($("ent-qr"), answer.text);
    $("ent-code-box").dataset.text = answer.text;
    status.textContent = `${t("ent_code_valid")} · ${answer.refresh_in} ${t("code_refresh_in")}`;
    state.codeTimer = setTimeout(showCode, answer.refresh_in * 1000);
  } catch (err) {
    status.textContent = err instanceof ApiError ? err.detail || err.code : String(err);
  }
}

async function object(event) {
  event.preventDefault();
  const message = $("ent-obj-message");
  try {
    const answer = await call("/v1/enterprise/objections", {
      method: "POST",
      body: { policy_id: $("ent-obj-policy").value, kind: $("ent-obj-kind").value, statement: $("ent-obj-statement").value },
    });
    message.className = "done";
    message.dataset.objection = String(answer.id);
    message.textContent = `${t("ent_objection_sent")} #${answer.id}`;
  } catch (err) {
    message.className = "error";
    message.textContent = err.detail || err.message;
  }
}

$("ent-login-form").addEventListener("submit", login);
$("ent-objection-form").addEventListener("submit", object);
$("ent-code-button").addEventListener("click", showCode);
$("sign-out").addEventListener("click", signOut);
setupLanguage($("lang"), () => render());
applyText();
show();
