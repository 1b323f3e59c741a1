// One-click confirmation (一键确认) in the page, for the citizen page and any page that confirms the same way
// (the enterprise page): `renderConfirm(element, options)` shows, before the confirm button,
//
//   1. the facts the application was generated from, read from the sealed application itself;
//   2. the department's seal on it, checked HERE with WebCrypto (verifier/signed_json.js: the signature over
//      the payload's canonical JSON, the seal key's alg and kid) and the document's SHA-256, the result shown;
//   3. the commitment notice (告知承诺书) the applicant promises, with its version;
//
// and the button. Confirming with a device key (the non-extractable P-256 key of the holder-bound code,
// store.js / holder.js) signs a statement: a tagged COSE_Sign1 with protected header {1: -7, 3:
// "application/suishen-confirmation+cbor"}, payload {application: SHA-256 of the sealed application,
// channel, format: "suishen-confirmation/1", notice: version, policy, t: unix seconds} and external AAD
// "suishen-confirmation/1", so it can never pass as a device proof (untagged, header {1: -7} alone, the
// credential as AAD, payload [step, nonce]). Python reference: app/matching/confirmations.py; docs/api.md.
// Without a device key the confirmation is sent unsigned (the server records `signed: false`).

import { api, ApiError, clock, el, pick } from "./api.js";
import { concat, encode } from "./cbor.js";
import { b64url, publicJwk } from "./holder.js";
import { currentLang } from "./i18n.js";
import { fromHex, sha256, toHex } from "./verifier/keys.js";
import { importRootKey, openDocument, PyFloat } from "./verifier/signed_json.js";

export const STATEMENT_FORMAT = "suishen-confirmation/1";
export const CONTENT_TYPE = "application/suishen-confirmation+cbor";
const PROTECTED = encode(new Map([[1, -7], [3, CONTENT_TYPE]])); // ES256 and the content type
const AAD = new TextEncoder().encode(STATEMENT_FORMAT);
const ECDSA = { name: "ECDSA", hash: "SHA-256" };

const TEXT = {
  application: { zh: "申请书内容（由部门根据登记数据生成）", en: "The application (written by the department from the registries)" },
  facts_none: { zh: "（无登记事实）", en: "(no registry facts)" },
  department: { zh: "责任部门", en: "Department" },
  benefit: { zh: "享受内容", en: "Benefit" },
  generated: { zh: "生成日期", en: "Written on" },
  seal_checking: { zh: "正在核验电子印章…", en: "Checking the department's seal…" },
  seal_ok: { zh: "电子印章核验通过", en: "Department's seal verified" },
  seal_failed: { zh: "电子印章核验失败，请勿确认，并联系责任部门", en: "The seal does NOT verify: do not confirm; contact the department" },
  seal_missing: { zh: "无法取得部门印章公钥，暂不能确认", en: "The department's seal key is not available: cannot confirm yet" },
  notice: { zh: "告知承诺书", en: "Commitment notice" },
  notice_version: { zh: "版本", en: "version" },
  notice_missing: { zh: "部门尚未发布告知承诺书，暂不能确认", en: "No commitment notice published yet: cannot confirm" },
  confirm_by: { zh: "请在此日期前确认：", en: "Confirm by " },
  button: { zh: "我已阅读并承诺，确认领取", en: "I have read this and promise: confirm" },
  signed_note: { zh: "确认将以本机密钥签名", en: "Your confirmation is signed with this phone's key" },
  unsigned_note: { zh: "本机没有设备密钥，确认将记录为未签名", en: "This browser holds no device key: the confirmation is recorded unsigned" },
  expired: { zh: "已过确认期限，请通过原渠道申请", en: "expired, apply through the original channel" },
  confirmed: { zh: "已确认", en: "Confirmed" },
  signed_yes: { zh: "（已签名）", en: " (signed)" },
  yes: { zh: "是", en: "yes" },
  no: { zh: "否", en: "no" },
};

