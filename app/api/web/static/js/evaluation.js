// Performance evaluation (绩效评估) on the admin page: the figures of GET /v1/admin/evaluation drawn as
// charts a department would rather look at than read (the funnel, days to payment, use by venue and
// by day), budget alerts first, then the table and a CSV download. Every number shown is one the
// route returned: nothing is computed here but the bar lengths.

import { el, pick } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

/** An <svg> with a helper that appends one element to it. */
function canvas(width, height, label) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const node = (name, attrs, text, parent = svg) => {
    const n = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    parent.append(n);
    return n;
  };
  return { svg, node };
}

const percent = (share) => (share === null || share === undefined ? "–" : `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`);
const number = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));

/** Eligible → notified → confirmed → paid for one policy: each bar against the eligible. */
export function funnelChart(policy, lang) {
  const steps = [
    ["eligible", "符合条件 eligible", policy.eligible],
    ["notified", "已告知 notified", policy.notified],
    ...(policy.confirmed === null ? [] : [["confirmed", "已确认 confirmed", policy.confirmed]]),
    ...(policy.delivery === "scan"
      ? [["used", "核验通过 gate grants", policy.gate_grants]]
      : [["paid", "已发放 paid", policy.paid_subjects]]),
  ];
  const width = 720, labelWidth = 170, rowHeight = 34;
  const { svg, node } = canvas(width, steps.length * rowHeight + 8, `funnel ${policy.policy_id}`);
  svg.dataset.policy = policy.policy_id;
  const top = Math.max(1, policy.eligible, ...steps.map((s) => s[2] || 0));
  steps.forEach(([key, words, value], i) => {
    const y = i * rowHeight + 4;
    const w = ((value || 0) / top) * (width - labelWidth - 130);
    node("text", { x: labelWidth - 8, y: y + 19, "text-anchor": "end" }, words);
    const bar = node("rect", { x: labelWidth, y, width: Math.max(w, 1), height: rowHeight - 10, class: `bar-step bar-${key}` });
    bar.dataset.step = key;
    bar.dataset.value = String(value || 0);
    node("title", {}, `${words}: ${number(value)}`, bar);
    const share = policy.eligible ? (value || 0) / policy.eligible : null;
    node("text", { x: labelWidth + w + 6, y: y + 19 }, `${number(value)} (${percent(share)})`);
  });
  svg.setAttribute("aria-label", `${pick(policy.title, lang)}: ${steps.map((s) => `${s[1]} ${s[2]}`).join(", ")}`);
  return svg;
}

/** Median and 90th-percentile days from eligibility to payment, one pair of bars a paid policy. */
export function daysChart(policies, lang) {
  const rows = policies.filter((p) => p.days_to_payment_median !== null);
  const width = 720, labelWidth = 260, rowHeight = 30;
  const { svg, node } = canvas(width, rows.length * rowHeight + 34, "days from eligibility to payment");
  const top = Math.max(1, ...rows.map((p) => p.days_to_payment_p90 || 0));
  const scale = (d) => (d / top) * (width - labelWidth - 110);
  rows.forEach((p, i) => {
    const y = i * rowHeight + 4;
    node("text", { x: labelWidth - 8, y: y + 16, "text-anchor": "end" }, pick(p.title, lang).slice(0, 22));
    const p90 = node("rect", { x: labelWidth, y, width: Math.max(1, scale(p.days_to_payment_p90)), height: rowHeight - 10, class: "bar-p90" });
    node("title", {}, `P90 ${p.days_to_payment_p90} d`, p90);
    const median = node("rect", { x: labelWidth, y: y + 4, width: Math.max(1, scale(p.days_to_payment_median)), height: rowHeight - 18, class: "bar-median" });
    median.dataset.policy = p.policy_id;
    median.dataset.days = String(p.days_to_payment_median);
    node("title", {}, `中位数 median ${p.days_to_payment_median} d`, median);
    node("text", { x: labelWidth + scale(p.days_to_payment_p90) + 6, y: y + 16 },
      `${p.days_to_payment_median} / ${p.days_to_payment_p90} 天 days`);
  });
  const y = rows.length * rowHeight + 12;
  node("rect", { x: labelWidth, y, width: 14, height: 14, class: "bar-median" });
  node("text", { x: labelWidth + 18, y: y + 12 }, "中位数 median");
  node("rect", { x: labelWidth + 150, y, width: 14, height: 14, class: "bar-p90" });
  node("text", { x: labelWidth + 168, y: y + 12 }, "90% 在此之内 90th percentile");
  return svg;
}

/** Gate grants per venue (horizontal bars, names where known). */
export function venueChart(byVenue, venueName) {
  const totals = new Map();
  for (const r of byVenue) totals.set(r.venue, (totals.get(r.venue) || 0) + r.grants);
  const rows = [...totals].sort((a, b) => b[1] - a[1]).slice(0, 30);
  const width = 720, labelWidth = 230, rowHeight = 26;
  const { svg, node } = canvas(width, rows.length * rowHeight + 8, "gate grants by venue");
  const top = Math.max(1, ...rows.map((r) => r[1]));
  rows.forEach(([venue, grants], i) => {
    const y = i * rowHeight + 4;
    const w = (grants / top) * (width - labelWidth - 60);
    node("text", { x: labelWidth - 6, y: y + 16, "text-anchor": "end" }, venueName(venue).slice(0, 30));
    const bar = node("rect", { x: labelWidth, y, width: Math.max(1, w), height: rowHeight - 8, class: "bar-granted" });
    bar.dataset.venue = venue;
    bar.dataset.grants = String(grants);
    node("text", { x: labelWidth + w + 4, y: y + 16 }, number(grants));
  });
  return svg;
}

