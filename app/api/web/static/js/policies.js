// 免申即享政策公开: every published policy in plain words (who qualifies, drawn from the rule itself),
// how it is delivered, its dates, and how many it reached (small counts "<5", as on /disclosure).

import { api, el, pick } from "./api.js";
import { currentLang, setupLanguage, t } from "./i18n.js";

const state = { answer: null, error: null, subject: "all" };

async function load() {
  try {
    state.answer = await api("/v1/policies");
  } catch (err) {
    state.error = err.message || String(err);
  }
  render();
}

function field(label, ...value) {
  return el("div", { class: "field" }, el("dt", { text: t(label) }), el("dd", {}, ...value));
}

function card(p, lang) {
  const to = p.effective_to || t("policies_open_ended");
  const how = [pick(p.delivery_words, lang)];
  if (p.venue_types.length) how.push(`（${p.venue_types.map((v) => pick(v, lang)).join(lang === "zh" ? "、" : ", ")}）`);
  const reached = p.benefited.matched;
  return el("article", { class: "card policy", dataset: { policy: p.id, subject: p.subject, delivery: p.delivery } },
    el("h2", { text: pick(p.title, lang) }),
    el("p", { class: "muted", text: `${p.id} · v${p.version}` }),
    el("dl", {},
      field("policies_benefit", el("span", { class: "benefit", text: pick(p.benefit, lang) })),
      field("policies_who", el("ul", { class: "who" }, p.who_qualifies.map((line) => el("li", { text: pick(line, lang) })))),
      field("policies_scope", pick(p.scope, lang)),
      field("policies_how", el("span", { class: "delivery", text: how.join("") })),
      field("policies_dates", `${p.effective_from} – ${to}`),
      field("policies_lead", p.lead_department),
      field("policies_data", p.data_departments.join(lang === "zh" ? "、" : ", ")),
      field("policies_basis", p.legal_basis),
      field("policies_reached", el("span", { class: "reached", text: `${reached} ${t("policies_people")}` }),
        p.benefited.paid !== null && p.benefited.paid !== undefined
          ? el("span", { class: "muted", text: ` · ${t("policies_paid")} ${p.benefited.paid}` }) : null),
    ));
}

function render(lang) {
  const out = document.getElementById("policies");
  for (const b of document.querySelectorAll("#policies-filter button")) {
    b.setAttribute("aria-pressed", String(b.dataset.subject === state.subject));
  }
  if (state.error) {
    out.replaceChildren(el("p", { class: "card error", text: state.error }));
    return;
  }
  if (!state.answer) return;
  const shown = state.answer.policies.filter((p) => state.subject === "all" || p.subject === state.subject);
  out.replaceChildren(...shown.map((p) => card(p, lang || currentLang())));
}

for (const b of document.querySelectorAll("#policies-filter button")) {
  b.addEventListener("click", () => {
    state.subject = b.dataset.subject;
    render();
  });
}
setupLanguage(document.getElementById("lang"), (lang) => render(lang));
load();
