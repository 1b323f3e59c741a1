// Chinese and English text for the three pages. Elements carry data-i18n="key"; the language
// choice is kept in localStorage.

export const TEXT = {
  // shared
  app_name: { zh: "随申码", en: "Suishen Pass" },
  lang_switch: { zh: "English", en: "中文" },
  text_size: { zh: "大字", en: "Larger text" },
  sign_out: { zh: "退出", en: "Sign out" },
  save: { zh: "保存", en: "Save" },
  loading: { zh: "正在加载…", en: "Loading…" },
  offline: { zh: "没有网络", en: "No network" },
  online: { zh: "网络正常", en: "Online" },
  error: { zh: "出错了", en: "Something went wrong" },
  // citizen page
  citizen_title: { zh: "市民主页", en: "My Suishen Pass" },
  login_title: { zh: "登录", en: "Sign in" },
  login_hint: {
    zh: "演示模式：输入登记编号（例如 P00000001）登录。",
    en: "Demo mode: enter a registry subject id (for example P00000001).",
  },
  subject_label: { zh: "登记编号", en: "Subject id" },
  login_button: { zh: "登录", en: "Sign in" },
  login_unavailable: {
    zh: "演示登录未开启，请通过“一网通办”登录。",
    en: "Demo sign-in is off here; sign in through the city's single sign-on.",
  },
  code_title: { zh: "我的随申码", en: "My code" },
  code_kind_online: { zh: "在线码", en: "Online code" },
  code_kind_card: { zh: "长者卡（纸质码）", en: "Printed card" },
  offline_decision: { zh: "离线核验（本机判断）", en: "Decided offline on this handheld" },
  offline_docs_ready: { zh: "离线核验已就绪", en: "Offline checking is ready" },
  offline_docs_none: { zh: "尚无离线核验资料：请先联网一次", en: "No offline documents yet: connect once" },
  code_kind_holder: { zh: "离线码（本机专用）", en: "Offline code (this phone only)" },
  code_refresh_in: { zh: "秒后自动刷新", en: "s until the code refreshes" },
  code_show_hint: {
    zh: "请把此码对准闸机或工作人员的扫码设备。",
    en: "Hold this code up to the gate or to the staff member's scanner.",
  },
  code_expired: { zh: "码已过期，请联网刷新。", en: "The code has expired: connect to refresh it." },
  code_unavailable: { zh: "暂时无法生成随申码。", en: "Cannot make a code right now." },
  offline_ready: {
    zh: "离线码已开启：没有网络时也能亮码。",
    en: "Offline code is on: your code works without a network.",
  },
  offline_enable: { zh: "开启离线码", en: "Turn on offline code" },
  offline_until: { zh: "离线码有效至", en: "Offline code valid until" },
  offline_unsupported: {
    zh: "此浏览器不支持离线码，请使用在线码。",
    en: "This browser cannot make offline codes; the online code still works.",
  },
  use_online: { zh: "改用在线码", en: "Use online code" },
  use_holder: { zh: "改用离线码", en: "Use offline code" },
  groups_title: { zh: "我的身份", en: "About me" },
  groups_none: { zh: "暂无可享受优待的身份记录。", en: "No group on record that brings a privilege." },
  ent_title: { zh: "我的待遇", en: "My entitlements" },
  ent_none: { zh: "目前没有匹配到的待遇。", en: "No entitlement matched yet." },
  ent_why: { zh: "为什么我能享受", en: "Why I get this" },
  confirm_button: { zh: "一键确认领取", en: "Confirm to receive" },
  confirmed: { zh: "已确认", en: "Confirmed" },
  object_button: { zh: "我有异议", en: "I disagree" },
  objection_title: { zh: "提出异议", en: "Raise an objection" },
  objection_hint: {
    zh: "觉得待遇有误，或者应当享受却没有？告诉我们，工作人员会核实并答复。",
    en: "Something wrong, or a privilege you should have but do not? Tell us: an officer checks and answers.",
  },
  objection_policy: { zh: "哪项政策", en: "Which policy" },
  objection_policy_other: { zh: "其他（请在说明中写明）", en: "Another one (say which below)" },
  objection_kind: { zh: "异议类型", en: "What is wrong" },
  objection_wrong: { zh: "待遇有误", en: "This entitlement is wrong" },
  objection_missing: { zh: "应享未享", en: "I should have it but do not" },
  objection_statement: { zh: "说明", en: "Explain in your own words" },
  objection_submit: { zh: "提交异议", en: "Send" },
  objection_sent: { zh: "已提交，编号", en: "Sent; reference" },
  notes_title: { zh: "消息提醒", en: "Messages" },
  notes_none: { zh: "暂无新消息。", en: "No messages." },
  notes_read: { zh: "知道了", en: "Got it" },
  notes_new: { zh: "您有新的待遇：", en: "New for you: " },
  disclosure_link: { zh: "政策执行情况公开", en: "Public disclosure of how policies are applied" },
  disclosure_intro: {
    zh: "各项政策按地区匹配和发放的人数。少于 5 人的显示为“<5”，以免识别到个人。",
    en: "How many people each policy reached, by region. Counts under 5 show as \"<5\" so that nobody can be singled out.",
  },
  policies_link: { zh: "免申即享政策公开", en: "Policies you enjoy without applying" },
  policies_intro: {
    zh: "以下政策已实现免申即享：符合条件的市民和企业无需申请，由系统根据各部门数据主动找到。人数少于5人的以“<5”显示。",
    en: "These policies reach people without an application: the system finds everyone who qualifies from the departments' records. Counts under 5 are shown as “<5”.",
  },
  policies_who: { zh: "谁可以享受", en: "Who qualifies" },
  policies_how: { zh: "如何享受", en: "How it is delivered" },
  policies_benefit: { zh: "享受内容", en: "What it gives" },
  policies_basis: { zh: "政策依据", en: "Legal basis" },
  policies_lead: { zh: "牵头部门", en: "Lead department" },
  policies_data: { zh: "数据来源", en: "Data from" },
  policies_dates: { zh: "有效期", en: "In force" },
  policies_open_ended: { zh: "长期有效", en: "no end date" },
  policies_venues: { zh: "适用场所", en: "Venues" },
  policies_scope: { zh: "适用范围", en: "Who may use it" },
  policies_reached: { zh: "已惠及", en: "Reached" },
  policies_paid: { zh: "本期已发放", en: "Paid this period" },
  policies_people: { zh: "人（户）", en: "people or enterprises" },
  policies_for_enterprises: { zh: "企业政策", en: "For enterprises" },
  policies_for_persons: { zh: "个人政策", en: "For people" },
  policies_filter: { zh: "筛选", en: "Filter" },
  policies_all: { zh: "全部", en: "All" },
  disclosure_none: { zh: "本期数据尚未公开。", en: "This period's figures are not published yet." },
  disclosure_policy: { zh: "政策", en: "Policy" },
  disclosure_region: { zh: "地区", en: "Region" },
  disclosure_matched: { zh: "匹配人数", en: "Matched" },
  disclosure_paid: { zh: "已发放", en: "Paid" },
  privacy_note: {
    zh: "随申码只含享受优待所需的信息，不含姓名和身份证号。",
    en: "Your code carries only what a gate needs: no name, no ID number.",
  },
  card_title: { zh: "我的长者卡", en: "My printed card" },
  card_none: {
    zh: "没有长者卡。没有智能手机的老人可到社区服务窗口办理纸质随申码。",
    en: "No printed card. People without a smartphone can get one at a service counter.",
  },
  card_valid_until: { zh: "有效期至", en: "valid until" },
  card_status_active: { zh: "使用中", en: "in use" },
  card_status_lost: { zh: "已挂失", en: "reported lost" },
  card_status_replaced: { zh: "已换新卡", en: "replaced" },
  phone_title: { zh: "我的手机", en: "My phone" },
  phone_hint: {
    zh: "随申码只能在一部手机上使用；在新手机上登录后，旧手机上的码即停用。",
    en: "Your code works on one phone at a time: signing in on a new phone stops the code on the old one.",
  },
  phone_moved: {
    zh: "此码已转移到另一部手机，本机上的码已停用。如要在本机使用，请退出后重新登录。",
    en: "This code was moved to another phone; it no longer works here. To use this phone, sign out and sign in again.",
  },
  phone_ended_lost: {
    zh: "此手机已挂失，本机上的码已停用。如要在本机使用，请退出后重新登录。",
    en: "This phone was reported lost; its code no longer works. To use it again, sign out and sign in again.",
  },
  phone_sign_in_again: {
    zh: "要把随申码转到本机，请退出后重新登录（需近期登录）。",
    en: "To move your code to this phone, sign out and sign in again (a recent sign-in is needed).",
  },
  phone_lost_button: { zh: "手机丢失，停用我的码", en: "My phone is lost: stop my codes" },
  phone_lost_confirm: {
    zh: "再点一次确认：您手机上的码将立即停用",
    en: "Tap again to confirm: the codes on your phone stop working",
  },
  phone_lost_done: {
    zh: "已挂失：丢失手机上的码已停用，各闸机更新后即拒绝。在新手机上登录即可再用。",
    en: "Reported: the lost phone's codes are withdrawn and gates refuse them once updated. Sign in on a new phone to go on.",
  },
  card_lost_button: { zh: "挂失长者卡", en: "Report my card lost" },
  card_lost_confirm: { zh: "再点一次确认挂失：此卡将立即停用", en: "Tap again to confirm: the card stops working" },
  card_lost_done: {
    zh: "已挂失，此卡已停用。请到服务窗口补办新卡。",
    en: "Reported lost: the card no longer works. Get a new one at a service counter.",
  },
  mode_direct: { zh: "免申即享：自动发放，无需操作", en: "Paid to you automatically: nothing to do" },
  mode_confirm: { zh: "确认即享：确认后发放", en: "Confirm, then it is paid" },
  mode_scan: { zh: "亮码即享：到场出示随申码", en: "Show your code at the venue" },
  status_eligible: { zh: "符合条件", en: "You qualify" },
  status_notified: { zh: "已通知", en: "You were told" },
  status_confirmed: { zh: "已确认，等待发放", en: "Confirmed: payment on its way" },
  status_paid: { zh: "已发放", en: "Paid" },
  status_objected: { zh: "异议处理中", en: "Objection being checked" },
  status_revoked: { zh: "已停止", en: "Stopped" },
  status_expired: { zh: "已过确认期限，请通过原渠道申请", en: "Expired, apply through the original channel" },
  // staff page
  staff_title: { zh: "核验终端", en: "Staff scanner" },
  device_key_label: { zh: "设备密钥", en: "Device key" },
  device_key_hint: { zh: "由管理员发放，只在本机保存。", en: "Given by your administrator; kept on this device only." },
  venue_label: { zh: "场所", en: "Venue" },
  scan_start: { zh: "开始扫码", en: "Start scanning" },
  scan_stop: { zh: "停止", en: "Stop" },
  scan_again: { zh: "继续扫码", en: "Scan next" },
  scan_hint: { zh: "请把随申码放在框内", en: "Hold the code inside the frame" },
  manual_label: { zh: "手动输入码", en: "Type or paste a code" },
  manual_check: { zh: "核验", en: "Check" },
  granted: { zh: "通过", en: "GRANTED" },
  not_granted: { zh: "不通过", en: "NOT GRANTED" },
  companions: { zh: "可带陪同人员", en: "Companions allowed" },
  check_photo_id: { zh: "长者卡：请核对本人证件", en: "Printed card: check the holder's photo ID" },
  camera_denied: { zh: "无法打开摄像头", en: "Cannot open the camera" },
  need_key: { zh: "请先输入设备密钥", en: "Enter the device key first" },
  // admin page
  admin_title: { zh: "管理后台", en: "Administration" },
  admin_key_label: { zh: "管理员密钥", en: "Admin key" },
  tab_catalogue: { zh: "政策目录", en: "Catalogue" },
  tab_runs: { zh: "匹配批次", en: "Matching runs" },
  tab_objections: { zh: "异议处理", en: "Objections" },
  tab_stats: { zh: "绩效评估", en: "Usage" },
  tab_trust: { zh: "信任列表与合作地区", en: "Trust list and partners" },
  tab_devices: { zh: "设备", en: "Devices" },
  publish: { zh: "发布目录", en: "Publish catalogue" },
  published_version: { zh: "已发布版本", en: "Published version" },
  draft_save: { zh: "保存草稿", en: "Save draft" },
  valid: { zh: "校验通过", en: "Valid" },
  invalid: { zh: "校验未通过", en: "Not valid" },
  resolve: { zh: "处理", en: "Resolve" },
  uphold: { zh: "成立", en: "Uphold" },
  reject: { zh: "不成立", en: "Reject" },
  diff: { zh: "比较", en: "Compare" },
  by_policy: { zh: "按政策", en: "By policy" },
  by_venue: { zh: "按场所", en: "By venue" },
  by_day: { zh: "按日期", en: "By day" },
  new_device: { zh: "新建设备密钥", en: "New device key" },
  // -- enterprise page (企业专属网页, issue 15 section 3) ----------------------------------------------------
  ent_title: { zh: "企业专属网页", en: "Enterprise page" },
  ent_login_title: { zh: "企业登录", en: "Enterprise sign-in" },
  ent_login_hint: {
    zh: "演示模式：输入18位统一社会信用代码登录（例如 91310000000000001Y）。",
    en: "Demo mode: enter the 18-character unified social credit code (for example 91310000000000001Y).",
  },
  ent_code_label: { zh: "统一社会信用代码", en: "Unified social credit code" },
  ent_code_invalid: { zh: "统一社会信用代码有误，请核对", en: "This is not a valid unified social credit code" },
  ent_account: { zh: "企业账号", en: "Enterprise account" },
  ent_credit_good: {
    zh: "守信企业（A级纳税人、无失信记录）：可在政务服务大厅走“绿色通道”优先办理",
    en: "Creditworthy (A-level taxpayer, not blacklisted): green-channel priority at service halls",
  },
  ent_credit_plain: { zh: "暂不符合守信激励条件", en: "Not currently eligible for creditworthiness privileges" },
  ent_not_in_results: { zh: "本企业不在最新比对结果中，可通过原渠道申请", en: "Not in the latest matching results: apply through the original channel" },
  ent_code_title: { zh: "法人随申码", en: "Enterprise Suishen code" },
  ent_code_hint: { zh: "在政务服务大厅或园区企业活动现场出示。", en: "Show it at a government service hall or an enterprise event." },
  ent_code_show: { zh: "出示法人随申码", en: "Show the enterprise code" },
  ent_code_valid: { zh: "法人随申码有效", en: "Enterprise code valid" },
  ent_entitlements: { zh: "本企业可享政策", en: "Your enterprise's entitlements" },
  ent_none: { zh: "暂无可享政策", en: "No entitlements found yet" },
  ent_why: { zh: "为什么符合条件", en: "Why you qualify" },
  ent_payouts: { zh: "资金拨付记录", en: "Payout history" },
  ent_period: { zh: "期间", en: "Period" },
  ent_policy: { zh: "政策", en: "Policy" },
  ent_amount: { zh: "金额（元）", en: "Amount (yuan)" },
  ent_total: { zh: "合计", en: "Total" },
  ent_yuan: { zh: "元", en: "yuan" },
  ent_no_payouts: { zh: "暂无拨付记录", en: "No payouts yet" },
  ent_reminders: { zh: "提醒", en: "Reminders" },
  ent_new_privilege: { zh: "新发现可享政策：", en: "Newly found: " },
  ent_no_reminders: { zh: "暂无提醒", en: "No reminders" },
  ent_objection_title: { zh: "提出异议", en: "Object" },
  ent_objection_kind: { zh: "异议类型", en: "Kind" },
  ent_objection_missing: { zh: "应享未享", en: "Missing entitlement" },
  ent_objection_wrong: { zh: "认定有误", en: "Wrongly found" },
  ent_objection_statement: { zh: "说明", en: "Statement" },
  ent_objection_send: { zh: "提交异议", en: "Send objection" },
  ent_objection_sent: { zh: "异议已提交，编号", en: "Objection filed, number" },
  ent_confirm_unavailable: { zh: "暂不能在线确认，请通过原渠道办理", en: "Confirming online is not available: use the original channel" },
};

