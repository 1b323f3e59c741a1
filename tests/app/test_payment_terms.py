"""A paid policy says how often it pays; a confirm-mode policy has its commitment notice (告知承诺书): the catalogue
validator names the file and the field of each that is missing or wrong, and the snapshot carries them."""

from __future__ import annotations

from pathlib import Path

from app.catalogue import load_catalogue, publish
from app.catalogue_admin import check_draft
from keys.algorithms import ES256, generate_private_key
from verifier.catalogue import Commitment, build_snapshot, load_snapshot, parse_policy

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "catalogue"
SUBSIDY = (SAMPLE / "sh-disability-living-subsidy.yaml").read_text(encoding="utf-8")
NURSING = (SAMPLE / "sh-disability-nursing-subsidy.yaml").read_text(encoding="utf-8")
PARK = (SAMPLE / "sh-park-senior-free.yaml").read_text(encoding="utf-8")
NOW = 1_800_000_000


def _without(text: str, field: str) -> str:
    """The YAML without a top-level field (and its indented lines)."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(f"{field}:"):
            skipping = True
            continue
        if skipping and line.startswith("  "):
            continue
        skipping = False
        out.append(line)
    return "".join(out)


def _problems(tmp_path: Path, files: dict[str, str]) -> list[str]:
    folder = tmp_path / "catalogue"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [str(p) for p in load_catalogue(folder).problems]


def test_the_sample_catalogue_declares_how_often_each_paid_policy_pays() -> None:
    catalogue = load_catalogue(SAMPLE)
    assert catalogue.problems == ()
    by_id = {p.id: p for p in catalogue.policies}
    assert by_id["sh-enterprise-startup-subsidy"].pays == "once"
    assert by_id["sh-enterprise-stable-employment-subsidy"].pays == "yearly"
    assert by_id["sh-disability-living-subsidy"].pays == by_id["sh-senior-allowance-70-79"].pays == "monthly"
    assert all(p.pays is None for p in catalogue.policies if p.delivery == "scan")
    confirm = [p for p in catalogue.policies if p.delivery == "confirm"]
    assert confirm and all(p.commitment is not None and p.commitment.version >= 1 for p in confirm)
    assert all("30日内" in p.commitment.zh and "30 days" in p.commitment.en for p in confirm if p.commitment)
    snapshot = load_snapshot(publish(catalogue, key := generate_private_key(ES256), version=1, now=NOW, max_age=60),
                             key.public_key())  # fmt: skip
    carried = {p.id: p for p in snapshot.policies}["sh-disability-living-subsidy"]
    assert carried.commitment == by_id["sh-disability-living-subsidy"].commitment
    assert carried.source["commitment"]["version"] == 1 and carried.confirm_within_days == 90


def test_a_confirm_policy_without_its_commitment_notice_is_refused_naming_file_and_field(tmp_path: Path) -> None:
    shown = _problems(tmp_path, {"sh-disability-living-subsidy.yaml": _without(SUBSIDY, "commitment"),
                                 "sh-disability-nursing-subsidy.yaml": _without(NURSING, "pays")})  # fmt: skip
    assert shown == [
        "sh-disability-living-subsidy.yaml: commitment: expected the commitment notice (告知承诺书) a confirm-mode "
        "policy shows before the confirm button: {version: N, zh: ..., en: ...}, found None",
        "sh-disability-nursing-subsidy.yaml: pays: expected how often the policy pays, one of ['monthly', "
        "'quarterly', 'yearly', 'once'], found None",
    ]
    draft = check_draft(_without(SUBSIDY, "commitment"))
    assert draft.source is None
    assert any(e.startswith("commitment: expected the commitment notice") for e in draft.errors)


def test_wrong_terms_are_located(tmp_path: Path) -> None:
    notice = "commitment:\n  version: 1\n  zh: 以上信息真实\n  en: The facts above are true\n"
    broken = {
        "sh-disability-living-subsidy.yaml": SUBSIDY.replace("pays: monthly", "pays: weekly")
        .replace("confirm_within_days: 90", "confirm_within_days: ninety")
        .replace("  version: 1\n  zh:", "  version: 0\n  zh:", 1),
        "sh-disability-nursing-subsidy.yaml": NURSING.replace("pays: monthly", "pays: monthly\n" + notice),
        "sh-park-senior-free.yaml": PARK.replace("delivery: scan", "delivery: scan\npays: monthly"),
    }
    shown = _problems(tmp_path, broken)
    assert "sh-disability-living-subsidy.yaml: pays: expected how often the policy pays, one of ['monthly', " \
           "'quarterly', 'yearly', 'once'], found 'weekly'" in shown  # fmt: skip
    assert "sh-disability-living-subsidy.yaml: confirm_within_days: expected a whole number of days from 1 to " \
           "3650, found 'ninety'" in shown  # fmt: skip
    assert "sh-disability-living-subsidy.yaml: commitment.version: expected a whole number from 1 to 1000000, " \
           "found 0" in shown  # fmt: skip
    assert any(s.startswith("sh-disability-nursing-subsidy.yaml: commitment: expected no commitment notice for a "
                            "direct or scan policy") for s in shown)  # fmt: skip
    assert "sh-park-senior-free.yaml: pays: expected no pays for a scan-mode policy (nothing is paid), found " \
           "'monthly'" in shown  # fmt: skip


def test_a_snapshot_published_before_the_terms_still_loads() -> None:
    """Gates and servers holding an older snapshot keep working: its paid policies pay monthly, as all did."""
    source = load_catalogue(SAMPLE).sources
    old = [{k: v for k, v in s.items() if k not in ("pays", "commitment", "confirm_within_days")} for s in source]
    key = generate_private_key(ES256)
    snapshot = load_snapshot(build_snapshot(old, key, version=1, issued_at=NOW), key.public_key())
    assert all(p.pays is None and p.commitment is None for p in snapshot.policies)
    policy, problems = parse_policy({**old[0], "commitment": {"version": 2, "zh": "真实", "en": "true"}})
    assert problems == [] and policy is not None and policy.commitment == Commitment(2, "真实", "true")
