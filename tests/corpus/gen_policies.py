"""Bad policy drafts for `app.catalogue_admin.check_draft` (generator part of the corpus).

Each draft is the sample park policy (or a direct-payment one) with one thing wrong, or a file that
is not a policy at all; the expectation is a substring of one of the errors the check must report.
"""

from __future__ import annotations

from typing import Any

Case = dict[str, Any]
ALIAS = ["alias", "anchor"]  # any of these: the refusal names what it refused
DEEP = ["nest", "deep", "depth"]

SCAN = """id: sh-park-senior-free
title:
  zh: 本市老年人免费游览城市公园
  en: Free entry to city parks for senior residents
lead_department: 上海市绿化和市容管理局
data_departments:
  - 上海市公安局（户籍及出生日期）
legal_basis:
  title: 《中华人民共和国老年人权益保障法》
  reference: 第五十八条
delivery: scan
subject: person
status: published
region_scope: residents
venues:
  types: [park, botanical_garden]
versions:
  - version: 1
    effective_from: 2019-01-01
    effective_to: 2024-12-31
    eligibility:
      age: {">=": 70}
    benefit:
      kind: free_entry
  - version: 2
    effective_from: 2025-01-01
    eligibility:
      age: {">=": 65}
    benefit:
      kind: free_entry
"""

DIRECT = """id: sh-senior-allowance-test
title: {zh: 高龄津贴, en: Old-age allowance}
lead_department: 上海市民政局
data_departments: [上海市公安局]
legal_basis: {title: 《上海市老年人权益保障条例》, reference: 第三十条}
delivery: direct
subject: person
status: published
region_scope: residents
versions:
  - version: 1
    effective_from: 2024-01-01
    parameters:
      threshold: 80
    eligibility:
      all:
        - age: {">=": {param: threshold}}
        - not: {credit.blacklisted: {"==": true}}
    benefit:
      kind: amount
      amount_yuan: 150
"""


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} is not in the template"
    return text.replace(old, new, 1)


