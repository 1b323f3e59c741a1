"""A policy in plain words, Chinese and English: who qualifies, what it gives, how it is delivered.

The public list (/policies, 主动向社会公开) and the citizen and enterprise pages read policies this
way rather than as YAML. Who qualifies is rendered from the rule AST itself, with each parameter's
value on the day, so the words cannot drift from what matching and the gates evaluate.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from verifier.catalogue import Policy, PolicyVersion
from verifier.local_time import LOCAL_TIME
from verifier.rules.ast import (
    AgeOn,
    All,
    Any_,
    Between,
    Compare,
    In,
    Member,
    MembersAged,
    Not,
    Param,
    RelatedTo,
    Rule,
    Today,
    Value,
)
from verifier.rules.attributes import ATTRIBUTES, BOOL, REGISTRY_WORDS, RELATED_REGISTRY_WORDS
from verifier.rules.evaluate import ParamValues, relations_words
from verifier.words import Words

SYMBOLS = {"==": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}
DELIVERY_WORDS = {
    "direct": Words("直接发放：无需申请，符合条件即发放", "paid directly: no application, paid to everyone eligible"),
    "confirm": Words("一键确认：确认后发放", "confirm with one click, then paid"),
    "scan": Words("现场亮码：在场所出示随申码即可享受", "on site: show the Suishen code at the venue"),
}
VENUE_TYPE_WORDS = {
    "park": Words("公园", "parks"), "museum": Words("博物馆", "museums"), "scenic_area": Words("景区", "scenic areas"),
    "metro": Words("地铁", "metro"), "bus": Words("公交", "buses"), "ferry": Words("轮渡", "ferries"),
    "library": Words("图书馆", "libraries"), "sports_venue": Words("体育场馆", "sports venues"),
    "gallery": Words("美术馆", "galleries"), "zoo": Words("动物园", "zoos"),
    "botanical_garden": Words("植物园", "botanical gardens"), "theatre": Words("剧院", "theatres"),
    "service_hall": Words("政务服务中心", "government service halls"),
}  # fmt: skip
REGION_WORDS = {310000: Words("上海市", "Shanghai"), 320000: Words("江苏省", "Jiangsu"),
                330000: Words("浙江省", "Zhejiang"), 340000: Words("安徽省", "Anhui")}  # fmt: skip
PAYS_WORDS = {"monthly": Words("，每月发放", ", paid monthly"), "quarterly": Words("，每季度发放", ", paid quarterly"),
              "yearly": Words("，每年发放", ", paid yearly"), "once": Words("，一次性发放", ", paid once")}  # fmt: skip
SCOPE_WORDS = {
    "residents": Words("限本市居民", "residents of this city only"),
    "yrd": Words("长三角居民", "Yangtze River Delta residents"),
    "everyone": Words("以上述条件为准，不另限居住地", "as the conditions say, wherever one lives"),
}


def _value(value: Value, params: dict[str, ParamValues], day: dt.date) -> Words:
    if isinstance(value, Param):
        dated = params.get(value.name)
        shown = dated.on(day) if dated is not None else value.name
        return _value(shown, params, day)
    if isinstance(value, Today):
        n = value.offset_days
        if n == 0:
            return Words("当天", "the day")
        if n < 0:
            return Words(f"当天前 {-n} 天", f"{-n} days before the day")
        return Words(f"当天后 {n} 天", f"{n} days after the day")
    if isinstance(value, bool):
        return Words("是" if value else "否", "yes" if value else "no")
    return Words(str(value), str(value))


def _clause(rule: Rule, params: dict[str, ParamValues], day: dt.date) -> Words:
    if isinstance(rule, Compare):
        a = ATTRIBUTES[rule.attr]
        if a.kind == BOOL and rule.op in ("==", "!=") and isinstance(rule.value, bool):
            yes = rule.value == (rule.op == "==")
            return Words(f"{a.words_zh}：{'是' if yes else '否'}", f"{a.words}: {'yes' if yes else 'no'}")
        shown = _value(rule.value, params, day)
        if rule.attr.endswith(".region") and isinstance(rule.value, int) and rule.value in REGION_WORDS:
            place = REGION_WORDS[rule.value]
            shown = Words(f"{place.zh}（{rule.value}）", f"{place.en} ({rule.value})")
        if rule.attr == "age" and rule.op == ">=":
            return Words(f"年满 {shown.zh} 周岁", f"aged {shown.en} or over")
        sym = SYMBOLS[rule.op]
        return Words(f"{a.words_zh} {sym} {shown.zh}", f"{a.words} {sym} {shown.en}")
    if isinstance(rule, AgeOn):
        on, bound, sym = _value(rule.on, params, day), _value(rule.bound, params, day), SYMBOLS[rule.op]
        return Words(f"{on.zh} 时年龄 {sym} {bound.zh}", f"age on {on.en} {sym} {bound.en}")
    if isinstance(rule, In):
        a = ATTRIBUTES[rule.attr]
        values = [_value(v, params, day) for v in rule.values]
        listed = Words("、".join(s.zh for s in values), ", ".join(s.en for s in values))
        if rule.negate:
            return Words(f"{a.words_zh}不为 {listed.zh}", f"{a.words} not one of {listed.en}")
        return Words(f"{a.words_zh}为 {listed.zh} 之一", f"{a.words} one of {listed.en}")
    if isinstance(rule, Between):
        a = ATTRIBUTES[rule.attr]
        low, high = _value(rule.low, params, day), _value(rule.high, params, day)
        if rule.attr == "age":
            return Words(f"年龄 {low.zh} 至 {high.zh} 周岁", f"aged {low.en} to {high.en}")
        return Words(f"{a.words_zh}在 {low.zh} 至 {high.zh} 之间", f"{a.words} from {low.en} to {high.en}")
    if isinstance(rule, Member):
        register = Words(*REGISTRY_WORDS[rule.registry])
        return Words(f"列入{register.zh}名册", f"in the register of {register.en}")
    if isinstance(rule, MembersAged):
        age, count, sym = _value(rule.age, params, day), _value(rule.number, params, day), SYMBOLS[rule.op]
        return Words(f"户内年满 {age.zh} 周岁的成员人数 {sym} {count.zh}",
                     f"household members aged {age.en} or over {sym} {count.en}")  # fmt: skip
    if isinstance(rule, RelatedTo):
        whom_zh, whom_en = relations_words(rule.relations)
        what_zh, what_en = RELATED_REGISTRY_WORDS[rule.registry]
        such = Words("，且其：", ", who is:") if rule.where is not None else Words("", "")
        return Words(f"{whom_zh}中有{what_zh}", f"a {whom_en} is {what_en}") + such
    if isinstance(rule, Not):
        return Words("不属于以下情形：", "not the following:")
    if isinstance(rule, All):
        return Words("同时满足：", "all of:")
    return Words("满足其一：", "any of:")


def describe_rule(rule: Rule, params: dict[str, ParamValues], day: dt.date, indent: int = 0) -> list[Words]:
    """Who qualifies, a line a clause; a top-level "all of" is the list itself."""
    if indent == 0:
        parts = rule.rules if isinstance(rule, All) else (rule,)
        return [line for part in parts for line in describe_rule(part, params, day, 1)]
    pad = "  " * max(0, indent - 1)
    lines = [Words(pad + "· ", pad + "· ") + _clause(rule, params, day)]
    children: tuple[Rule, ...] = ()
    if isinstance(rule, (All, Any_)):
        children = rule.rules
    elif isinstance(rule, Not):
        children = (rule.rule,)
    elif isinstance(rule, RelatedTo) and rule.where is not None:
        children = (rule.where,)
    for child in children:
        lines.extend(describe_rule(child, params, day, indent + 1))
    return lines


def benefit_words(version: PolicyVersion | None) -> Words:
    if version is None:
        return Words("", "")
    return Words(version.benefit.words_zh(), version.benefit.words())


def policy_lines(policy: Policy, who_zh: str, who_en: str) -> list[dict[str, str]]:
    """The lines a holder reads under an entitlement: what it gives, the legal basis, who found it for them."""
    version = policy.version_on(dt.datetime.now(LOCAL_TIME).date())
    benefit = benefit_words(version)
    departments_zh, departments_en = "、".join(policy.data_departments), ", ".join(policy.data_departments)
    lines = [
        Words(f"{policy.title_zh}：{benefit.zh}" if benefit.zh else policy.title_zh,
              f"{policy.title_en} ({policy.title_zh}): {benefit.en}" if benefit.en else policy.title_en),
        Words(f"政策依据：{policy.legal_basis}", f"Legal basis: {policy.legal_basis}"),
        Words(f"根据{departments_zh}的数据为{who_zh}找到；{policy.lead_department}负责。",
              f"Found for {who_en} from the registries of {departments_en}; {policy.lead_department} is responsible."),
    ]  # fmt: skip
    return [w.to_json() for w in lines]


def public_entry(policy: Policy, day: dt.date) -> dict[str, Any]:
    """A published policy as the public list shows it (no personal data: the policy alone)."""
    version = policy.version_on(day) or policy.versions[-1]
    delivery = DELIVERY_WORDS[policy.delivery]
    venues = [VENUE_TYPE_WORDS.get(t, Words(t, t)).to_json() for t in sorted(policy.venue_types)]
    return {
        "id": policy.id,
        "title": {"zh": policy.title_zh, "en": policy.title_en},
        "lead_department": policy.lead_department,
        "data_departments": list(policy.data_departments),
        "legal_basis": policy.legal_basis,
        "subject": policy.subject,
        "delivery": policy.delivery,
        "delivery_words": delivery.to_json(),
        "venue_types": venues,
        "pays": policy.pays,
        "scope": SCOPE_WORDS[policy.region_scope].to_json(),
        "benefit": (benefit_words(version) + PAYS_WORDS.get(policy.pays or "", Words("", ""))).to_json(),
        "who_qualifies": [w.to_json() for w in describe_rule(version.rule, dict(version.params), day)],
        "version": version.version,
        "effective_from": version.effective_from.isoformat(),
        "effective_to": version.effective_to.isoformat() if version.effective_to else None,
    }
