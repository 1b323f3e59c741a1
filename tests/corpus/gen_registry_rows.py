"""Bad registry rows and files for `app.matching.load.load_registries` (generator part of the corpus).

`rows/` is one registry folder: a few good rows that the bad ones lean on, and the bad rows, each
expected in the rejects table with its reason. `files/<case>/` are folders that cannot be loaded
at all, each expected to fail with a RegistryError naming the problem.
"""

from __future__ import annotations

from typing import Any

Case = dict[str, Any]

HEADERS = {
    "persons": "person_id,birth_date,residence_region,hukou_region,income_monthly,death_date",
    "disability": "person_id,category,grade,certificate_valid_until",
    "students": "person_id,level,school,enrolled_until",
    "martyr_families": "person_id",
    "person_blacklist": "person_id",
    "enterprises": "credit_code,industry,region,employees,insured_employees,layoff_rate_pct,annual_revenue,"
    "registered_on",
    "enterprise_blacklist": "credit_code",
}
GOOD = {
    "persons": ["P0001,1950-03-01,310104,310104,1800,", "P0002,1960-07-15,310115,,,", "P0003,2004-01-20,310101,,,"],
    "disability": ["P0001,4,1,2030-01-01"],
    "students": ["P0003,5,Fudan,2027-06-30"],
    "martyr_families": ["P0002"],
    "person_blacklist": [],
    "enterprises": ["913100000000000001,manufacturing,310115,120,100,2,50000000,2010-05-01"],
    "enterprise_blacklist": [],
}
CC = "91310000000000"  # the first 14 characters of a made-up credit code


