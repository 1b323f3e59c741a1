"""Write every harness's seed corpus afresh under var/fuzz/<harness>/seeds/ (real codes, documents, files).

Each harness defines its seeds (`seeds()` in its module, signed with the fixed keys of
fuzzlib.py); this runs each one with --seeds-only, in its own process as atheris wants.

    .venv/bin/python tests/fuzz/make_seeds.py [harness ...]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESSES = ("decoder", "policy", "rules", "trust_list", "snapshot", "registry")


def main(names: list[str]) -> int:
    for name in names or HARNESSES:
        run = subprocess.run(
            [sys.executable, str(HERE / f"fuzz_{name}.py"), "--seeds-only"], capture_output=True, text=True
        )
        if run.returncode != 0:
            sys.stderr.write(run.stderr)
            return run.returncode
        print(run.stdout.strip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
