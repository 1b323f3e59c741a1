"""Write the bad-input corpus: `python -m tests.corpus.make_corpus` (add `--check` to compare instead).

One folder per category, each with its data files and a `manifest.json` naming every input and
what it must produce. The generator is deterministic (fixed keys, seeds and clock; RFC 6979
signatures), so the files on disk are exactly what it writes, and `--check` (run by the corpus
test) says when they are out of date.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tests.corpus.gen_api_bodies import api_cases
from tests.corpus.gen_codes import codes_cases, good_codes
from tests.corpus.gen_images import image_cases
from tests.corpus.gen_policies import policy_cases
from tests.corpus.gen_registry_rows import registry_cases
from tests.corpus.gen_revocation_lists import revocation_list_cases
from tests.corpus.gen_trust_lists import trust_list_cases
from tests.corpus.world import CORPUS, NOW, deterministic_signatures

CATEGORIES = ("codes", "images", "policies", "registry_rows", "api_bodies", "trust_lists", "revocation_lists")


def _manifest(about: str, cases: list[dict[str, Any]], **extra: Any) -> bytes:
    body = {"about": about, "now": NOW, **extra, "cases": cases}
    return json.dumps(body, ensure_ascii=False, indent=1).encode() + b"\n"


def corpus() -> dict[str, bytes]:
    """Every corpus file, by path relative to tests/corpus/."""
    out: dict[str, bytes] = {}
    with deterministic_signatures():
        out["codes/manifest.json"] = _manifest(
            "SP1 code texts; expect = the reason code Verifier.verify names, with the trust store `trust` "
            "(default ours), the clock NOW + `at`, after the codes in `first` verified",
            codes_cases(),
            good=good_codes(),
        )
        files, cases = image_cases()
        out.update({f"images/{name}": data for name, data in files.items()})
        out["images/manifest.json"] = _manifest(
            "suishen-gate decode --images DIR --json; error = substring of the refusal, reasons = reason codes "
            "of the codes found (sorted)",
            cases,
        )
        texts, cases = policy_cases()
        out.update({f"policies/{name}": text.encode() for name, text in texts.items()})
        out["policies/manifest.json"] = _manifest(
            "app.catalogue_admin.check_draft; expect = substring (or any of several) of one error", cases
        )
        texts, cases = registry_cases()
        out.update({f"registry_rows/{name}": text.encode() for name, text in texts.items()})
        out["registry_rows/manifest.json"] = _manifest(
            "app.matching.load.load_registries over rows/: expect = the reason in rejects for (registry, row); "
            "over files/<case>/: expect = substring of the RegistryError",
            cases,
        )
        out["api_bodies/manifest.json"] = _manifest(
            "requests to a real suishen serve: status (or any of a list), error code, answer fields; never a 500",
            api_cases(),
        )
        documents, cases = trust_list_cases()
        out.update({f"trust_lists/{name}": data for name, data in documents.items()})
        out["trust_lists/manifest.json"] = _manifest(
            "keys.partners.import_partner_trust_list (judge import, region 320000 unless named, after `held`) or "
            "keys.trust_list.load_trust_list with our root (judge load); expect = substring of the error",
            cases,
        )
        documents, cases = revocation_list_cases()
        out.update({f"revocation_lists/{name}": data for name, data in documents.items()})
        out["revocation_lists/manifest.json"] = _manifest(
            "keys.revocation_list.load_revocation_list with our root at NOW, on top of `held`; expect = substring "
            "of the one-line error; unless gate is false, the gate's DocumentCache.install refuses it too and keeps "
            "its files",
            cases,
        )
    return out


def on_disk() -> dict[str, bytes]:
    return {
        str(p.relative_to(CORPUS)): p.read_bytes()
        for category in CATEGORIES
        for p in sorted((CORPUS / category).rglob("*"))
        if p.is_file()
    }


def differences() -> list[str]:
    """Paths where the files on disk are not what the generator writes (empty when up to date)."""
    wanted, held = corpus(), on_disk()
    return sorted(p for p in wanted.keys() | held.keys() if wanted.get(p) != held.get(p))


def write() -> int:
    wanted = corpus()
    for stale in on_disk().keys() - wanted.keys():
        (CORPUS / stale).unlink()
    for path, data in wanted.items():
        target = CORPUS / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
    return len(wanted)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        changed = differences()
        for path in changed:
            print(f"out of date: tests/corpus/{path}")
        return 1 if changed else 0
    print(f"wrote {write()} files under {CORPUS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
