// 政策执行情况公开: how many people each policy reached, per region; counts under 5 shown as "<5".

import { api, ApiError, el, pick } from "./api.js";
import { currentLang, setupLanguage, t } from "./i18n.js";

const REGIONS = {
  310000: { zh: "上海", en: "Shanghai" }, 320000: { zh: "江苏", en: "Jiangsu" }, 330000: { zh: "浙江", en: "Zhejiang" },
  340000: { zh: "安徽", en: "Anhui" }, all: { zh: "合计", en: "All regions" }, enterprises: { zh: "企业", en: "Enterprises" },
};
const state = { rows: null, titles: {}, error: null };

async function load() {
  try {
    const snapshot = await api("/v1/catalogue/snapshot");
    for (const p of (snapshot && snapshot.payload && snapshot.payload.policies) || []) state.titles[p.id] = p.title;
  } catch {
    /* ids are shown instead of titles */
  }
  try {
    const answer = await api("/v1/disclosure");
    state.rows = answer.rows || [];
  } catch (err) {
    state.error = err instanceof ApiError && err.status === 404 ? t("disclosure_none") : err.message;
  }
  render(currentLang());
}

function render(lang) {
  const out = document.getElementById("disclosure");
  if (state.error) {
    out.replaceChildren(el("p", { class: "muted", text: state.error }));
    return;
  }
  if (!state.rows) return;
  const head = el("tr", {}, ["policy", "region", "matched", "paid"].map((k) => el("th", { text: t(`disclosure_${k}`) })));
  const body = state.rows.map((r) =>
    el(
      "tr",
      {},
      el("td", { text: pick(state.titles[r.policy_id], lang) || r.policy_id }),
      el("td", { text: pick(REGIONS[r.region], lang) || String(r.region) }),
      el("td", { class: "num", text: String(r.matched ?? "") }),
      el("td", { class: "num", text: String(r.paid ?? "") }),
    ),
  );
  out.replaceChildren(el("div", { class: "scroll", tabindex: "0" }, el("table", {}, el("thead", {}, head), el("tbody", {}, body))));
}

setupLanguage(document.getElementById("lang"), (lang) => render(lang));
load();
