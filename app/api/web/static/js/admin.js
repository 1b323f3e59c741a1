// Admin dashboard: catalogue drafts and publication, matching runs and diffs, objections,
// usage charts (绩效评估), disclosure, trust list and partner regions, device keys.

import { api, ApiError, el, pick } from "./api.js";
import { EVALUATION_COLUMNS, evaluationRows, renderEvaluation } from "./evaluation.js";
import { applyText, currentLang, setupLanguage, t } from "./i18n.js";

const KEY = "suishen.admin.key"; // sessionStorage: an admin key is forgotten when the tab closes
const $ = (id) => document.getElementById(id);
const state = { key: "", tab: "catalogue", policies: null, checks: {}, statsBy: "policy", venues: [],
  evaluation: null, evaluationPolicy: null };

const NEW_POLICY = `id: sh-new-policy
title:
  zh: 新政策
  en: New policy
lead_department: 上海市民政局
data_departments: [上海市大数据中心]
legal_basis:
  title: 《…》
  reference: 第N条
delivery: scan
subject: person
status: draft
region_scope: residents
venues:
  types: [park]
versions:
  - version: 1
    effective_from: 2026-01-01
    eligibility:
      age: {">=": 65}
    benefit:
      kind: free_entry
`;

function call(path, options = {}) {
  return api(path, { ...options, token: state.key });
}

function say(text, ok = false) {
  const m = $("message");
  m.textContent = text || "";
  m.className = ok ? "ok" : "error";
}

function failure(err) {
  if (err instanceof ApiError && err.status === 404 && err.code === "not_found") return "此功能尚未提供 Not available on this server";
  if (err instanceof ApiError) return `${err.code}: ${err.detail || ""}`;
  return String(err && err.message ? err.message : err);
}

function table(columns, rows, { numeric = [] } = {}) {
  const head = el("tr", {}, columns.map((c) => el("th", { scope: "col", text: typeof c === "string" ? c : c.label ?? c.key })));
  const body = rows.map((r) =>
    el("tr", {}, columns.map((c) => {
      const key = c.key || c;
      const v = c.render ? c.render(r) : r[key];
      const cell = el("td", { class: numeric.includes(key) ? "num" : "" });
      if (v instanceof Node) cell.append(v);
      else cell.textContent = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
      return cell;
    })),
  );
  return el("div", { class: "scroll", tabindex: "0" }, el("table", {}, el("thead", {}, head), el("tbody", {}, body)));
}

function when(iso) {
  if (!iso) return "";
  const d = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(currentLang() === "zh" ? "zh-CN" : "en-GB");
}

// ---------- key and tabs ----------

async function useKey(key) {
  state.key = key;
  $("key-message").textContent = "";
  try {
    await loadCatalogue();
  } catch (err) {
    $("key-message").textContent = failure(err);
    $("dashboard").hidden = true;
    return;
  }
  sessionStorage.setItem(KEY, key);
  $("key-section").hidden = true;
  $("dashboard").hidden = false;
  $("sign-out").hidden = false;
  showTab(state.tab);
}