/** Gate grants per local day (columns, oldest first). */
export function dayChart(byDay) {
  const totals = new Map();
  for (const r of byDay) totals.set(r.day, (totals.get(r.day) || 0) + r.grants);
  const days = [...totals].sort((a, b) => (a[0] < b[0] ? -1 : 1)).slice(-62);
  const width = 720, height = 200, bottom = 36;
  const { svg, node } = canvas(width, height, "gate grants by day");
  const top = Math.max(1, ...days.map((d) => d[1]));
  const step = (width - 40) / Math.max(1, days.length);
  days.forEach(([day, grants], i) => {
    const h = (grants / top) * (height - bottom - 20);
    const x = 30 + i * step;
    const bar = node("rect", { x, y: height - bottom - h, width: Math.min(40, Math.max(2, step - 3)), height: Math.max(1, h), class: "bar-total" });
    bar.dataset.day = day;
    bar.dataset.grants = String(grants);
    node("title", {}, `${day}: ${grants}`, bar);
    if (days.length <= 14 || i % Math.ceil(days.length / 10) === 0) {
      node("text", { x: x + Math.min(40, step) / 2, y: height - bottom + 14, "text-anchor": "middle" }, day.slice(5));
    }
  });
  node("text", { x: 30, y: 12 }, `最多 most: ${number(top)}`);
  return svg;
}

/** The whole evaluation card's content; `onPolicy` redraws when another policy's funnel is chosen. */
export function renderEvaluation(data, { lang, venueName, chosen, onPolicy }) {
  const policies = data.policies || [];
  const out = [];
  for (const a of data.alerts || []) {
    const p = policies.find((x) => x.policy_id === a.policy_id);
    out.push(el("p", { class: "card error budget-alert", role: "alert", dataset: { policy: a.policy_id },
      text: `⚠ 预算预警 Budget alert: ${p ? pick(p.title, lang) : a.policy_id} — ${number(a.spent_yuan)} / ${number(a.budget_yuan)} 元 (${percent(a.share)})` }));
  }
  if (!policies.length) {
    out.push(el("p", { class: "muted", text: "此期间尚无记录 No records in this period" }));
    return out;
  }
  const pickable = policies.filter((p) => p.eligible > 0);
  const current = pickable.find((p) => p.policy_id === chosen) || pickable[0] || policies[0];
  const select = el("select", { id: "evaluation-policy" },
    ...policies.map((p) => el("option", { value: p.policy_id, text: `${pick(p.title, lang)} (${p.policy_id})` })));
  select.value = current.policy_id;
  select.addEventListener("change", () => onPolicy(select.value));
  out.push(el("h3", { text: "办理漏斗 Funnel" }), el("label", { for: "evaluation-policy", text: "政策 Policy" }), select,
    el("div", { id: "evaluation-funnel" }, funnelChart(current, lang)));
  if (policies.some((p) => p.days_to_payment_median !== null)) {
    out.push(el("h3", { text: "从符合条件到发放的天数 Days from eligibility to payment" }),
      el("div", { id: "evaluation-days" }, daysChart(policies, lang)));
  }
  if ((data.by_venue || []).length) {
    out.push(el("h3", { text: "各场所使用 Use by venue" }), el("div", { id: "evaluation-venues" }, venueChart(data.by_venue, venueName)),
      el("h3", { text: "每日使用 Use by day" }), el("div", { id: "evaluation-by-day" }, dayChart(data.by_day || [])));
  }
  return out;
}

/** The figures table: one row a policy, the words of the CSV's columns. */
export function evaluationRows(data, lang) {
  return (data.policies || []).map((p) => ({
    policy: pick(p.title, lang), policy_id: p.policy_id, eligible: p.eligible, notified: p.notified,
    confirmed: p.confirmed ?? "–", paid: p.paid_subjects, yuan: number(p.paid_yuan), take_up: percent(p.take_up),
    days: p.days_to_payment_median === null ? "–" : `${p.days_to_payment_median} / ${p.days_to_payment_p90}`,
    objections: `${p.objections_filed} (${p.objections_upheld})`, corrections: p.corrections_applied,
    original: p.original_channel, grants: p.gate_grants,
    budget: p.budget_share === null ? "–" : `${percent(p.budget_share)}${p.budget_alert ? " ⚠" : ""}`,
  }));
}

export const EVALUATION_COLUMNS = [
  ["policy", "政策 Policy"], ["eligible", "符合 Eligible"], ["notified", "告知 Notified"], ["confirmed", "确认 Confirmed"],
  ["paid", "发放人数 Paid"], ["yuan", "金额（元） Yuan"], ["take_up", "享受率 Take-up"], ["days", "天数 中位/P90 Days"],
  ["objections", "异议（成立） Objections (upheld)"], ["corrections", "更正 Corrections"], ["original", "原渠道 Original channel"],
  ["grants", "核验通过 Gate grants"], ["budget", "预算 Budget"],
];
