"""Atheris harness for the registry loader (CSV): `load_registries` may raise RegistryError only.

A bad row must land in the rejects table and a file unusable as a whole must be a
RegistryError naming it; any other exception, a hang or memory past the limit is a crash.
Each input is written as one registry's CSV in a RAM folder (/dev/shm when there is one) beside
a small valid persons.csv, then loaded by DuckDB (one in-memory connection; each load replaces its tables).

The first byte picks the registry (app/matching/registries.py); the rest is the file.

    .venv/bin/python tests/fuzz/fuzz_registry.py -max_total_time=60
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["app.matching.load", "app.matching.registries", "app.matching.sql"]):
    import duckdb

    from app.matching.load import RegistryError, load_registries
    from app.matching.registries import REGISTRIES

import fuzzlib

NAME = "registry"
RAM = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
FOLDER = Path(tempfile.mkdtemp(prefix="suishen-fuzz-registry-", dir=RAM))
atexit.register(shutil.rmtree, FOLDER, True)
# One connection for every input: each load replaces every table it reads (a fresh connection costs half the run).
CON = duckdb.connect(config={"threads": 1, "memory_limit": "256MB"})
PERSONS = (
    b"person_id,birth_date,residence_region,hukou_region,income_monthly,death_date\n"
    b"P1,1950-01-01,310101,310101,1200,\nP2,2001-02-03,320500,,,\nP3,1940-05-06,310104,,0,2020-01-01\n"
)
ROWS = {
    "disability": b"person_id,category,grade,certificate_valid_until\nP1,2,1,2030-01-01\nP9,8,0,1800-01-01\n",
    "students": b"person_id,level,school,enrolled_until\nP2,5,Fudan,2027-06-30\nP2,6,,2027-06-30\n",
    "enterprises": (
        b"credit_code,industry,region,employees,insured_employees,layoff_rate_pct,annual_revenue,registered_on\n"
        b"91310000MA1FL0000X,C,310104,40,38,2,10000000,2020-01-01\n91310000MA1FL0000Y,C,99,1,2,101,-1,2999-01-01\n"
    ),
    "enterprise_blacklist": b"credit_code\n91310000MA1FL0000X\nnot-a-code\n",
}


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    registry = REGISTRIES[data[0] % len(REGISTRIES)]
    for old in FOLDER.glob("*.csv"):
        old.unlink()
    if registry.name != "persons":
        (FOLDER / "persons.csv").write_bytes(PERSONS)
    (FOLDER / f"{registry.name}.csv").write_bytes(data[1:])
    try:
        report = load_registries(CON, FOLDER)
    except RegistryError:
        return
    assert all(isinstance(n, int) and n >= 0 for n in (*report.loaded.values(), *report.rejected.values()))


def seeds() -> dict[str, bytes]:
    """For every registry a header and a few rows, good and bad; registries without samples get their header."""
    out: dict[str, bytes] = {}
    for i, registry in enumerate(REGISTRIES):
        header = ",".join(c.name for c in registry.columns).encode() + b"\n"
        body = PERSONS if registry.name == "persons" else ROWS.get(registry.name, header + b"P1\nP2\nP1\nP404\n")
        out[f"{registry.name}-rows"] = bytes([i]) + body
        out[f"{registry.name}-header"] = bytes([i]) + header
    return out


if __name__ == "__main__":
    fuzzlib.main(NAME, TestOneInput, seeds, defaults=("-max_len=2048", "-timeout=20", "-rss_limit_mb=2048"))
