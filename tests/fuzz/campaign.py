"""`make fuzz`: fresh seeds, then every harness in turn for a fixed time, then the HTTP API, with a summary.

Per harness the summary gives libFuzzer's own final figures: inputs run (execs), exec/s,
coverage edges (`cov:`), corpus size, and crashes (files written to var/fuzz/crashes/ in
this run: crash-, timeout- and oom- inputs). A harness stops at its first crash; the next
one still runs, and the exit status is non-zero when any crashed.

The HTTP API step runs tests/services/test_openapi_fuzz.py (schemathesis over the OpenAPI
document, in process) with SUISHEN_FUZZ_EXAMPLES examples per operation and mode; by default
two thirds of FUZZ_SECONDS (it then takes about FUZZ_SECONDS), so a longer campaign runs it
longer. Logs: var/fuzz/<harness>/log.txt.

    .venv/bin/python tests/fuzz/campaign.py --seconds 60 [--only decoder,rules] [--no-api]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FUZZ_DIR = ROOT / "var" / "fuzz"
CRASH_DIR = FUZZ_DIR / "crashes"
HARNESSES = ("decoder", "policy", "rules", "trust_list", "snapshot", "registry")


def _stat(log: str, name: str) -> int | None:
    found = re.search(rf"stat::{name}:\s+(\d+)", log)
    return int(found.group(1)) if found else None


def run_harness(name: str, seconds: int, rss_mb: int) -> dict[str, object]:
    log_path = FUZZ_DIR / name / "log.txt"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    before = set(CRASH_DIR.glob(f"{name}-*")) if CRASH_DIR.is_dir() else set()
    command = [sys.executable, str(HERE / f"fuzz_{name}.py"), f"-max_total_time={seconds}",
               "-print_final_stats=1", f"-rss_limit_mb={rss_mb}"]  # fmt: skip
    started = time.monotonic()
    with log_path.open("w") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    text = log_path.read_text(errors="replace")
    coverage = re.findall(r"cov: (\d+)", text)
    corpus = re.findall(r"corp: (\d+)/", text)
    crashes = sorted(set(CRASH_DIR.glob(f"{name}-*")) - before) if CRASH_DIR.is_dir() else []
    return {
        "harness": name,
        "seconds": round(time.monotonic() - started),
        "execs": _stat(text, "number_of_executed_units"),
        "exec/s": _stat(text, "average_exec_per_sec"),
        "cov": int(coverage[-1]) if coverage else None,
        "corpus": int(corpus[-1]) if corpus else None,
        "crashes": len(crashes),
        "exit": code,
        "artefacts": [str(c.relative_to(ROOT)) for c in crashes],
    }


def run_api(examples: int) -> dict[str, object]:
    log_path = FUZZ_DIR / "api" / "log.txt"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/services/test_openapi_fuzz.py"]
    started = time.monotonic()
    with log_path.open("w") as log:
        env = {**os.environ, "SUISHEN_FUZZ_EXAMPLES": str(examples)}
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env).returncode
    summary = re.findall(r"^=*\s*(\d+ (?:passed|failed).*?)\s*=*$", log_path.read_text(errors="replace"), re.M)
    return {"harness": "api", "seconds": round(time.monotonic() - started), "examples": examples,
            "result": (summary or ["no pytest summary"])[-1].replace(" ", "_"), "exit": code}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "60")))
    parser.add_argument("--only", default="", help="comma-separated harnesses (default: all)")
    parser.add_argument("--no-api", action="store_true", help="skip the schemathesis step")
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(HARNESSES)
    subprocess.run([sys.executable, str(HERE / "make_seeds.py"), *names], check=True, cwd=ROOT)
    results = []
    for name in names:
        result = run_harness(name, args.seconds, args.rss_limit_mb)
        results.append(result)
        print(" ".join(f"{k}={v}" for k, v in result.items() if k != "artefacts"), flush=True)
        for artefact in result["artefacts"]:  # type: ignore[attr-defined]
            print(f"  crash input: {artefact}  (reproduce: .venv/bin/python tests/fuzz/fuzz_{name}.py {artefact})")
    failed = any(r["crashes"] or r["exit"] for r in results)
    if not args.no_api and not args.only:
        api = run_api(int(os.environ.get("SUISHEN_FUZZ_EXAMPLES", max(12, args.seconds * 2 // 3))))
        print(" ".join(f"{k}={v}" for k, v in api.items()), flush=True)
        failed = failed or bool(api["exit"])
    print("fuzz campaign:", "CRASHES FOUND (see var/fuzz/crashes/)" if failed else "no crashes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