// Plain words for the verifier's reason codes, for the staff result screen: verifier/reasons.json,
// the one file that the gates' display reads too (served at /static/reasons.json). Fetched once.
let reasons = null;

export function reasonWords() {
  reasons ??= fetch("/static/reasons.json")
    .then((answer) => (answer.ok ? answer.json() : Promise.reject(new Error(`HTTP ${answer.status}`))))
    .catch(() => {
      reasons = null; // try again at the next refusal; meanwhile the screen shows the code itself
      return {};
    });
  return reasons;
}

const KEY = "suishen.lang";

export function currentLang() {
  const saved = localStorage.getItem(KEY);
  return saved === "en" ? "en" : "zh"; // Chinese first; English one tap away
}

export function t(key, lang = currentLang()) {
  const entry = TEXT[key];
  if (!entry) return key;
  return entry[lang] || entry.zh;
}

export function applyText(root = document, lang = currentLang()) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n, lang);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder, lang);
  }
}

/** Wire a language button; `onChange` re-renders what the page drew itself. */
export function setupLanguage(button, onChange) {
  const render = () => {
    applyText();
    onChange?.(currentLang());
  };
  button.addEventListener("click", () => {
    localStorage.setItem(KEY, currentLang() === "zh" ? "en" : "zh");
    render();
  });
  render();
}