// How the application's facts are named, when the view gives no Chinese words for them.
const FACT_ZH = {
  age: "年龄", "disability.category": "残疾类别", "disability.grade": "残疾等级",
  "disability.certificate_valid_until": "残疾人证有效期至", "hukou.region": "户籍地区", "residence.region": "常住地区",
  "income.monthly": "家庭月收入（元）", "credit.blacklisted": "失信受限", "student.level": "学段",
  "student.enrolled_until": "学籍有效期至", "martyr_family": "烈士家属", "entitled_group": "优抚对象",
  "enterprise.employees": "职工人数", "enterprise.insured_employees": "参保职工人数",
  "enterprise.layoff_rate_pct": "裁员率（%）", "enterprise.annual_revenue": "年营业收入（元）",
  "enterprise.industry": "行业", "enterprise.registered_on": "登记日期", "enterprise.region": "登记地区",
  "enterprise.credit.blacklisted": "失信受限",
};

const views = new Map(); // route + token -> Promise of {view, check}: a re-render fetches and checks nothing again

function words(key, lang) {
  return pick(TEXT[key], lang);
}

/** Check the sealed application in the page: {ok, payload, message}. */
export async function checkSeal(view) {
  if (!view.seal || !view.seal.public_key) return { ok: false, missing: true, message: "no seal key" };
  try {
    const digest = toHex(await sha256(new TextEncoder().encode(view.document)));
    if (digest !== view.application_sha256) {
      return { ok: false, message: `the application's SHA-256 is ${digest.slice(0, 16)}…, not the one to confirm` };
    }
    const key = await importRootKey(view.seal.public_key);
    if (view.seal.kid && key.kidHex !== view.seal.kid) return { ok: false, message: "the seal key's kid does not match" };
    const payload = await openDocument(view.document, key, "application");
    const policy = payload.get("policy");
    if (payload.get("format") !== "suishen-application/1" || !(policy instanceof Map) || policy.get("id") !== view.policy_id) {
      return { ok: false, message: `not a suishen-application/1 document for ${view.policy_id}` };
    }
    return { ok: true, payload };
  } catch (err) {
    return { ok: false, message: String(err && err.message ? err.message : err).replace(/root key/g, "seal key") };
  }
}

function load(route, token) {
  const key = `${route} ${token || ""}`;
  if (!views.has(key)) {
    const job = api(route, { token }).then(async (view) => ({ view, check: await checkSeal(view) }));
    job.catch(() => views.delete(key)); // a failed fetch is tried again on the next render
    views.set(key, job);
  }
  return views.get(key);
}

function show(value, lang) {
  if (value === true) return words("yes", lang);
  if (value === false) return words("no", lang);
  if (value === null || value === undefined) return "—";
  if (value instanceof PyFloat) return String(value.value);
  return String(value);
}

/** The COSE_Sign1 statement: bytes, signed with the device's private key. */
export async function signStatement(privateKey, { applicationSha256, policyId, notice, t, channel }) {
  const payload = encode(new Map([
    ["application", fromHex(applicationSha256)], ["channel", channel], ["format", STATEMENT_FORMAT],
    ["notice", notice], ["policy", policyId], ["t", t],
  ]));
  const toSign = encode(["Signature1", PROTECTED, AAD, payload]);
  const signature = new Uint8Array(await crypto.subtle.sign(ECDSA, privateKey, toSign)); // raw r||s
  return concat(Uint8Array.of(0xd2), encode([PROTECTED, new Map(), payload, signature])); // tag 18
}

/**
 * Render the application's facts, the seal check, the notice and the button into `element`, and confirm
 * against `confirmRoute` when the button is pressed.
 *
 * options: applicationRoute, confirmRoute (the API paths), token (bearer), channel ("web" | "app"),
 * device (a {privateKey, publicKey} pair, or a function returning one or null, read when the button is
 * pressed), lang (default: the page's), onConfirmed(answer) (after the server took it).
 */
