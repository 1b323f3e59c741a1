"""Synthetic registries: one Parquet file per registry in registries.REGISTRIES, for load tests and demos.

Everything is generated inside DuckDB over `range(N)`: every random draw is `hash(row, seed, stream)`
turned into a uniform number in [0, 1), so the same seed always gives the same rows, nothing is
held in Python, and 25 million persons stream straight to Parquet in bounded memory.

A person's attributes are pure functions of their row number, so the side registries (disability,
students, ...) recompute the age they need instead of reading the persons file back.

The ids are obviously synthetic: person ids are 'P' + ten digits (never an identity-card number)
and credit codes are '91310000' + nine digits + the GB 32100-2015 check character (valid in form, as the
enterprise sign-in requires, and recognisably made up: no real organisation code is all digits from 000000001).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from pathlib import Path

import duckdb

from app.matching.registries import REGISTRIES, RELATION_REGISTRIES, Registry
from app.private_files import private_dir, tighten

THREADS = 2
MEMORY_LIMIT = "2GB"
MAX_ROWS = 10**10 - 1  # ids carry ten digits
MAX_ENTERPRISES = 10**9 - 1  # a credit code has nine digits of the row number before its check character
STREAMS = 128  # random streams per row: draw k of row i hashes i * STREAMS + k

# Age bands (first year, last year, percent of persons): a Shanghai-like pyramid with about 36 %
# aged 60 and over, some 80+ and a few centenarians.
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (0, 5, 3.0),
    (6, 11, 4.2),
    (12, 17, 4.0),
    (18, 24, 5.75),
    (25, 39, 18.0),
    (40, 59, 29.0),
    (60, 64, 9.5),
    (65, 69, 9.5),
    (70, 79, 11.0),
    (80, 89, 5.0),
    (90, 99, 1.0),
    (100, 105, 0.05),
)

# (value, percent) choices.
RESIDENCE_REGIONS = ((310000, 92.0), (320000, 3.0), (330000, 2.5), (340000, 1.5), (440000, 0.4),
                     (110000, 0.3), (510000, 0.3))  # fmt: skip
DISABILITY_CATEGORIES = ((1, 15.0), (2, 20.0), (3, 1.5), (4, 45.0), (5, 7.0), (6, 7.0), (7, 4.5))
DISABILITY_GRADES = ((1, 15.0), (2, 25.0), (3, 30.0), (4, 30.0))
ENTERPRISE_REGIONS = ((310000, 95.0), (320000, 2.0), (330000, 2.0), (340000, 1.0))
INDUSTRIES = (
    ("wholesale_retail", 30.0),
    ("leasing_business_services", 15.0),
    ("information_technology", 12.0),
    ("scientific_research", 9.0),
    ("manufacturing", 8.0),
    ("construction", 5.0),
    ("accommodation_catering", 5.0),
    ("transport_logistics", 4.0),
    ("resident_services", 4.0),
    ("culture_sports", 3.0),
    ("real_estate", 3.0),
    ("finance", 2.0),
)
# Employees (first, last, percent): most enterprises are micro, a few are large.
EMPLOYEE_BANDS = ((0, 0, 3.0), (1, 9, 57.0), (10, 49, 25.0), (50, 299, 11.0), (300, 999, 3.2), (1000, 20000, 0.8))
TAX_CREDIT_LEVELS = (("A", 25.0), ("B", 45.0), ("M", 20.0), ("C", 7.0), ("D", 3.0))
SCHOOL_KINDS = {1: "小学", 2: "初级中学", 3: "高级中学", 4: "职业技术学校", 5: "大学", 6: "研究生院"}


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _pick(u: str, choices: Sequence[tuple[str | int, float]]) -> str:
    """A CASE choosing a value with the given percent weights from the uniform expression u."""
    total = sum(w for _, w in choices)
    parts, cum = [], 0.0
    for value, weight in choices[:-1]:
        cum += weight / total
        parts.append(f"WHEN {u} < {cum!r} THEN {_literal(value)}")
    return f"(CASE {' '.join(parts)} ELSE {_literal(choices[-1][0])} END)"


def _pick_range(u: str, v: str, bands: Sequence[tuple[int, int, float]]) -> str:
    """A CASE choosing a band by u (percent weights), then a whole number uniformly inside it by v."""
    total = sum(w for _, _, w in bands)
    parts, cum = [], 0.0
    for i, (lo, hi, weight) in enumerate(bands):
        cum += weight / total
        value = f"({lo} + CAST(floor({v} * {hi - lo + 1}) AS INTEGER))"
        parts.append(f"ELSE {value}" if i == len(bands) - 1 else f"WHEN {u} < {cum!r} THEN {value}")
    return f"(CASE {' '.join(parts)} END)"


def _literal(value: str | int) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(int(value))


def _date(day: datetime.date) -> str:
    return f"DATE '{day.isoformat()}'"


def _seed_key(seed: int) -> int:
    """A signed 64-bit key from the seed (splitmix64, a bijection: distinct seeds give distinct keys)."""
    mask = 2**64 - 1
    z = (seed + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    z ^= z >> 31
    return z - 2**64 if z >= 2**63 else z


def _setup(con: duckdb.DuckDBPyConnection, *, persons: int, seed: int, as_of: datetime.date) -> None:
    """Macros for the random streams and a view of every person's base attributes."""
    # u(i, k): a uniform double in [0, 1) from the top 53 bits of the hash of (row, stream) mixed with
    # the seed. One single-argument hash per draw: DuckDB's multi-argument hash(a, b, c) combines its
    # arguments' hashes linearly, which leaves the streams visibly correlated.
    key = _seed_key(seed)
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO u(i, k) AS "
        f"CAST(hash(xor(i * {STREAMS} + k, {key})) >> 11 AS DOUBLE) / 9007199254740992.0"
    )
    # A standard normal draw (Box-Muller) from streams k and k + 1.
    con.execute("CREATE OR REPLACE TEMP MACRO z(i, k) AS sqrt(-2 * ln(1.0 - u(i, k))) * cos(2 * pi() * u(i, k + 1))")
    age = _pick_range("u(i, 1)", "u(i, 2)", AGE_BANDS)
    # Any row's age and birth date, as pure functions of its number: a household member's relation to
    # its head compares the two without reading the other row back.
    con.execute(f"CREATE OR REPLACE TEMP MACRO age_of(i) AS {age}")
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO birth_of(i) AS "
        f"CAST({_date(as_of)} - to_years(age_of(i)) AS DATE) - CAST(floor(u(i, 3) * 365) AS INTEGER)"
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW synth_people AS
        SELECT i, age,
            CAST({_date(as_of)} - to_years(age) AS DATE) - CAST(floor(u(i, 3) * 365) AS INTEGER) AS birth_date
        FROM (SELECT i, {age} AS age FROM range({persons}) t(i))
    """)
    _household_setup(con, persons=persons, as_of=as_of)


# Households (户): consecutive rows in blocks of eight, each block split by one of these patterns of household
# sizes (weights in percent), so that a household is a pure function of the row number: about 2.6 persons a
# household, a quarter of households one person (of the old, many living alone), a few of five.
BLOCK = 8
HOUSEHOLD_PATTERNS: tuple[tuple[tuple[int, ...], float], ...] = (
    ((2, 2, 2, 2), 18.0), ((1, 2, 2, 3), 20.0), ((1, 1, 3, 3), 12.0), ((3, 3, 2), 14.0), ((1, 2, 5), 6.0),
    ((4, 4), 6.0), ((1, 1, 2, 4), 10.0), ((2, 3, 3), 8.0), ((1, 1, 1, 2, 3), 6.0),
)  # fmt: skip


def _household_setup(con: duckdb.DuckDBPyConnection, *, persons: int, as_of: datetime.date) -> None:
    """A view of every person's household: its number, the member's place in it and relation to its head."""
    total = sum(w for _, w in HOUSEHOLD_PATTERNS)
    picks, cum, starts, sizes = [], 0.0, [], []
    for n, (pattern, weight) in enumerate(HOUSEHOLD_PATTERNS):
        cum += weight / total
        picks.append(f"WHEN u(b * {BLOCK}, 91) < {cum!r} THEN {n}" if n < len(HOUSEHOLD_PATTERNS) - 1 else f"ELSE {n}")
        first = [sum(pattern[:j]) for j, size in enumerate(pattern) for _ in range(size)]
        starts.append(first)
        sizes.append([size for size in pattern for _ in range(size)])
    start = "CASE pattern " + " ".join(f"WHEN {n} THEN {v}[p + 1]" for n, v in enumerate(starts)) + " END"
    size = "CASE pattern " + " ".join(f"WHEN {n} THEN {v}[p + 1]" for n, v in enumerate(sizes)) + " END"
    relation = """CASE
        WHEN k = 1 THEN 'head'
        WHEN k = 2 AND abs(age - head_age) <= 12 AND age >= 18 AND head_age >= 18 THEN 'spouse'
        WHEN head_age - age >= 45 THEN 'grandchild'
        WHEN head_age - age >= 16 THEN 'child'
        WHEN age - head_age >= 45 THEN 'grandparent'
        WHEN age - head_age >= 16 THEN 'parent'
        WHEN abs(age - head_age) <= 12 THEN 'sibling'
        ELSE 'other' END"""
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW synth_households AS
        SELECT i, age, head, k, size, head_age, {relation} AS relation,
               greatest(birth_of(i), birth_of(head)) + CAST(floor(u(head, 92) * 7300) AS INTEGER) AS since
        FROM (
            SELECT i, age, head, i - head + 1 AS k, size, age_of(head) AS head_age
            FROM (
                SELECT i, age_of(i) AS age, b * {BLOCK} + {start} AS head, {size} AS size
                FROM (SELECT i, i // {BLOCK} AS b, i % {BLOCK} AS p,
                             (CASE {' '.join(picks)} END) AS pattern
                      FROM (SELECT i, i // {BLOCK} AS b FROM range({persons}) t(i)))
            )
        )
    """)