def registry_cases() -> tuple[dict[str, str], list[Case]]:
    """(path under registry_rows/ -> CSV text, cases)."""
    rows: dict[str, list[str]] = {name: list(good) for name, good in GOOD.items()}
    cases: list[Case] = []

    def bad(registry: str, case_id: str, row: str, expect: str, **extra: Any) -> None:
        rows[registry].append(row)
        cases.append({"id": case_id, "registry": registry, "row": len(rows[registry]), "expect": expect, **extra})

    p = "persons"
    bad(p, "birth-month-13", "P1001,1960-13-01,310104,,,", "birth_date is not a DATE")
    bad(p, "birth-february-30", "P1002,1961-02-30,310104,,,", "birth_date is not a DATE")
    bad(p, "birth-in-the-future", "P1003,2190-01-01,310104,,,", "birth_date must be a past date")
    bad(p, "birth-before-1900", "P1004,1850-06-01,310104,,,", "birth_date must be a past date")
    bad(p, "birth-date-is-words", "P1005,yesterday,310104,,,", "birth_date is not a DATE")
    bad(p, "residence-two-digits", "P1006,1950-01-01,31,,,", "residence_region must be a six-digit region code")
    bad(p, "residence-seven-digits", "P1007,1950-01-01,3101040,,,", "residence_region must be a six-digit region code")
    bad(p, "residence-is-a-name", "P1008,1950-01-01,Shanghai,,,", "residence_region is not a INTEGER")
    bad(p, "residence-negative", "P1009,1950-01-01,-310104,,,", "residence_region must be a six-digit region code")
    bad(p, "hukou-zero", "P1010,1950-01-01,310104,0,,", "hukou_region must be a six-digit region code")
    bad(p, "income-negative", "P1011,1950-01-01,310104,,-5,", "income_monthly must be not negative")
    bad(p, "income-is-words", "P1012,1950-01-01,310104,,abc,", "income_monthly is not a INTEGER")
    bad(p, "income-overflows-integer", "P1013,1950-01-01,310104,,99999999999,", "income_monthly is not a INTEGER")
    bad(p, "income-fractional", "P1014,1950-01-01,310104,,1800.5,", "income_monthly is not a INTEGER")  # not 1801
    bad(p, "death-before-birth", "P1015,1950-01-01,310104,,,1949-12-31", "death_date before birth_date")
    bad(p, "death-in-1800", "P1016,1950-01-01,310104,,,1800-01-01", "death_date must be a date from 1900")
    bad(p, "death-date-impossible", "P1017,1950-01-01,310104,,,1990-04-31", "death_date is not a DATE")
    bad(p, "person-id-missing", ",1950-01-01,310104,,,", "person_id is missing")
    bad(p, "birth-date-missing", "P1018,,310104,,,", "birth_date is missing")
    bad(p, "residence-missing", "P1019,1950-01-01,,,,", "residence_region is missing")
    bad(p, "duplicate-person-id", "P0002,1961-07-15,310115,,,", "duplicate person_id (first at row 2)")

    d = "disability"
    bad(d, "category-9", "P0002,9,1,2030-01-01", "category must be a category 1-7")
    bad(d, "category-0", "P0003,0,1,2030-01-01", "category must be a category 1-7")
    bad(d, "category-overflows-tinyint", "P0001,300,1,2030-01-01", "category is not a TINYINT")
    bad(d, "grade-5", "P0002,4,5,2030-01-01", "grade must be a grade 1-4")
    bad(d, "grade-is-words", "P0002,4,severe,2030-01-01", "grade is not a TINYINT")
    bad(d, "category-missing", "P0002,,1,2030-01-01", "category is missing")
    bad(d, "certificate-before-1900", "P0002,4,1,1899-12-31", "certificate_valid_until must be a date from 1900")
    bad(d, "certificate-february-29-2030", "P0002,4,1,2030-02-29", "certificate_valid_until is not a DATE")
    bad(d, "unknown-subject", "P9999,4,1,2030-01-01", "unknown person_id (not in persons)")
    bad(d, "subject-rejected-from-persons", "P1001,4,1,2030-01-01", "unknown person_id (not in persons)")
    bad(d, "duplicate-subject", "P0001,2,2,2031-01-01", "duplicate person_id (first at row 1)")

    s = "students"
    bad(s, "level-7", "P0001,7,,2027-06-30", "level must be a level 1-6")
    bad(s, "level-is-words", "P0002,undergraduate,,2027-06-30", "level is not a TINYINT")
    bad(s, "enrolled-until-2101", "P0002,5,,2101-01-01", "enrolled_until must be a date from 1900")
    bad(s, "enrolled-until-missing", "P0002,5,,", "enrolled_until is missing")
    bad(s, "student-unknown-subject", "P8888,5,,2027-06-30", "unknown person_id (not in persons)")

    bad("martyr_families", "martyr-unknown-subject", "P7777", "unknown person_id (not in persons)")
    bad("martyr_families", "martyr-duplicate", "P0002", "duplicate person_id (first at row 1)")
    bad("martyr_families", "martyr-id-missing", "", "person_id is missing")
    bad("person_blacklist", "blacklist-unknown-subject", "P6666", "unknown person_id (not in persons)")

    e = "enterprises"
    bad(
        e,
        "credit-code-17-characters",
        f"{CC}002,retail,310115,10,5,0,100,2015-01-01",
        "credit_code must be an 18-character credit code",
    )
    bad(e, "employees-negative", f"{CC}0003,retail,310115,-1,0,0,100,2015-01-01", "employees must be not negative")
    bad(
        e,
        "insured-more-than-employees",
        f"{CC}0004,retail,310115,10,11,0,100,2015-01-01",
        "more insured employees than employees",
    )
    bad(e, "layoff-rate-101", f"{CC}0005,retail,310115,10,5,101,100,2015-01-01", "layoff_rate_pct must be a percentage")
    bad(
        e,
        "registered-before-1949",
        f"{CC}0006,retail,310115,10,5,0,100,1900-01-01",
        "registered_on must be a past date",
    )
    bad(e, "revenue-is-words", f"{CC}0007,retail,310115,10,5,0,lots,2015-01-01", "annual_revenue is not a BIGINT")
    bad(
        e,
        "enterprise-region-zero",
        f"{CC}0008,retail,0,10,5,0,100,2015-01-01",
        "region must be a six-digit region code",
    )
    bad(e, "industry-missing", f"{CC}0009,,310115,10,5,0,100,2015-01-01", "industry is missing")
    bad(
        e,
        "duplicate-credit-code",
        "913100000000000001,retail,310115,10,5,0,100,2015-01-01",
        "duplicate credit_code (first at row 1)",
    )
    bad("enterprise_blacklist", "blacklist-unknown-enterprise", f"{CC}9999", "unknown credit_code (not in enterprises)")

    files = {f"rows/{name}.csv": "\n".join([HEADERS[name], *lines]) + "\n" for name, lines in rows.items()}
    persons = HEADERS["persons"]
    folders: list[tuple[str, dict[str, str], str, dict[str, str]]] = [
        ("no-persons-file", {"students.csv": HEADERS["students"] + "\n"}, "no persons.parquet or persons.csv", {}),
        ("persons-empty-file", {"persons.csv": ""}, 'persons: Binder Error: Referenced column "person_id"', {}),
        (
            "persons-missing-columns",
            {"persons.csv": "person_id,birth_date\nP1,1950-01-01\n"},
            'persons: Binder Error: Referenced column "residence_region"',
            {},
        ),
        (
            "persons-semicolons",
            {"persons.csv": "person_id;birth_date;residence_region\nP1;1950-01-01;310000\n"},
            "persons: Binder Error: Referenced column",
            {},
        ),
        (
            "persons-not-parquet",
            {"persons.parquet": "PAR1 but nothing else\n"},
            "persons: Invalid Input Error: No magic bytes found",
            {},
        ),
        (
            "persons-binary-garbage",
            {"persons.csv": "".join(chr(c) for c in range(256)) * 2},
            "persons.csv: Invalid Input Error: Error when sniffing file",
            {},
        ),
        (
            "disability-missing-columns",
            {"persons.csv": persons + "\nP1,1950-01-01,310000,,,\n", "disability.csv": "person_id,category\nP1,3\n"},
            'disability: Binder Error: Referenced column "grade"',
            {},
        ),
    ]
    for name, contents, expect, extra in folders:
        for file, text in contents.items():
            files[f"files/{name}/{file}"] = text
        cases.append({"id": name, "folder": f"files/{name}", "expect": expect, **extra})
    return files, cases