export async function renderConfirm(element, options) {
  const { applicationRoute, confirmRoute, token, channel = "web", onConfirmed } = options;
  const lang = options.lang || currentLang();
  element.classList.add("confirm-box");
  element.replaceChildren(el("p", { class: "muted seal-check", dataset: { seal: "checking" }, text: words("seal_checking", lang) }));
  let loaded;
  try {
    loaded = await load(applicationRoute, token);
  } catch (err) {
    element.replaceChildren(el("p", { class: "error", text: err instanceof ApiError ? err.detail || err.code : String(err) }));
    return;
  }
  const { view, check } = loaded;
  element.dataset.seal = check.ok ? "verified" : "failed";
  element.dataset.application = view.application_sha256;
  const payload = check.payload;
  const facts = payload ? payload.get("facts") : null;
  const labels = view.labels || {};
  const rows = [];
  if (facts instanceof Map) {
    for (const [name, value] of facts) {
      const label = lang === "zh"
        ? (labels[name] && labels[name].zh) || FACT_ZH[name] || name
        : (labels[name] && labels[name].en) || name;
      rows.push(el("dt", { text: label }), el("dd", { dataset: { fact: name }, text: show(value, lang) }));
    }
  }
  const parts = [el("h4", { text: words("application", lang) })];
  if (payload) {
    parts.push(rows.length ? el("dl", { class: "facts" }, rows) : el("p", { class: "muted", text: words("facts_none", lang) }));
    parts.push(el("p", { class: "muted small" },
      `${words("department", lang)}：${show(payload.get("lead_department"), lang)} · ${words("benefit", lang)}：` +
      `${show(payload.get("benefit"), lang)} · ${words("generated", lang)}：${show(payload.get("generated_on"), lang)}`));
  }
  const sealText = check.ok
    ? `✔ ${words("seal_ok", lang)}（${view.seal.department} · kid ${view.seal.kid}）`
    : `✘ ${words(check.missing ? "seal_missing" : "seal_failed", lang)}${check.message && !check.missing ? `: ${check.message}` : ""}`;
  parts.push(el("p", { class: `seal-check ${check.ok ? "ok" : "error"}`, dataset: { seal: check.ok ? "verified" : "failed" }, text: sealText }));
  const notice = view.commitment;
  if (notice) {
    parts.push(el("section", { class: "notice", dataset: { noticeVersion: String(notice.version) } },
      el("h4", { text: `${words("notice", lang)}（${words("notice_version", lang)} ${notice.version}）` }),
      el("p", { class: "notice-text", text: pick(notice, lang) })));
  } else {
    parts.push(el("p", { class: "error", text: words("notice_missing", lang) }));
  }
  if (view.expired) {
    parts.push(el("p", { class: "error expired", text: words("expired", lang) }));
  } else if (view.confirm_by) {
    const by = new Date(view.confirm_by).toLocaleDateString(lang === "zh" ? "zh-CN" : "en-GB");
    parts.push(el("p", { class: "muted deadline", text: `${words("confirm_by", lang)}${by}` }));
  }
  const device = typeof options.device === "function" ? options.device() : options.device;
  const message = el("p", { class: "confirm-message", role: "status" });
  if (view.confirmed) {
    parts.push(el("p", { class: "done", text: `✔ ${words("confirmed", lang)}${view.confirmed.signed ? words("signed_yes", lang) : ""}` }));
  } else {
    const ready = check.ok && notice && !view.expired;
    const button = el("button", { class: "primary big confirm", type: "button", disabled: !ready, text: words("button", lang) });
    button.addEventListener("click", () => confirmNow(button, message, view, options));
    parts.push(button, el("p", { class: "muted small sign-note", text: words(device ? "signed_note" : "unsigned_note", lang) }));
  }
  parts.push(message);
  element.replaceChildren(...parts);
}

async function confirmNow(button, message, view, options) {
  const { confirmRoute, token, channel = "web", onConfirmed } = options;
  button.disabled = true;
  message.textContent = "";
  message.className = "confirm-message";
  try {
    const device = typeof options.device === "function" ? options.device() : options.device;
    const notice = view.commitment.version;
    let body = { channel, notice_version: notice };
    if (device && device.privateKey && device.publicKey) {
      const statement = await signStatement(device.privateKey, {
        applicationSha256: view.application_sha256, policyId: view.policy_id, notice, t: Math.floor(clock.now()), channel,
      });
      body = { channel, statement: b64url(statement), public_key: await publicJwk(device) };
    }
    const answer = await api(confirmRoute, { method: "POST", token, body });
    forget(options.applicationRoute, token);
    button.closest(".confirm-box").dataset.confirmed = answer.signed ? "signed" : "unsigned";
    if (onConfirmed) await onConfirmed(answer);
  } catch (err) {
    button.disabled = false;
    message.className = "confirm-message error";
    message.textContent = err instanceof ApiError ? err.detail || err.code : String(err && err.message ? err.message : err);
    if (err instanceof ApiError) message.dataset.error = err.code;
  }
}

/** Forget a fetched application (after confirming, or to check it again). */
export function forget(route, token) {
  views.delete(`${route} ${token || ""}`);
}
