"""Explaining one subject's result under one policy, from the same registries a run reads.

An officer asks "why is this person (not) entitled?": the subject's rows are loaded with the
same checks, turned into the rule language's facts, and the per-subject evaluator explains
the policy's rule clause by clause.

Facts that hold only until a date (a disability, while its certificate is valid:
registries.HELD_UNTIL) are taken as they hold on the day, as the compiled SQL and the profile
take them. The registry's own facts are read first and dated last (in `evaluate`), so that a
corrected date from an upheld objection counts as it counts in a run, where the correction is
applied to the registry rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from app.matching.engine import connect
from app.matching.facts_rows import registry_facts
from app.matching.load import Subject, load_registries
from app.matching.registries import HELD_UNTIL, facts_held_on
from app.matching.relation_fixes import RelationFix
from app.matching.relations import index_of, load_neighbourhood, reads_relations
from verifier.catalogue import YRD_REGIONS, Policy
from verifier.rules.ast import attributes_read
from verifier.rules.attributes import ATTRIBUTES, REGISTRY_WORDS
from verifier.rules.evaluate import explain
from verifier.words import Words


def _facts_row(con: duckdb.DuckDBPyConnection, view: str, subject: str) -> dict[str, Any] | None:
    cursor = con.execute(f"SELECT * FROM {view} WHERE subject = ?", [subject])
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    return dict(zip(names, row, strict=True)) if row else None


class Evaluation(NamedTuple):
    """Entitled or not, and why: each line in Chinese and English (Chinese is what a person reads first)."""

    entitled: bool
    words: list[Words]

    @property
    def lines(self) -> list[str]:
        return [w.en for w in self.words]

    @property
    def lines_zh(self) -> list[str]:
        return [w.zh for w in self.words]

    def lines_in(self, lang: str) -> list[str]:
        return [w.in_(lang) for w in self.words]

    def to_json(self) -> list[dict[str, str]]:
        return [w.to_json() for w in self.words]


def subject_facts(
    folder: Path,
    policy: Policy,
    subject: str,
    day: dt.date,
    fixes: Sequence[RelationFix] = (),
    *,
    relations: bool | None = None,
) -> tuple[dict[str, Any] | None, int]:
    """(the subject's facts, or None when it has no row; how many of its rows were rejected).

    The facts are the registry's, before dating (registry_facts): corrections go on these, and
    `evaluate` takes them as they hold on the day. Relation facts (households, kin) are of the day,
    from the subject's neighbourhood with `fixes` (upheld relation corrections) applied to its rows;
    they are read when the policy's rule needs them, or when `relations` says so (one read for
    several policies).
    """
    con = connect()
    version = policy.version_on(day)
    if relations is None:
        relations = version is not None and reads_relations(version.rule)
    relations = relations and policy.subject == "person"
    if relations:
        report = load_neighbourhood(con, folder, subject, fixes)
    else:
        report = load_registries(con, folder, only=Subject(policy.subject, subject))
    row = _facts_row(con, "person_facts" if policy.subject == "person" else "enterprise_facts", subject)
    if row is None:
        return None, sum(report.rejected.values())
    facts = registry_facts(row, day)
    if relations:
        facts.update(index_of(con, day).facts_for(subject, day))
    return facts, sum(report.rejected.values())


def _ended(facts: dict[str, Any], day: dt.date) -> list[Words]:
    """A line for each record the facts hold that has ended before the day (and so does not count)."""
    lines = []
    for held in HELD_UNTIL:
        until = facts.get(held.until)
        if until is not None and until < day and any(facts.get(a) is not None for a in held.attributes):
            ended = ", ".join(ATTRIBUTES[a].words for a in held.attributes)
            ended_zh = "、".join(ATTRIBUTES[a].words_zh for a in held.attributes)
            registry_zh = REGISTRY_WORDS[held.registry][0]
            lines.append(Words(
                f"✗ {ATTRIBUTES[held.until].words_zh} {until}，已于 {day} 前到期："
                f"{ended_zh}和{registry_zh}名册当日不再适用",
                f"✗ {ATTRIBUTES[held.until].words} {until}, ended before {day}: {ended} and the "
                f"{held.registry.replace('_', ' ')} registry do not hold on the day",
            ))  # fmt: skip
    return lines


def evaluate(
    policy: Policy,
    subject: str,
    facts: dict[str, Any] | None,
    day: dt.date,
    *,
    rejected: int = 0,
    home_region: int = 310000,
) -> Evaluation:
    """Whether the facts entitle the subject under the policy on the day, and why, in words.

    The facts may be undated (subject_facts, with corrections): they are taken as they hold on the day.
    """
    kind_zh = "个人" if policy.subject == "person" else "企业"
    if facts is None:
        why = (Words(f"（其中 {rejected} 行记录未通过校验：见拒收报告）",
                     f" ({rejected} of its rows were rejected: see the rejects report)")
               if rejected else Words("", ""))  # fmt: skip
        return Evaluation(False, [
            Words(f"{subject} 不在{kind_zh}名册中", f"{subject} is not in the {policy.subject} registries") + why
            + Words("：请通过原渠道申请", ": apply through the original channel")
        ])  # fmt: skip
    version = policy.version_on(day)
    if version is None or policy.status != "published":
        return Evaluation(False, [Words(f"{policy.id} 于 {day} 不在有效期内（状态 {policy.status}）",
                                        f"{policy.id} is not in force on {day} (status {policy.status})")])  # fmt: skip
    lines = [
        Words(
            f"{policy.title_zh}（{policy.id} 第{version.version}版），{subject}，{day}：",
            f"{policy.title_zh} / {policy.title_en} ({policy.id} v{version.version}) for {subject} on {day}:",
        )
    ]
    region = facts.get("residence.region")
    in_scope = True
    if policy.region_scope == "residents" and region != home_region:
        lines.append(Words(f"✗ 仅限 {home_region} 居民（登记居住地 {region}）",
                           f"✗ for residents of {home_region} only (registered residence {region})"))  # fmt: skip
        in_scope = False
    elif policy.region_scope == "yrd" and region not in YRD_REGIONS:
        lines.append(Words(f"✗ 仅限长三角居民（登记居住地 {region}）",
                           f"✗ for Yangtze River Delta residents only (registered residence {region})"))  # fmt: skip
        in_scope = False
    read = attributes_read(version.rule)
    if any(a in read for held in HELD_UNTIL for a in held.attributes):
        lines.extend(_ended(facts, day))
    explanation = explain(version.rule, facts_held_on(facts, day), day, version.params)
    lines.extend(Words(zh, en) for zh, en in zip(explanation.lines(lang="zh"), explanation.lines(), strict=True))
    return Evaluation(in_scope and explanation.held, lines)


def explain_subject(
    folder: Path, policy: Policy, subject: str, day: dt.date, *, home_region: int = 310000, lang: str = "en"
) -> list[str]:
    facts, rejected = subject_facts(folder, policy, subject, day)
    return evaluate(policy, subject, facts, day, rejected=rejected, home_region=home_region).lines_in(lang)