# Inverse kin relations: (how the head is related to the member, how the member is related to the head).
_KIN_OF_HOUSEHOLD = {
    "spouse": ("spouse", "spouse"), "child": ("child", "parent"), "parent": ("parent", "child"),
    "sibling": ("sibling", "sibling"), "grandchild": ("grandchild", "grandparent"),
    "grandparent": ("grandparent", "grandchild"),
}  # fmt: skip


def _relation_queries(*, persons: int, as_of: datetime.date) -> dict[str, str]:
    today = _date(as_of)
    pid, head = _person_id(), _person_id("head")
    household = "'H' || lpad(CAST(head + 1 AS VARCHAR), 10, '0')"
    since = f"least({today}, since)"
    q: dict[str, str] = {}
    q["households"] = f"""
        SELECT {household} AS household_id, {pid} AS person_id, relation AS relation_to_head,
               {since} AS from_date, CAST(NULL AS DATE) AS to_date
        FROM synth_households
        UNION ALL  -- about 3 % moved in from another household, whose row has ended
        SELECT 'H' || lpad(CAST((i * 7919) % {max(persons, 1)} + 1 AS VARCHAR), 10, '0') || 'X', {pid}, 'other',
               least({today}, since) - 400 - CAST(floor(u(i, 93) * 3000) AS INTEGER), least({today}, since) - 1
        FROM synth_households WHERE k > 1 AND u(i, 94) < 0.03
    """
    kin = []
    for relation, (head_is, member_is) in _KIN_OF_HOUSEHOLD.items():
        kin.append(f"SELECT {head} AS person_id, {pid} AS relative_id, '{relation}' AS relation "
                   f"FROM synth_households WHERE relation = '{relation}'")  # the member is the head's <relation>
        kin.append(f"SELECT {pid}, {head}, '{member_is}' FROM synth_households WHERE relation = '{relation}'")
        del head_is
    # Children living apart from an elderly parent (independent rows: some are not plausible in age, as
    # registries are not), and a few relatives the person registry does not hold.
    kin.append(f"""SELECT {pid}, {_person_id(f"(i * 104729 + 17) % {max(persons, 1)}")}, 'child'
                   FROM synth_households WHERE age >= 60 AND u(i, 95) < 0.4
                     AND (i * 104729 + 17) % {max(persons, 1)} <> i""")
    kin.append(f"SELECT {pid}, 'P99' || lpad(CAST(i AS VARCHAR), 9, '0'), 'sibling' FROM synth_households "
               "WHERE u(i, 96) < 0.002")
    # a child apart may also live at home: DISTINCT, then sorted so that the file is the same on every run
    q["kinship"] = f"SELECT DISTINCT * FROM ({' UNION ALL '.join(kin)}) ORDER BY ALL"
    q["marriages"] = f"""
        SELECT {head} AS person_id, {pid} AS spouse_id, {since} AS from_date, CAST(NULL AS DATE) AS to_date
        FROM synth_households WHERE relation = 'spouse'
        UNION ALL
        SELECT {pid}, {head}, {since}, CAST(NULL AS DATE) FROM synth_households WHERE relation = 'spouse'
    """
    q["addresses"] = f"""
        SELECT {pid} AS person_id, 'A' || lpad(CAST(head + 1 AS VARCHAR), 10, '0') AS address_id,
               {since} AS from_date, CAST(NULL AS DATE) AS to_date
        FROM synth_households
    """
    # 烈士: a few heads of household aged 20 or more, recognised on a day after they turned 18; their kin are
    # the martyr families.
    adult = "CAST(birth_of(i) + INTERVAL 18 YEAR AS DATE)"
    q["martyrs"] = f"""
        SELECT {pid} AS person_id,
               {adult} + CAST(floor(u(i, 98) * ({today} - {adult})) AS INTEGER) AS recognised_on
        FROM synth_households WHERE k = 1 AND age >= 20 AND u(i, 97) < 0.0015
    """
    return q


