"""`python -m benchmarks [--quick] [--output PATH]`: run every benchmark, print, write JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cryptography.hazmat.backends.openssl.backend import backend
from rich.console import Console

from benchmarks.gate import gate_suite, print_gate
from benchmarks.matching import matching_suite, print_matching
from benchmarks.report import print_breakdown, print_issuance, print_meta, print_sizes, print_verify
from benchmarks.suites import FULL, QUICK, issue_suite, size_suite, verify_suite
from benchmarks.world import make_world
from keys.algorithms import EDDSA, ES256
from verifier.verify import HOLDER_BOUND, ONLINE

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "var" / "bench" / "results.json"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str | None:
    """HEAD of the checkout being measured, with "+dirty" when tracked files have changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _meta() -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "python": platform.python_version(),
        "cryptography": version("cryptography"),
        "openssl": backend.openssl_version_text(),
        "cbor2": version("cbor2"),
        "qrcode": version("qrcode"),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few short rounds: a smoke run, not figures")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    # Wide enough for the tables when the output goes to a file or a CI log.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    started = time.perf_counter()
    meta = _meta()
    print_meta(console, meta, plan)

    worlds = [make_world(ES256), make_world(EDDSA)]
    verify_results = []
    for world in worlds:
        for kind in (ONLINE, HOLDER_BOUND):
            with console.status(f"verify: {world.alg_name} {kind} ..."):
                verify_results.append(verify_suite(world, kind, plan))
    print_verify(console, verify_results, plan)

    sizes = size_suite(worlds)
    print_sizes(console, sizes)

    issuance = []
    for world in worlds:
        with console.status(f"issuing: {world.alg_name} ..."):
            issuance.append(issue_suite(world, plan, with_png=world.alg == ES256))
    print_issuance(console, issuance)

    print_breakdown(console, verify_results)

    with console.status("gate path with a 200-policy catalogue ..."):
        gate = gate_suite(worlds[0], plan)
    print_gate(console, gate)

    populations = [(100_000, 0)] if args.quick else [(1_000_000, 0), (25_000_000, 0), (25_000_000, 50)]
    with console.status(f"bulk matching at {', '.join(f'{n:,}' for n, _ in populations)} persons ..."):
        matching = matching_suite(populations)
    print_matching(console, matching)

    meta["seconds"] = round(time.perf_counter() - started, 1)
    meta["quick"] = args.quick
    meta["plan"] = plan.__dict__
    document = {
        "meta": meta, "verify": verify_results, "sizes": sizes, "issuance": issuance, "gate": gate,
        "matching": matching,
    }  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(_rounded(document), indent=2) + "\n")
    console.print(f"wrote {args.output} ({meta['seconds']} s)")
    return 0


def _rounded(value: Any) -> Any:
    """Floats to 4 decimals, for a readable file."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