def policy_cases() -> tuple[dict[str, str], list[Case]]:
    """(file name -> draft text, cases)."""
    files: dict[str, str] = {}
    cases: list[Case] = []

    def add(name: str, text: str, expect: str | list[str], **extra: Any) -> None:
        file = f"{name}.yaml"
        files[file] = text
        cases.append({"file": file, "expect": expect, **extra})

    def scan(old: str, new: str) -> str:
        return _replace(SCAN, old, new)

    def direct(old: str, new: str) -> str:
        return _replace(DIRECT, old, new)

    v2_rule = 'age: {">=": 65}'
    # -- not a policy at all
    add("empty-file", "", "expected a mapping of policy fields")
    add("a-list", "- id: sh-park-senior-free\n- id: again\n", "expected a mapping of policy fields")
    add("a-scalar", "just some words\n", "expected a mapping of policy fields")
    add("tab-indent", "id: sh-x\n\tstatus: draft\n", "not valid YAML")
    add("unclosed-flow", SCAN + "extra: {a: [1, 2}\n", "not valid YAML")
    add("nul-character", "id: sh-park\x00\n", "not valid YAML")
    add("python-object-tag", "!!python/object/apply:os.system ['true']\n", "could not determine a constructor")
    add("over-64-kib", SCAN + "# padding\n" * 7000, "under 64 KiB")
    add("json-with-surrogate", '{"id": "sh-park-\\ud800"}', "unpaired surrogate")
    add("json-wrong-types", '{"id": 7, "title": "park"}', "id: expected 3-64 characters")
    # -- fields
    add("unknown-field", SCAN + "colour: red\n", "colour: expected only the fields")
    add("misspelt-field", scan("lead_department:", "lead_departmnet:"), "lead_departmnet")
    add("id-uppercase", scan("id: sh-park-senior-free", "id: SH_Park"), "id: expected 3-64 characters")
    add("id-too-short", scan("id: sh-park-senior-free", "id: sh"), "id: expected 3-64 characters")
    add("id-is-a-number", scan("id: sh-park-senior-free", "id: 12345"), "id: expected 3-64 characters")
    add("title-without-english", scan("  en: Free entry to city parks for senior residents\n", ""), "title")
    add(
        "title-is-text",
        scan(
            "title:\n  zh: 本市老年人免费游览城市公园\n  en: Free entry to city parks for senior residents\n",
            "title: parks\n",
        ),
        "title: expected a mapping",
    )
    add(
        "lead-department-empty",
        scan("lead_department: 上海市绿化和市容管理局", 'lead_department: ""'),
        "lead_department: expected non-empty text",
    )
    add(
        "data-departments-text",
        scan("data_departments:\n  - 上海市公安局（户籍及出生日期）\n", "data_departments: 上海市公安局\n"),
        "data_departments",
    )
    add(
        "legal-basis-missing",
        scan("legal_basis:\n  title: 《中华人民共和国老年人权益保障法》\n  reference: 第五十八条\n", ""),
        "legal_basis",
    )
    add("delivery-unknown", scan("delivery: scan", "delivery: mail"), "delivery: expected one of")
    add("subject-unknown", scan("subject: person", "subject: robot"), "subject")
    add("status-unknown", scan("status: published", "status: live"), "status")
    add("region-scope-unknown", scan("region_scope: residents", "region_scope: mars"), "region_scope")
    add("venue-type-unknown", scan("types: [park, botanical_garden]", "types: [park, casino]"), "venues")
    add(
        "venues-on-direct-policy",
        direct("region_scope: residents\n", "region_scope: residents\nvenues: {types: [park]}\n"),
        "venues: expected no venues",
    )
    add("scan-without-venues", scan("venues:\n  types: [park, botanical_garden]\n", ""), "venues")
    add("versions-empty", scan(SCAN[SCAN.index("versions:") :], "versions: []\n"), "versions")
    # -- dates and versions
    add(
        "date-february-30",
        scan("effective_from: 2019-01-01", "effective_from: 2019-02-30"),
        "date",
        bug="an impossible unquoted date raises ValueError out of check_draft (a 500 through PUT /v1/admin/policies)",
    )
    add("date-as-text", scan("effective_from: 2019-01-01", "effective_from: 1st of January"), "effective_from")
    add(
        "date-quoted-wrong-format", scan("effective_from: 2019-01-01", 'effective_from: "01/01/2019"'), "effective_from"
    )
    add("end-before-start", scan("effective_to: 2024-12-31", "effective_to: 2018-12-31"), "effective_to")
    add("versions-overlap", scan("effective_from: 2025-01-01", "effective_from: 2024-06-01"), "do not overlap")
    add("version-numbers-repeat", scan("  - version: 2", "  - version: 1"), "version")
    add("version-is-text", scan("  - version: 2", '  - version: "two"'), "version")
    # -- rules
    add("operator-unknown", scan(v2_rule, 'age: {"~=": 65}'), "expected an operator")
    add("attribute-unknown", scan(v2_rule, 'height: {">=": 65}'), "expected all, any, not, member_of")
    add("rule-with-two-keys", scan(v2_rule, "{age: {'>=': 65}, residence.region: {'==': 310000}}"), "exactly one key")
    add("age-bound-a-code-cannot-show", scan(v2_rule, 'age: {">=": 67}'), "age bounds a code can show")
    add("age-param-at-a-gate", scan(v2_rule, 'age: {">=": {param: x}}'), "param")
    add("between-one-value", scan(v2_rule, "age: {between: [65]}"), "between")
    add("in-not-a-list", scan(v2_rule, "disability.category: {in: 3}"), "in")
    add("all-not-a-list", scan(v2_rule, "all: {age: {'>=': 65}}"), "all")
    add("all-empty", scan(v2_rule, "all: []"), "all")
    add("member-of-unknown-registry", scan(v2_rule, "member_of: astronauts"), "member_of")
    add("not-of-a-list", scan(v2_rule, "not: [{martyr_family: {'==': true}}]"), "not")
    add("compare-text-to-number", scan(v2_rule, 'age: {">=": "sixty-five"}'), "age")
    add("rule-is-null", scan(v2_rule, "~"), "eligibility")
    add("undefined-parameter", direct("{param: threshold}", "{param: limit}"), "limit")
    add(
        "parameter-dated-out-of-order",
        direct(
            "      threshold: 80\n",
            "      threshold:\n        - {from: 2025-01-01, value: 80}\n        - {from: 2024-01-01, value: 85}\n",
        ),
        "threshold",
    )
    add("today-offset-text", direct('{">=": {param: threshold}}', '{">=": {today: soon}}'), "today")
    # -- benefits, times, limits
    add(
        "discount-150-percent",
        scan("kind: free_entry\n  - version: 2", "kind: discount\n      percent: 150\n  - version: 2"),
        "percent",
    )
    add(
        "amount-on-scan-policy",
        scan("kind: free_entry\n  - version: 2", "kind: amount\n      amount_yuan: 5\n  - version: 2"),
        "benefit.kind",
    )
    add("amount-negative", direct("amount_yuan: 150", "amount_yuan: -150"), "amount_yuan")
    add("amount-fractional", direct("amount_yuan: 150", "amount_yuan: 150.5"), "amount_yuan")
    add(
        "companions-ten",
        scan("kind: free_entry\n  - version: 2", "kind: free_entry\n      companions: 10\n  - version: 2"),
        "companions",
    )
    add(
        "weekday-eight",
        scan(
            "    benefit:\n      kind: free_entry\n  - version: 2",
            "    time_rules: {weekdays: [1, 8]}\n    benefit:\n      kind: free_entry\n  - version: 2",
        ),
        "weekdays",
    )
    add(
        "hours-25",
        scan(
            "    benefit:\n      kind: free_entry\n  - version: 2",
            '    time_rules: {hours: ["09:00", "25:00"]}\n    benefit:\n      kind: free_entry\n  - version: 2',
        ),
        "hours",
    )
    add(
        "limit-zero-uses",
        scan(
            "    benefit:\n      kind: free_entry\n  - version: 2",
            "    limits: {uses_per_day_per_venue: 0}\n    benefit:\n      kind: free_entry\n  - version: 2",
        ),
        "uses_per_day_per_venue",
    )
    # -- YAML that costs more to read than it says: refused, never expanded or recursed into
    add(
        "duplicate-top-level-key",
        SCAN + "id: sh-another-policy\n",
        "duplicate",
        bug="YAML keeps the last of two equal keys: a second `id:` (or `versions:`) silently replaces the first",
    )
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcd", "bcde", strict=True)
    )
    add("alias-bomb-100000-nodes", bomb, ALIAS, needs="issue 12 finding 6 (YAML aliases refused)")
    add(
        "alias-once",
        _replace(
            SCAN, '    eligibility:\n      age: {">=": 70}', '    eligibility: &rule\n      age: {">=": 70}'
        ).replace('    eligibility:\n      age: {">=": 65}', "    eligibility: *rule"),
        ALIAS,
        needs="issue 12 finding 6 (YAML aliases refused)",
    )
    add(
        "merge-key-alias",
        SCAN + "defaults: &d {status: draft}\n<<: *d\n",
        ALIAS,
        needs="issue 12 finding 6 (YAML aliases refused)",
    )
    add("5000-nested-brackets", "[" * 5000 + "]" * 5000, DEEP, needs="issue 12 finding 6 (deep nesting refused)")
    add(
        "3000-nested-flow-maps",
        "{a: " * 3000 + "1" + "}" * 3000,
        DEEP,
        needs="issue 12 finding 6 (deep nesting refused)",
    )
    add(
        "5000-nested-json-objects",
        '{"a":' * 5000 + "1" + "}" * 5000,
        DEEP,
        needs="issue 12 finding 6 (deep nesting refused)",
    )
    add(
        "2500-nested-list-map-pairs",
        "[{a: " * 2500 + "1" + "}]" * 2500,
        DEEP,
        needs="issue 12 finding 6 (deep nesting refused)",
    )
    return files, cases
