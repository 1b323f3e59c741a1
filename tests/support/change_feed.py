"""Random change records for the change feed's tests: realistic batches over the feed's state as it is."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import duckdb

from app.matching.changes import Change
from tests.support.registries import DAY


def text(value: Any) -> Any:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date) else value


def rows(con: duckdb.DuckDBPyConnection, table: str) -> list[dict[str, Any]]:
    cursor = con.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cursor.description]
    return [{n: text(v) for n, v in zip(names, r, strict=True)} for r in cursor.fetchall()]


class Feed:
    """Random change records over the state as it is, numbered per source."""

    def __init__(self, con: duckdb.DuckDBPyConnection, rng: random.Random) -> None:
        self.con, self.rng, self.seq = con, rng, {"gaj": 0, "mzj": 0, "cdpf": 0, "scjgj": 0}
        self.new_people = 0

    def _record(self, source: str, registry: str, op: str, row: dict[str, Any]) -> Change:
        self.seq[source] += 1
        return Change(source, self.seq[source], registry, op, {k: text(v) for k, v in row.items()}, "test")

    def batch(self, size: int) -> list[Change]:
        rng, out = self.rng, []
        people = rows(self.con, "state_persons")
        ids = [p["person_id"] for p in people]
        for _ in range(size):
            kind = rng.choice(["income", "birth", "death", "hukou", "new", "disability", "household", "end_household",
                               "address", "kin", "marriage", "martyr", "enterprise"])  # fmt: skip
            person = rng.choice(people)
            if kind in ("income", "birth", "death", "hukou"):
                row = dict(person)
                if kind == "income":
                    row["income_monthly"] = rng.choice([None, 0, 700, 1500, 3000, 9000])
                elif kind == "birth":
                    row["birth_date"] = text(DAY.replace(year=DAY.year - rng.choice([17, 18, 65, 70, 80])))
                elif kind == "death" and row["death_date"] is None:
                    row["death_date"] = text(DAY - dt.timedelta(days=rng.randint(0, 30)))
                else:
                    row["hukou_region"] = rng.choice([310000, 320000, None])
                person.update(row)
                out.append(self._record("gaj", "persons", "update", row))
            elif kind == "new":
                self.new_people += 1
                row = {"person_id": f"N{self.new_people:05d}", "birth_date": "1950-06-01", "residence_region": 310000,
                       "hukou_region": 310000, "income_monthly": 500, "death_date": None}  # fmt: skip
                people.append(row)
                ids.append(row["person_id"])
                out.append(self._record("gaj", "persons", "insert", row))
                out.append(self._record("gaj", "households", "insert", {
                    "household_id": f"NH{self.new_people}", "person_id": row["person_id"], "relation_to_head": "head",
                    "from_date": "2000-01-01", "to_date": None}))  # fmt: skip
            elif kind == "disability":
                had = self.con.execute(
                    "SELECT count(*) FROM state_disability WHERE person_id = ?",
                    [person["person_id"]],
                ).fetchone()[0]  # type: ignore[index]
                if any(c.registry == "disability" and c.row["person_id"] == person["person_id"] for c in out):
                    continue
                row = {"person_id": person["person_id"], "category": rng.randint(1, 7), "grade": rng.randint(1, 4),
                       "certificate_valid_until": text(DAY + dt.timedelta(days=rng.randint(-5, 400)))}  # fmt: skip
                op = rng.choice(["update", "delete"]) if had else "insert"
                sent = row if op != "delete" else {"person_id": row["person_id"]}
                out.append(self._record("cdpf", "disability", op, sent))
            elif kind in ("household", "end_household"):
                other = rng.choice(ids)
                held = rows(self.con, "state_households")
                mine = [r for r in held if r["person_id"] == other]
                if kind == "end_household" and mine and not any(
                    c.registry == "households" and c.row["person_id"] == other for c in out
                ):
                    row = dict(rng.choice(mine), to_date=text(DAY - dt.timedelta(days=rng.choice([0, 1]))))
                    if row["to_date"] >= row["from_date"]:
                        out.append(self._record("gaj", "households", "update", row))
                    continue
                into = rng.choice(held)["household_id"] if held else "H00001"
                row = {"household_id": into, "person_id": person["person_id"], "relation_to_head": "other",
                       "from_date": text(DAY - dt.timedelta(days=rng.randint(0, 9))), "to_date": None}  # fmt: skip
                if not self._exists("households", row, ("household_id", "person_id", "from_date"), out):
                    out.append(self._record("gaj", "households", "insert", row))
            elif kind == "address":
                row = {"person_id": person["person_id"], "address_id": f"A{rng.randint(1, 80):05d}",
                       "from_date": text(DAY - dt.timedelta(days=rng.randint(0, 3))), "to_date": None}  # fmt: skip
                if not self._exists("addresses", row, ("person_id", "address_id", "from_date"), out):
                    out.append(self._record("gaj", "addresses", "insert", row))
            elif kind in ("kin", "marriage"):
                other = rng.choice(ids)
                if other == person["person_id"]:
                    continue
                if kind == "kin":  # spouse and sibling only: a random parent line could make a kin cycle
                    row = {"person_id": person["person_id"], "relative_id": other,
                           "relation": rng.choice(["spouse", "sibling"])}  # fmt: skip
                    if not self._exists("kinship", row, ("person_id", "relative_id", "relation"), out):
                        out.append(self._record("mzj", "kinship", "insert", row))
                else:
                    row = {"person_id": person["person_id"], "spouse_id": other,
                           "from_date": text(DAY - dt.timedelta(days=rng.randint(0, 2))), "to_date": None}  # fmt: skip
                    if not self._exists("marriages", row, ("person_id", "spouse_id", "from_date"), out):
                        out.append(self._record("mzj", "marriages", "insert", row))
            elif kind == "martyr":
                row = {"person_id": person["person_id"], "recognised_on": "1990-01-01"}
                if not self._exists("martyrs", row, ("person_id",), out):
                    out.append(self._record("mzj", "martyrs", "insert", row))
            else:
                enterprises = rows(self.con, "state_enterprises")
                if enterprises:
                    row = dict(rng.choice(enterprises), employees=rng.choice([10, 400]))
                    row["insured_employees"] = min(row["insured_employees"], row["employees"])
                    out.append(self._record("scjgj", "enterprises", "update", row))
        return out

    def _exists(self, registry: str, row: dict[str, Any], unique: tuple[str, ...], pending: list[Change]) -> bool:
        table = f"state_{registry}"
        where = " AND ".join(f"CAST({c} AS VARCHAR) = ?" for c in unique)
        values = [str(row[c]) for c in unique]
        found = self.con.execute(f"SELECT count(*) FROM {table} WHERE {where}", values).fetchone()
        key = tuple(str(row[c]) for c in unique)
        return bool(found and found[0]) or any(
            c.registry == registry and tuple(str(c.row[u]) for u in unique) == key for c in pending
        )