def _person_id(col: str = "i") -> str:
    return f"'P' || lpad(CAST({col} + 1 AS VARCHAR), 10, '0')"


CREDIT_PREFIX = "91310000"  # 9: registered by market regulation, 1: an enterprise, 310000: Shanghai
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # GB 32100-2015
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _credit_code(col: str = "i") -> str:
    """'91310000', nine digits of the row number and the GB 32100-2015 check character, in SQL."""
    fixed = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(CREDIT_PREFIX, _CREDIT_WEIGHTS, strict=False))
    n = f"CAST({col} + 1 AS BIGINT)"
    digits = " + ".join(
        f"{w} * (({n} // {10 ** (8 - k)}) % 10)" for k, w in enumerate(_CREDIT_WEIGHTS[len(CREDIT_PREFIX) :])
    )
    check = f"substr('{_CREDIT_ALPHABET}', CAST((31 - ({fixed} + {digits}) % 31) % 31 AS INTEGER) + 1, 1)"
    return f"'{CREDIT_PREFIX}' || lpad(CAST({n} AS VARCHAR), 9, '0') || {check}"


def _queries(*, persons: int, enterprises: int, as_of: datetime.date) -> dict[str, str]:
    today = _date(as_of)
    # Students' enrolment ends on 31 July; next_july is the first one on or after as_of.
    next_july = as_of.year if as_of <= datetime.date(as_of.year, 7, 31) else as_of.year + 1
    pid = _person_id()
    q: dict[str, str] = {}
    q["persons"] = f"""
        SELECT
            {pid} AS person_id,
            birth_date,
            CAST({_pick("u(i, 10)", RESIDENCE_REGIONS)} AS INTEGER) AS residence_region,
            -- 户籍: most residents aged 60+ hold a Shanghai hukou, about half of younger ones.
            CAST(CASE WHEN u(i, 11) < (CASE WHEN residence_region <> 310000 THEN 0.05
                                           WHEN age >= 60 THEN 0.85 ELSE 0.53 END)
                      THEN 310000 END AS INTEGER) AS hukou_region,
            -- Log-normal: median 6,000 yuan a month (4,500 for pensioners), about 10 % under 2,500.
            CAST(CASE WHEN u(i, 12) >= 0.03
                      THEN round((CASE WHEN age >= 60 THEN 4500 ELSE 6000 END) * exp(0.7 * z(i, 13)))
                 END AS INTEGER) AS income_monthly,
            -- About 0.5 % died in the last two years, more of them old.
            CASE WHEN u(i, 15) < (CASE WHEN age >= 80 THEN 0.02 WHEN age >= 60 THEN 0.006 ELSE 0.0025 END)
                 THEN greatest(birth_date, {today} - CAST(floor(u(i, 16) * 730) AS INTEGER)) END AS death_date
        FROM synth_people
    """
    # About 2.5 % hold a disability certificate (more of the old); most are valid, some expired.
    q["disability"] = f"""
        SELECT
            {pid} AS person_id,
            CAST({_pick("u(i, 21)", DISABILITY_CATEGORIES)} AS TINYINT) AS category,
            CAST({_pick("u(i, 22)", DISABILITY_GRADES)} AS TINYINT) AS grade,
            CASE WHEN u(i, 23) < 0.92 THEN {today} + 30 + CAST(floor(u(i, 24) * 3620) AS INTEGER)
                 ELSE {today} - 1 - CAST(floor(u(i, 24) * 730) AS INTEGER) END AS certificate_valid_until
        FROM synth_people
        WHERE u(i, 20) < (CASE WHEN age >= 60 THEN 0.043 ELSE 0.015 END)
    """
    q["martyr_families"] = f"SELECT {pid} AS person_id FROM range({persons}) t(i) WHERE u(i, 30) < 0.003"
    q["entitled_groups"] = f"SELECT {pid} AS person_id FROM synth_people WHERE age >= 18 AND u(i, 31) < 0.0112"
    # Students aged 6-25, level by age; enrolment ends on a 31 July in the future, a few already past.
    level = """(CASE
            WHEN age <= 11 THEN 1
            WHEN age <= 14 THEN 2
            WHEN age <= 17 THEN (CASE WHEN u(i, 41) < 0.75 THEN 3 ELSE 4 END)
            WHEN age <= 22 THEN (CASE WHEN age <= 19 AND u(i, 41) < 0.15 THEN 4 ELSE 5 END)
            ELSE 6 END)"""
    school_names = " ".join(
        f"WHEN {lvl} THEN '上海市第' || CAST(1 + CAST(floor(u(i, 43) * {n}) AS INTEGER) AS VARCHAR) || '{kind}'"
        for (lvl, kind), n in zip(SCHOOL_KINDS.items(), (900, 600, 300, 120, 64, 40), strict=True)
    )
    q["students"] = f"""
        SELECT
            {pid} AS person_id,
            CAST(level AS TINYINT) AS level,
            CASE WHEN u(i, 42) >= 0.02 THEN (CASE level {school_names} END) END AS school,
            CASE WHEN u(i, 44) < 0.04 THEN make_date({next_july - 1}, 7, 31)
                 ELSE make_date({next_july} + greatest(0, least(4,
                     (CASE level WHEN 1 THEN 11 WHEN 2 THEN 14 WHEN 3 THEN 17 WHEN 4 THEN 18 WHEN 5 THEN 21
                                 ELSE age + CAST(floor(u(i, 45) * 3) AS INTEGER) END) - age)), 7, 31)
            END AS enrolled_until
        FROM (
            SELECT i, age, {level} AS level
            FROM synth_people
            WHERE age BETWEEN 6 AND 25
              AND u(i, 40) < (CASE WHEN age <= 14 THEN 0.99 WHEN age <= 17 THEN 0.95
                                   WHEN age <= 22 THEN 0.55 ELSE 0.12 END)
        )
    """
    q["person_blacklist"] = f"SELECT {pid} AS person_id FROM synth_people WHERE age >= 18 AND u(i, 50) < 0.0056"

    employees = _pick_range("u(i, 62)", "pow(u(i, 63), 2)", EMPLOYEE_BANDS)  # skewed to the low end of a band
    q["enterprises"] = f"""
        SELECT
            {_credit_code()} AS credit_code,
            {_pick("u(i, 60)", INDUSTRIES)} AS industry,
            CAST({_pick("u(i, 61)", ENTERPRISE_REGIONS)} AS INTEGER) AS region,
            CAST(employees AS INTEGER) AS employees,
            CAST(CASE WHEN u(i, 64) < 0.08 THEN 0
                      ELSE ceil(employees * (0.6 + 0.4 * u(i, 65))) END AS INTEGER) AS insured_employees,
            CAST(CASE WHEN u(i, 66) < 0.55 THEN 0
                      WHEN u(i, 66) < 0.85 THEN 1 + floor(u(i, 67) * 5)
                      ELSE 6 + floor(u(i, 67) * 15) END AS INTEGER) AS layoff_rate_pct,
            -- Revenue per employee is log-normal around 400,000 yuan; enterprises with no staff earn little.
            CAST(round((greatest(employees, 0.25)) * 400000 * exp(0.9 * z(i, 68))) AS BIGINT) AS annual_revenue,
            -- Registered over the last 20 years, more of them recently.
            {today} - 1 - CAST(floor(pow(u(i, 70), 1.3) * 7300) AS INTEGER) AS registered_on
        FROM (SELECT i, {employees} AS employees FROM range({enterprises}) t(i))
    """
    code = _credit_code()
    q["enterprise_blacklist"] = f"SELECT {code} AS credit_code FROM range({enterprises}) t(i) WHERE u(i, 80) < 0.01"
    # 纳税信用等级: about nine in ten enterprises assessed; of those a quarter A-level, few C or D.
    q["tax_credit_ratings"] = f"""
        SELECT {code} AS credit_code, {_pick("u(i, 82)", TAX_CREDIT_LEVELS)} AS level
        FROM range({enterprises}) t(i) WHERE u(i, 81) < 0.9
    """
    return q