function showTab(name) {
  state.tab = name;
  for (const b of document.querySelectorAll("[data-tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const p of document.querySelectorAll("[data-panel]")) p.hidden = p.dataset.panel !== name;
  say("");
  const load = { catalogue: loadCatalogue, runs: loadRuns, objections: loadObjections, stats: loadStats, trust: loadTrust,
    devices: loadDevices }[name];
  load().catch((err) => say(failure(err)));
}

// ---------- catalogue ----------

async function loadCatalogue() {
  const data = await call("/v1/admin/policies");
  state.policies = data;
  renderCatalogue();
}

function renderCatalogue() {
  const data = state.policies;
  if (!data) return;
  const lang = currentLang();
  $("catalogue-version").textContent = String(data.catalogue_version ?? "–");
  const drafts = data.drafts || [];
  $("drafts").replaceChildren(
    drafts.length
      ? table(
          [
            { key: "policy_id", label: "政策 Policy" },
            { key: "saved_at", label: "保存时间 Saved", render: (r) => when(r.saved_at) },
            { key: "saved_by", label: "保存人 By" },
            { key: "check", label: "校验 Check", render: (r) => checkBadge(state.checks[r.policy_id]) },
          ],
          drafts,
        )
      : el("p", { class: "muted", text: "没有草稿 No drafts" }),
  );
  const published = data.published || [];
  $("published").replaceChildren(
    table(
      [
        { key: "id", label: "编号 Id" },
        { key: "title", label: "名称 Title", render: (r) => pick(r.title, lang) },
        { key: "delivery", label: "方式 Delivery" },
        { key: "status", label: "状态 Status", render: (r) => el("span", { class: `tag tag-${r.status}`, text: r.status }) },
        { key: "region_scope", label: "范围 Scope" },
        { key: "versions", label: "版本 Versions", render: (r) => (r.versions || []).join(", ") },
        { key: "edit", label: "", render: (r) => el("button", { type: "button", class: "secondary edit",
          dataset: { policy: r.id }, onclick: () => edit(r), text: "编辑 Edit" }) },
      ],
      published,
    ),
  );
}

function checkBadge(check) {
  if (!check) return "";
  if (check.valid) return el("span", { class: "ok", text: `✔ ${t("valid")}` });
  return el("div", {}, el("span", { class: "error", text: `✘ ${t("invalid")}` }),
    el("ul", { class: "problems" }, (check.errors || []).map((e) => el("li", { text: typeof e === "string" ? e : JSON.stringify(e) }))));
}

function edit(policy) {
  $("policy-id").value = policy.id;
  $("policy-source").value = policy.source ? JSON.stringify(policy.source, null, 2) : "";
  $("draft-check").replaceChildren();
  $("editor-card").scrollIntoView({ behavior: "smooth" });
}

async function saveDraft() {
  const id = $("policy-id").value.trim();
  const source = $("policy-source").value;
  const out = $("draft-check");
  out.replaceChildren();
  if (!id || !source.trim()) return;
  try {
    const check = await call(`/v1/admin/policies/${encodeURIComponent(id)}`, { method: "PUT", body: source });
    state.checks[id] = check;
    out.replaceChildren(checkBadge(check));
    out.dataset.valid = String(!!check.valid);
    await loadCatalogue();
  } catch (err) {
    out.replaceChildren(el("p", { class: "error", text: failure(err) }));
    out.dataset.valid = "false";
  }
}

async function publish() {
  const out = $("publish-result");
  out.textContent = "";
  try {
    const answer = await call("/v1/admin/catalogue/publish", { method: "POST" });
    out.textContent = `✔ ${t("published_version")} ${answer.version}`;
    out.className = "ok";
    out.dataset.version = String(answer.version);
    state.checks = {};
    await loadCatalogue();
  } catch (err) {
    out.textContent = failure(err);
    out.className = "error";
  }
}

// ---------- runs ----------

async function loadRuns() {
  const data = await call("/v1/admin/runs");
  const runs = data.runs || [];
  const columns = runs.length ? Object.keys(runs[0]) : ["version"];
  $("runs").replaceChildren(
    runs.length
      ? table(columns.map((c) => ({ key: c, label: c, render: (r) => runCell(c, r[c]) })), runs,
          { numeric: ["persons", "enterprises", "entitlements", "seconds"] })
      : el("p", { class: "muted", text: "尚无匹配批次 No matching runs yet" }),
  );
  const versions = runs.map((r) => r.version);
  for (const [id, pickIndex] of [["diff-old", 1], ["diff-new", 0]]) {
    $(id).replaceChildren(...versions.map((v) => el("option", { value: v, text: `#${v}` })));
    if (versions.length) $(id).value = String(versions[Math.min(pickIndex, versions.length - 1)]);
  }
  if (versions.length) await diff();
}

function runCell(column, value) {
  if (/_at$/.test(column)) return when(value);
  if (column === "seconds" && typeof value === "number") return value.toFixed(2);
  return value;
}

async function diff() {
  const out = $("diff-result");
  const a = $("diff-old").value;
  const b = $("diff-new").value;
  if (!a || !b) return;
  try {
    const data = await call(`/v1/admin/runs/${a}/diff/${b}`);
    const rows = data.policies || [];
    out.replaceChildren(
      el("p", { text: `#${data.old} → #${data.new}` }),
      table(
        [
          { key: "policy_id", label: "政策 Policy" },
          { key: "newly_eligible", label: "新增 Newly eligible" },
          { key: "no_longer_eligible", label: "不再符合 No longer eligible" },
          { key: "changed_version", label: "版本变化 Version changed" },
        ],
        rows,
        { numeric: ["newly_eligible", "no_longer_eligible", "changed_version"] },
      ),
    );
  } catch (err) {
    out.replaceChildren(el("p", { class: "error", text: failure(err) }));
  }
}

// ---------- objections ----------

async function loadObjections() {
  const status = $("objection-status").value;
  const data = await call(`/v1/admin/objections?status=${encodeURIComponent(status)}`);
  const rows = data.objections || [];
  $("objections").replaceChildren(
    rows.length
      ? table(
          [
            { key: "id", label: "#" },
            { key: "filed_at", label: "提交 Filed", render: (r) => when(r.filed_at) },
            { key: "policy_id", label: "政策 Policy" },
            { key: "kind", label: "类型 Kind", render: (r) => (r.kind === "missing" ? "应享未享 missing" : "待遇有误 wrong") },
            { key: "statement", label: "说明 Statement" },
            { key: "subject", label: "对象（化名） Subject (pseudonym)" },
            { key: "status", label: "状态 Status" },
            { key: "act", label: "", render: (r) => (r.status === "open" ? resolveForm(r) : resolution(r)) },
          ],
          rows,
        )
      : el("p", { class: "muted", text: "队列为空 The queue is empty" }),
  );
}

function resolution(r) {
  const lines = Array.isArray(r.explanation) ? r.explanation : r.explanation ? String(r.explanation).split("\n") : [];
  return el("div", {}, el("span", { text: r.officer || "" }), lines.length ? el("ul", {}, lines.map((l) => el("li", { text: pick(l, currentLang()) }))) : "");
}

function resolveForm(objection) {
  const input = el("textarea", { rows: 2, class: "code", placeholder: "birth_date=1950-03-01", "aria-label": "corrections" });
  const out = el("div", { role: "status" });
  const button = el("button", { type: "button", class: "primary", text: t("resolve") });
  button.addEventListener("click", async () => {
    const corrections = {};
    for (const line of input.value.split(/\n|;/)) {
      const m = /^\s*([\w.]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (!m) continue;
      const v = m[2];
      corrections[m[1]] = v === "true" ? true : v === "false" ? false : v === "" || v === "null" ? null : /^-?\d+$/.test(v) ? Number(v) : v;
    }
    try {
      const answer = await call(`/v1/admin/objections/${objection.id}/resolve`, { method: "POST", body: { corrections } });
      out.replaceChildren(
        el("p", { class: answer.entitled ? "ok" : "error", text: answer.entitled ? "✔ 符合 entitled" : "✘ 不符合 not entitled" }),
        el("ul", {}, (answer.explanation || []).map((l) => el("li", { text: pick(l, currentLang()) }))),
      );
    } catch (err) {
      out.replaceChildren(el("p", { class: "error", text: failure(err) }));
    }
  });
  return el("div", {}, input, button, out);
}

// ---------- usage statistics and disclosure ----------

const RESULTS = [
  ["GRANTED", "bar-granted", "通过 granted"],
  ["REJECTED", "bar-rejected", "未通过 refused"],
  ["MANUAL_CHECK", "bar-total", "人工核验 manual check"],
];

/** A row's key in words: a policy's title or a venue's name where they are known. */
function label(by, key) {
  const lang = currentLang();
  if (by === "policy") {
    const p = ((state.policies && state.policies.published) || []).find((x) => x.id === key);
    return p ? pick(p.title, lang) : String(key);
  }
  if (by === "venue") {
    const v = state.venues.find((x) => x.id === key);
    return v ? pick(v.name, lang) : String(key);
  }
  return String(key);
}

function barChart(rows, by) {
  const ns = "http://www.w3.org/2000/svg";
  const labelWidth = 230;
  const width = 720;
  const rowHeight = 26;
  const height = Math.max(1, rows.length) * rowHeight + 30;
  const max = Math.max(1, ...rows.map((r) => r.total || 0));
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `usage by ${by}`);
  const node = (name, attrs, text) => {
    const n = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  rows.forEach((r, i) => {
    const y = i * rowHeight + 4;
    node("text", { x: labelWidth - 6, y: y + 16, "text-anchor": "end" }, label(by, r[by]).slice(0, 30));
    let x = labelWidth;
    for (const [key, cls] of RESULTS) {
      const w = ((r[key] || 0) / max) * (width - labelWidth - 60);
      if (w > 0) node("rect", { x, y, width: w, height: rowHeight - 8, class: cls }).append(
        Object.assign(document.createElementNS(ns, "title"), { textContent: `${key}: ${r[key]}` }));
      x += w;
    }
    node("text", { x: x + 4, y: y + 16 }, String(r.total || 0));
  });
  let lx = labelWidth;
  for (const [, cls, label] of RESULTS) {
    node("rect", { x: lx, y: height - 20, width: 14, height: 14, class: cls });
    node("text", { x: lx + 18, y: height - 8 }, label);
    lx += 150;
  }
  return svg;
}

function venueName(id) {
  const v = state.venues.find((x) => x.id === id);
  return v ? pick(v.name, currentLang()) : String(id);
}

function drawEvaluation() {
  const data = state.evaluation;
  const lang = currentLang();
  $("evaluation-period-shown").textContent = `${data.period}${data.from ? ` (${data.from} – ${data.to})` : ""}`;
  $("evaluation-period-shown").dataset.period = data.period;
  $("evaluation").replaceChildren(...renderEvaluation(data, {
    lang, venueName, chosen: state.evaluationPolicy,
    onPolicy: (id) => { state.evaluationPolicy = id; drawEvaluation(); },
  }));
  const rows = evaluationRows(data, lang);
  $("evaluation-table").replaceChildren(rows.length
    ? table(EVALUATION_COLUMNS.map(([key, label]) => ({ key, label })), rows,
        { numeric: ["eligible", "notified", "confirmed", "paid", "yuan", "corrections", "original", "grants"] })
    : "");
}

/** `period` as typed, or nothing for the route's default (this month). */
function evaluationQuery() {
  const period = $("evaluation-period").value.trim();
  return period ? `?period=${encodeURIComponent(period)}` : "";
}

async function loadEvaluation() {
  $("evaluation-period-shown").textContent = "计算中… Computing from the records…";
  try {
    state.evaluation = await call(`/v1/admin/evaluation${evaluationQuery()}`);
    drawEvaluation();
  } catch (err) {
    $("evaluation").replaceChildren(el("p", { class: "error", role: "alert", text: failure(err) }));
    $("evaluation-table").replaceChildren();
  }
}

/** The CSV through fetch (the admin key is a header, which a plain link cannot carry), saved as a file. */
async function downloadEvaluation() {
  try {
    const response = await call(`/v1/admin/evaluation.csv${evaluationQuery()}`, { accept: "text/csv", raw: true });
    const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: name ? name[1] : "evaluation.csv" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    say(failure(err));
  }
}

async function loadStats() {
  if (!state.venues.length) state.venues = (await api("/v1/venues").catch(() => ({ venues: [] }))).venues || [];
  await loadEvaluation();
  for (const b of document.querySelectorAll("#stats-by button")) b.setAttribute("aria-selected", String(b.dataset.by === state.statsBy));
  const by = state.statsBy;
  if (!state.venues.length) state.venues = (await api("/v1/venues").catch(() => ({ venues: [] }))).venues || [];
  const data = await call(`/v1/admin/stats?by=${by}`);
  const rows = data.rows || [];
  $("stats-chart").replaceChildren(rows.length ? barChart(rows, by) : el("p", { class: "muted", text: "尚无核验记录 No decisions recorded yet" }));
  $("stats-table").replaceChildren(
    rows.length
      ? table([by, "GRANTED", "REJECTED", "MANUAL_CHECK", "total"].map((k) => ({ key: k, label: k, render: (r) => r[k] ?? 0 })),
          rows, { numeric: ["GRANTED", "REJECTED", "MANUAL_CHECK", "total"] })
      : "",
  );
  try {
    const disclosure = await call("/v1/admin/disclosure");
    const drows = disclosure.rows || [];
    $("disclosure").replaceChildren(
      table([
        { key: "policy_id", label: "政策 Policy" }, { key: "region", label: "地区 Region" },
        { key: "matched", label: "匹配 Matched" }, { key: "paid", label: "已发放 Paid" },
      ], drows, { numeric: ["matched", "paid"] }),
    );
  } catch (err) {
    $("disclosure").replaceChildren(el("p", { class: "error", text: failure(err) }));
  }
}

// ---------- trust list and partners ----------

async function loadTrust() {
  const doc = await api("/v1/trust-list");
  const p = (doc && doc.payload) || {};
  const expires = p.issued_at && p.max_age ? p.issued_at + p.max_age : null;
  $("trust").replaceChildren(
    el("p", { text: `版本 Version ${p.version ?? "?"} · 签发 Issued ${when(p.issued_at)} · 有效至 Valid until ${when(expires)}` }),
    table(
      [
        { key: "issuer", label: "签发方 Issuer" }, { key: "region", label: "地区 Region" }, { key: "kid", label: "kid" },
        { key: "alg", label: "算法 Alg" },
        { key: "status", label: "状态 Status", render: (r) => el("span", { class: r.status === "active" ? "ok" : "error", text: r.status }) },
        { key: "not_before", label: "生效 From", render: (r) => when(r.not_before) },
        { key: "not_after", label: "失效 Until", render: (r) => when(r.not_after) },
        { key: "privileges", label: "可认定 May assert", render: (r) => (r.privileges || []).join(", ") },
      ],
      p.keys || [],
    ),
  );
  try {
    const partners = await call("/v1/admin/partners");
    const rows = partners.partners || [];
    const held = (r) => {
      const tl = r.trust_list;
      if (!tl) return el("span", { class: "error", text: "未导入 none imported" });
      const ok = !tl.stale;
      return el("span", { class: ok ? "ok" : "error",
        text: `v${tl.version} · ${(tl.keys || []).length} keys · ${ok ? "有效至 valid until" : "已过期 STALE since"} ${when(tl.expires_at)}` });
    };
    $("partners").replaceChildren(
      rows.length
        ? table([
            { key: "region", label: "地区 Region" }, { key: "name", label: "名称 Name" },
            { key: "issuers", label: "签发方 Issuers", render: (r) => (r.issuers || []).join(", ") },
            { key: "privileges", label: "可认定 May assert", render: (r) => (r.privileges || []).join(", ") },
            { key: "root_kid", label: "根密钥 Root kid" },
            { key: "trust_list", label: "信任列表 Trust list held", render: held },
          ], rows)
        : el("p", { class: "muted", text: "尚无合作地区 No partner region yet" }),
    );
  } catch (err) {
    $("partners").replaceChildren(el("p", { class: "error", text: failure(err) }));
  }
}

async function registerPartner(event) {
  event.preventDefault();
  const out = $("register-result");
  try {
    const answer = await call("/v1/admin/partners", {
      method: "POST",
      body: {
        region: $("register-region").value.trim(),
        name: $("register-name").value.trim(),
        issuers: $("register-issuers").value.split(/[ ,]+/).filter(Boolean),
        root_public_pem: $("register-pem").value.trim() + "\n",
      },
    });
    out.textContent = `✔ ${answer.region} ${answer.root_kid || ""}`;
    out.className = "ok";
    await loadTrust();
  } catch (err) {
    out.textContent = failure(err);
    out.className = "error";
  }
}

async function uploadPartner(event) {
  event.preventDefault();
  const region = $("partner-region").value.trim();
  const out = $("partner-result");
  try {
    const text = $("partner-doc").value.trim();
    JSON.parse(text); // a clear message for a paste that is not JSON; the bytes are sent unchanged
    const answer = await call(`/v1/admin/partners/${encodeURIComponent(region)}/trust-list`, {
      method: "POST", body: text,
    });
    out.textContent = `✔ ${JSON.stringify(answer)}`;
    out.className = "ok";
    await loadTrust();
  } catch (err) {
    out.textContent = err instanceof SyntaxError ? `JSON: ${err.message}` : failure(err);
    out.className = "error";
  }
}

// ---------- devices ----------

async function loadDevices() {
  if (!state.venues.length) {
    try {
      state.venues = (await api("/v1/venues")).venues || [];
    } catch {
      state.venues = [];
    }
  }
  const lang = currentLang();
  $("device-venue").replaceChildren(
    el("option", { value: "", text: "（任意场所 any venue）" }),
    ...state.venues.map((v) => el("option", { value: v.id, text: `${pick(v.name, lang)} (${v.id})` })),
  );
}

async function newDevice(event) {
  event.preventDefault();
  const out = $("device-result");
  try {
    const answer = await call("/v1/admin/devices", {
      method: "POST",
      body: { name: $("device-name").value.trim(), role: $("device-role").value, venue: $("device-venue").value || null },
    });
    out.replaceChildren(
      el("p", { class: "ok", text: `✔ #${answer.id} (${answer.role}) — 密钥只显示这一次 The key is shown this once:` }),
      el("pre", { class: "api-key", text: answer.api_key }),
    );
  } catch (err) {
    out.replaceChildren(el("p", { class: "error", text: failure(err) }));
  }
}

function main() {
  applyText();
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    useKey($("admin-key").value.trim());
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    location.reload();
  });
  for (const b of document.querySelectorAll("[data-tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("evaluation-form").addEventListener("submit", (e) => {
    e.preventDefault();
    loadEvaluation();
  });
  $("evaluation-csv").addEventListener("click", downloadEvaluation);
  for (const b of document.querySelectorAll("#stats-by button")) {
    b.addEventListener("click", () => {
      state.statsBy = b.dataset.by;
      loadStats().catch((err) => say(failure(err)));
    });
  }
  $("publish").addEventListener("click", publish);
  $("save-draft").addEventListener("click", saveDraft);
  $("new-policy").addEventListener("click", () => {
    $("policy-id").value = "sh-new-policy";
    $("policy-source").value = NEW_POLICY;
  });
  $("diff").addEventListener("click", diff);
  $("objection-status").addEventListener("change", () => loadObjections().catch((err) => say(failure(err))));
  $("partner-form").addEventListener("submit", uploadPartner);
  $("register-form").addEventListener("submit", registerPartner);
  $("device-form").addEventListener("submit", newDevice);
  setupLanguage($("lang"), () => renderCatalogue());
  const saved = sessionStorage.getItem(KEY);
  if (saved) {
    $("admin-key").value = saved;
    useKey(saved).finally(() => (document.body.dataset.ready = "1"));
  } else {
    document.body.dataset.ready = "1";
  }
}

main();
