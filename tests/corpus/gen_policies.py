"""Bad policy drafts for `app.catalogue_admin.check_draft` (generator part of the corpus).

Each draft is the sample park policy (or a direct-payment one) with one thing wrong, or a file that
is not a policy at all; the expectation is a substring of one of the errors the check must report:
the field's path and what was expected of it, or, for text that is not a readable tree, where
(line and column) and what the problem is.
"""

from __future__ import annotations

from typing import Any

Case = dict[str, Any]
ALIAS = "YAML aliases (*name) are not allowed in a policy"  # after "line L, column C: ", where the first alias is
DEEP = "nested deeper than 64 levels"

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
    add("empty-file", "", "(file): expected a mapping of policy fields, found None")
    add("a-list", "- id: sh-park-senior-free\n- id: again\n", "(file): expected a mapping of policy fields, found [")
    add("a-scalar", "just some words\n", "(file): expected a mapping of policy fields, found 'just some words'")
    add("tab-indent", "id: sh-x\n\tstatus: draft\n", "line 2, column 1: not valid YAML: found character '\\t'")
    add("unclosed-flow", SCAN + "extra: {a: [1, 2}\n", "line 31, column 17: not valid YAML: expected ',' or ']'")
    add("nul-character", "id: sh-park\x00\n", "not valid YAML: unacceptable character #x0000")
    add(
        "python-object-tag",
        "!!python/object/apply:os.system ['true']\n",
        "line 1, column 1: not valid YAML: could not determine a constructor for the tag",
    )
    add("over-64-kib", SCAN + "# padding\n" * 7000, "a policy must be under 64 KiB")
    add(
        "json-with-surrogate",
        '{"id": "sh-park-\\ud800"}',
        "the policy holds text that is not valid Unicode (an unpaired surrogate)",
    )
    add("json-wrong-types", '{"id": 7, "title": "park"}', "id: expected 3-64 characters")
    # -- fields
    add("unknown-field", SCAN + "colour: red\n", "colour: expected only the fields")
    add("misspelt-field", scan("lead_department:", "lead_departmnet:"), "lead_departmnet: expected only the fields")
    add("id-uppercase", scan("id: sh-park-senior-free", "id: SH_Park"), "id: expected 3-64 characters")
    add("id-too-short", scan("id: sh-park-senior-free", "id: sh"), "id: expected 3-64 characters")
    add("id-is-a-number", scan("id: sh-park-senior-free", "id: 12345"), "id: expected 3-64 characters")
    add(
        "title-without-english",
        scan("  en: Free entry to city parks for senior residents\n", ""),
        "title: expected a mapping with zh and en texts",
    )
    add(
        "title-is-text",
        scan(
            "title:\n  zh: 本市老年人免费游览城市公园\n  en: Free entry to city parks for senior residents\n",
            "title: parks\n",
        ),
        "title: expected a mapping with zh and en texts, found 'parks'",
    )
    add(
        "lead-department-empty",
        scan("lead_department: 上海市绿化和市容管理局", 'lead_department: ""'),
        "lead_department: expected non-empty text",
    )
    add(
        "data-departments-text",
        scan("data_departments:\n  - 上海市公安局（户籍及出生日期）\n", "data_departments: 上海市公安局\n"),
        "data_departments: expected a list of department names",
    )
    add(
        "legal-basis-missing",
        scan("legal_basis:\n  title: 《中华人民共和国老年人权益保障法》\n  reference: 第五十八条\n", ""),
        "legal_basis: expected a mapping with title and reference, found None",
    )
    add("delivery-unknown", scan("delivery: scan", "delivery: mail"), "delivery: expected one of")
    add("subject-unknown", scan("subject: person", "subject: robot"), "subject: expected one of")
    add("status-unknown", scan("status: published", "status: live"), "status: expected one of")
    add("region-scope-unknown", scan("region_scope: residents", "region_scope: mars"), "region_scope: expected one of")
    add(
        "venue-type-unknown",
        scan("types: [park, botanical_garden]", "types: [park, casino]"),
        "venues.types: expected a list of venue types",
    )
    add(
        "venues-on-direct-policy",
        direct("region_scope: residents\n", "region_scope: residents\nvenues: {types: [park]}\n"),
        "venues: expected no venues",
    )
    add(
        "scan-without-venues",
        scan("venues:\n  types: [park, botanical_garden]\n", ""),
        "venues: expected a mapping with venue types and/or venue ids for a scan-mode policy",
    )
    add(
        "versions-empty",
        scan(SCAN[SCAN.index("versions:") :], "versions: []\n"),
        "versions: expected a non-empty list of dated versions, found []",
    )
    # -- dates and versions
    add(
        "date-february-30",
        scan("effective_from: 2019-01-01", "effective_from: 2019-02-30"),
        "line 19, column 21: effective_from: expected a date that exists, found 2019-02-30",
    )
    add(
        "date-as-text",
        scan("effective_from: 2019-01-01", "effective_from: 1st of January"),
        "versions[0].effective_from: expected a date YYYY-MM-DD, found '1st of January'",
    )
    add(
        "date-quoted-wrong-format",
        scan("effective_from: 2019-01-01", 'effective_from: "01/01/2019"'),
        "versions[0].effective_from: expected a date YYYY-MM-DD, found '01/01/2019'",
    )
    # date.fromisoformat (Python 3.11) reads more than YYYY-MM-DD: the basic form, a quirk's stray
    # characters and ISO week dates; all refused, in YAML text (plain or quoted) as in a snapshot
    add(
        "date-basic-with-stray-characters",
        scan("effective_from: 2019-01-01", 'effective_from: "20190101ab"'),
        "versions[0].effective_from: expected a date YYYY-MM-DD, found '20190101ab'",
    )
    add(
        "date-basic-form",
        scan("effective_from: 2019-01-01", 'effective_from: "20190101"'),
        "versions[0].effective_from: expected a date YYYY-MM-DD, found '20190101'",
    )
    add(
        "date-iso-week",
        scan("effective_from: 2019-01-01", "effective_from: 2019-W01-2"),
        "versions[0].effective_from: expected a date YYYY-MM-DD, found '2019-W01-2'",
    )
    add(
        "end-date-iso-week",
        scan("effective_to: 2024-12-31", "effective_to: 2025W011"),
        "versions[0].effective_to: expected a date YYYY-MM-DD or null, found '2025W011'",
    )
    add(
        "parameter-dated-by-iso-week",
        direct(
            "      threshold: 80\n",
            "      threshold:\n        - {from: 2024-W01-1, value: 80}\n",
        ),
        "versions[0].parameters.threshold[0].from: expected a date YYYY-MM-DD, found '2024-W01-1'",
    )
    add(
        "end-before-start",
        scan("effective_to: 2024-12-31", "effective_to: 2018-12-31"),
        "versions[0].effective_to: expected a date on or after effective_from",
    )
    add(
        "versions-overlap",
        scan("effective_from: 2025-01-01", "effective_from: 2024-06-01"),
        "versions: expected date ranges that do not overlap",
    )
    add(
        "version-numbers-repeat",
        scan("  - version: 2", "  - version: 1"),
        "versions: expected version numbers increasing, each once, found [1, 1]",
    )
    add(
        "version-is-text",
        scan("  - version: 2", '  - version: "two"'),
        "versions[1].version: expected a whole number from 1 to 1000000, found 'two'",
    )
    # -- rules
    e1 = "versions[1].eligibility"
    add("operator-unknown", scan(v2_rule, 'age: {"~=": 65}'), f"{e1}.age: expected an operator (==, !=")
    add("attribute-unknown", scan(v2_rule, 'height: {">=": 65}'), f"{e1}: expected all, any, not, member_of")
    add(
        "rule-with-two-keys",
        scan(v2_rule, "{age: {'>=': 65}, residence.region: {'==': 310000}}"),
        f"{e1}: expected a mapping with exactly one key",
    )
    add(
        "age-bound-a-code-cannot-show",
        scan(v2_rule, 'age: {">=": 67}'),
        f"{e1}: expected age bounds a code can show: [60, 65, 70, 80], found 67",
    )
    add(
        "age-param-at-a-gate",
        scan(v2_rule, 'age: {">=": {param: x}}'),
        f"{e1}: expected age bounds a code can show: [60, 65, 70, 80], found Param",
    )
    add(
        "between-one-value",
        scan(v2_rule, "age: {between: [65]}"),
        f"{e1}.age.between: expected a list of two bounds [low, high], found [65]",
    )
    add(
        "in-not-a-list",
        scan(v2_rule, "disability.category: {in: 3}"),
        f"{e1}.disability.category.in: expected a non-empty list, found 3",
    )
    add("all-not-a-list", scan(v2_rule, "all: {age: {'>=': 65}}"), f"{e1}.all: expected a non-empty list of rules")
    add("all-empty", scan(v2_rule, "all: []"), f"{e1}.all: expected a non-empty list of rules, found []")
    add(
        "member-of-unknown-registry",
        scan(v2_rule, "member_of: astronauts"),
        f"{e1}.member_of: expected one of the registries",
    )
    add(
        "not-of-a-list",
        scan(v2_rule, "not: [{martyr_family: {'==': true}}]"),
        f"{e1}.not: expected a mapping with exactly one key",
    )
    add(
        "compare-text-to-number",
        scan(v2_rule, 'age: {">=": "sixty-five"}'),
        f"{e1}.age.>=: expected a int value or {{param: NAME}}, found 'sixty-five'",
    )
    add("rule-is-null", scan(v2_rule, "~"), f"{e1}: expected a mapping with exactly one key")
    add(
        "undefined-parameter",
        direct("{param: threshold}", "{param: limit}"),
        "versions[0].eligibility: expected a parameter named in versions[0].parameters, found 'limit'",
    )
    add(
        "parameter-dated-out-of-order",
        direct(
            "      threshold: 80\n",
            "      threshold:\n        - {from: 2025-01-01, value: 80}\n        - {from: 2024-01-01, value: 85}\n",
        ),
        "versions[0].parameters.threshold: expected dated values in increasing date order",
    )
    add(
        "today-offset-text",
        direct('{">=": {param: threshold}}', '{">=": {today: soon}}'),
        "versions[0].eligibility.all[0].age.>=: expected a int value or {param: NAME}, found {'today': 'soon'}",
    )
    # -- benefits, times, limits
    add(
        "discount-150-percent",
        scan("kind: free_entry\n  - version: 2", "kind: discount\n      percent: 150\n  - version: 2"),
        "versions[0].benefit.percent: expected a whole number from 0 to 100, found 150",
    )
    add(
        "amount-on-scan-policy",
        scan("kind: free_entry\n  - version: 2", "kind: amount\n      amount_yuan: 5\n  - version: 2"),
        "versions[0].benefit.kind: expected free_entry or discount on site",
    )
    add(
        "amount-negative",
        direct("amount_yuan: 150", "amount_yuan: -150"),
        "versions[0].benefit.amount_yuan: expected a whole number from 0 to 100000000, found -150",
    )
    add(
        "amount-fractional",
        direct("amount_yuan: 150", "amount_yuan: 150.5"),
        "versions[0].benefit.amount_yuan: expected a whole number from 0 to 100000000, found 150.5",
    )
    add(
        "companions-ten",
        scan("kind: free_entry\n  - version: 2", "kind: free_entry\n      companions: 10\n  - version: 2"),
        "versions[0].benefit.companions: expected a whole number from 0 to 5, found 10",
    )
    add(
        "weekday-eight",
        scan(
            "    benefit:\n      kind: free_entry\n  - version: 2",
            "    time_rules: {weekdays: [1, 8]}\n    benefit:\n      kind: free_entry\n  - version: 2",
        ),
        "versions[0].time_rules.weekdays: expected a list of ISO weekdays 1 (Monday) to 7 (Sunday), found [1, 8]",
    )
    add(
        "hours-25",
        scan(
            "    benefit:\n      kind: free_entry\n  - version: 2",
            '    time_rules: {hours: ["09:00", "25:00"]}\n    benefit:\n      kind: free_entry\n  - version: 2',
        ),
        'versions[0].time_rules.hours: expected two times ["HH:MM", "HH:MM"]',
    )
    # an id or an hour could once end in a newline ("$"), and an hour's "\d" took any Unicode digit;
    # such an hour then went to dt.time.fromisoformat, which raised (a stack trace, not an error line)
    add(
        "hours-ending-in-newline",
        scan(
            "    benefit:\n      kind: free_entry\n  - version: 2",
            '    time_rules: {hours: ["09:00\\n", "16:00"]}\n    benefit:\n      kind: free_entry\n  - version: 2',
        ),
        "versions[0].time_rules.hours: expected two times [\"HH:MM\", \"HH:MM\"], found ['09:00\\n', '16:00']",
    )
    add(
        "hours-arabic-indic-digit",
        scan(
            "    benefit:\n      kind: free_entry\n  - version: 2",
            '    time_rules: {hours: ["1٣:00", "16:00"]}\n    benefit:\n      kind: free_entry\n  - version: 2',
        ),
        "versions[0].time_rules.hours: expected two times [\"HH:MM\", \"HH:MM\"], found ['1٣:00', '16:00']",
    )
    add(
        "hours-fullwidth-digits",
        scan(
            "    benefit:\n      kind: free_entry\n  - version: 2",
            '    time_rules: {hours: ["０９:００", "16:00"]}\n    benefit:\n      kind: free_entry\n  - version: 2',
        ),
        'versions[0].time_rules.hours: expected two times ["HH:MM", "HH:MM"]',
    )
    add(
        "id-ending-in-newline",
        scan("id: sh-park-senior-free", 'id: "sh-park-senior-free\\n"'),
        "id: expected 3-64 characters of a-z, 0-9 and -, found 'sh-park-senior-free\\n'",
    )
    add(
        "limit-zero-uses",
        scan(
            "    benefit:\n      kind: free_entry\n  - version: 2",
            "    limits: {uses_per_day_per_venue: 0}\n    benefit:\n      kind: free_entry\n  - version: 2",
        ),
        "versions[0].limits.uses_per_day_per_venue: expected a whole number from 1 to 100, found 0",
    )
    # -- text that would read as other than it is written (a key given twice: the last would win) or
    # costs more to read than it says: refused where the problem is, never expanded or recursed into
    add(
        "duplicate-top-level-key",
        SCAN + "id: sh-another-policy\n",
        'line 31, column 1: duplicate key "id" (first at line 1)',
    )
    add(
        "duplicate-nested-key",
        scan(
            "    benefit:\n      kind: free_entry\n  - version: 2",
            "    benefit:\n      kind: free_entry\n      kind: discount\n  - version: 2",
        ),
        'line 25, column 7: duplicate key "kind" (first at line 24)',
    )
    add(
        "duplicate-json-key",
        '{"id": "sh-park-senior-free",\n "status": "draft",\n "id": "sh-another-policy"}',
        'line 3, column 2: duplicate key "id" (first at line 1)',
    )
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcd", "bcde", strict=True)
    )
    add("alias-bomb-100000-nodes", bomb, f"line 2, column 8: {ALIAS}")
    add(
        "alias-once",
        _replace(
            SCAN, '    eligibility:\n      age: {">=": 70}', '    eligibility: &rule\n      age: {">=": 70}'
        ).replace('    eligibility:\n      age: {">=": 65}', "    eligibility: *rule"),
        f"line 27, column 18: {ALIAS}",
    )
    add("merge-key-alias", SCAN + "defaults: &d {status: draft}\n<<: *d\n", f"line 32, column 5: {ALIAS}")
    add("5000-nested-brackets", "[" * 5000 + "]" * 5000, f"line 1, column 65: {DEEP}")
    add("3000-nested-flow-maps", "{a: " * 3000 + "1" + "}" * 3000, f"line 1, column 257: {DEEP}")
    add("5000-nested-json-objects", '{"a":' * 5000 + "1" + "}" * 5000, f"line 1, column 321: {DEEP}")
    add("2500-nested-list-map-pairs", "[{a: " * 2500 + "1" + "}]" * 2500, f"line 1, column 158: {DEEP}")
    return files, cases