def _select_with_types(registry: Registry, query: str) -> str:
    """The query projected onto exactly the declared columns, cast to the declared types."""
    cols = ", ".join(f"CAST({c.name} AS {c.sql_type}) AS {c.name}" for c in registry.columns)
    return f"SELECT {cols} FROM ({query})"  # rows come out in row-number order, which is id order


def _connect() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(
        ":memory:",
        config={"threads": THREADS, "memory_limit": MEMORY_LIMIT, "preserve_insertion_order": True},
    )


def synthesise(
    out: Path,
    *,
    persons: int,
    enterprises: int,
    seed: int,
    as_of: datetime.date = datetime.date(2026, 11, 26),
    relations: bool = True,
) -> dict[str, int]:
    """Write one Parquet file per registry into out; return the row count of each registry.

    The same (persons, enterprises, seed, as_of) always gives the same rows. `relations=False` leaves out
    the relation registries (households, kin, marriages, addresses, martyrs): the matching benchmark
    measures the person-by-person rules without them.
    """
    for name, n, most in (("persons", persons, MAX_ROWS), ("enterprises", enterprises, MAX_ENTERPRISES)):
        if not isinstance(n, int) or not 0 <= n <= most:
            raise ValueError(f"{name} must be an integer in [0, {most}], not {n!r}")
    if not isinstance(seed, int) or not -(2**63) <= seed < 2**63:
        raise ValueError(f"seed must be a 64-bit integer, not {seed!r}")
    out = Path(out)
    private_dir(out)  # registries of (synthetic) persons: 0700, files 0600 as real ones would be
    queries = _queries(persons=persons, enterprises=enterprises, as_of=as_of)
    queries.update(_relation_queries(persons=persons, as_of=as_of))
    counts: dict[str, int] = {}
    with _connect() as con:
        _setup(con, persons=persons, seed=seed, as_of=as_of)
        for registry in REGISTRIES:
            if not relations and registry.name in RELATION_REGISTRIES:
                continue
            target = out / f"{registry.name}.parquet"
            partial = out / f".{registry.name}.parquet.partial"
            row = con.execute(
                f"COPY ({_select_with_types(registry, queries[registry.name])}) TO {_q(partial)} "
                "(FORMAT parquet, COMPRESSION zstd)"
            ).fetchone()
            tighten(partial)
            os.replace(partial, target)
            counts[registry.name] = int(row[0]) if row else 0
    return counts


def summary(out: Path) -> dict[str, int]:
    """Rows per registry file in out (read from the Parquet metadata); registries without a file are left out."""
    counts: dict[str, int] = {}
    with _connect() as con:
        for registry in REGISTRIES:
            path = Path(out) / f"{registry.name}.parquet"
            if not path.exists():
                continue
            row = con.execute(f"SELECT count(*) FROM read_parquet({_q(path)})").fetchone()
            counts[registry.name] = int(row[0]) if row else 0
    return counts
