"""The full gate path with a 200-policy catalogue: verify + decide, beside the bare verify."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.suites import Plan
from benchmarks.timing import each_star, fresh, interleave
from benchmarks.world import NOW, VERIFY_AT, World, bare_verify
from keys.algorithms import ES256, generate_private_key
from verifier.catalogue import VENUE_TYPES, build_snapshot, load_snapshot
from verifier.claims import Profile
from verifier.decide import Decider, Venue
from verifier.verify import VerifiedCode

POLICY_COUNT = 200
TARGET_RATIO = 1.3
TARGET_DECIDE_US = 10.0
ALL_DAY = {"weekdays": [1, 2, 3, 4, 5, 6, 7], "hours": ["00:00", "23:59"]}

_RULES: list[dict[str, Any]] = [
    {"age": {">=": 65}},
    {"age": {">=": 70}},
    {"age": {"between": [60, 64]}},
    {"all": [{"disability.category": {"in": [1, 2, 4]}}, {"disability.grade": {"<=": 2}}]},
    {"member_of": "martyr_families"},
    {"all": [{"student.enrolled_until": {">=": "today"}}, {"student.level": {"in": [3, 4, 5]}}]},
    {"any": [{"entitled_group": {"==": True}}, {"age": {">=": 80}}]},
    {"not": {"age": {"<": 65}}},
]


def synthetic_policies(count: int = POLICY_COUNT) -> list[dict[str, Any]]:
    """`count` published scan-mode policies spread over every venue type, as YAML would give them."""
    policies = []
    for i in range(count):
        venue_type = VENUE_TYPES[i % len(VENUE_TYPES)]
        rule = _RULES[i % len(_RULES)]
        benefit = {"kind": "free_entry"} if i % 3 else {"kind": "discount", "percent": 30 + i % 50}
        versions: list[dict[str, Any]] = [
            {"version": 1, "effective_from": "2020-01-01", "effective_to": "2024-12-31",
             "eligibility": rule, "benefit": benefit},
            {"version": 2, "effective_from": "2025-01-01", "eligibility": rule, "benefit": benefit,
             **({"time_rules": ALL_DAY} if i % 4 == 0 else {})},
        ]  # fmt: skip
        policies.append(
            {
                "id": f"bench-{i:03d}",
                "title": {"zh": f"测试政策 {i}", "en": f"Benchmark policy {i}"},
                "lead_department": "benchmark",
                "legal_basis": {"title": "benchmark"},
                "delivery": "scan",
                "subject": "person",
                "status": "published",
                "region_scope": ("residents", "yrd", "everyone")[i % 3],
                "venues": {"types": [venue_type]},
                "versions": versions,
            }
        )
    return policies


def holder_mix() -> list[Profile]:
    """Kinds of holder as a park gate meets them: age bands by region, disability, martyr family, students."""
    profiles = []
    for i, (age, region) in enumerate(itertools.product((None, 60, 65, 70, 80), (310000, 320000, 440000))):
        profiles.append(Profile(bytes([i]) * 8, age_over=age, residence=region, version=1))
    profiles.append(Profile(b"d" * 8, disability_category=1, disability_grade=2, residence=310000))
    profiles.append(Profile(b"m" * 8, martyr_family=True, residence=310000))
    profiles.append(Profile(b"e" * 8, entitled_group=True, age_over=60, residence=330000))
    profiles.append(Profile(b"s" * 8, student_level=4, enrolled_until=dt.date(2030, 6, 30), residence=310000))
    return profiles


def gate_suite(world: World, plan: Plan) -> dict[str, Any]:
    root = generate_private_key(ES256)
    snapshot = load_snapshot(
        build_snapshot(synthetic_policies(), root, version=1, issued_at=NOW, max_age=86400), root.public_key()
    )
    decider, cold = Decider(snapshot), Decider(snapshot, memo=False)
    venue = Venue("bench-park-1", "park")
    mix = holder_mix()
    batches = plan.rounds + plan.warmup
    codes = iter([world.online(mix[i % len(mix)]) for i in range(batches * plan.n_signature)])
    verifier = world.verifier()

    def gate(text: str, now: float) -> None:
        decider.decide(verifier.verify(text, now), venue, now)

    pool: list[VerifiedCode] = [world.verifier().verify(world.online(p), VERIFY_AT) for p in mix]
    granted = sum(decider.decide(v, venue, VERIFY_AT).granted for v in pool)
    cases = {
        "verify + decide": (fresh(gate, codes, VERIFY_AT), plan.n_signature),
        "bare ES256 verify": (bare_verify(world.issuer_key), plan.n_signature),
        "decide": (each_star(decider.decide, [(v, venue, VERIFY_AT) for v in pool]), plan.n_decode),
        "decide, nothing remembered": (each_star(cold.decide, [(v, venue, VERIFY_AT) for v in pool]), plan.n_decode),
    }
    stats = interleave(cases, rounds=plan.rounds, warmup=plan.warmup)
    gate_us, bare_us = stats["verify + decide"].median_us, stats["bare ES256 verify"].median_us
    return {
        "policies": POLICY_COUNT,
        "candidates_for_venue": len(decider.candidates(venue)),
        "holder_kinds": len(mix),
        "granted_kinds": granted,
        "gate_us": gate_us,
        "bare_us": bare_us,
        "ratio": gate_us / bare_us,
        "decide_us": stats["decide"].median_us,
        "decide_cold_us": stats["decide, nothing remembered"].median_us,
        "stats": {name: s.to_json() for name, s in stats.items()},
    }


def print_gate(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"5. Gate path with a {result['policies']}-policy catalogue (ES256 online code, park)")
    for column in ("step", "median µs", "beside", "target", ""):
        table.add_column(column)
    ok = result["ratio"] <= TARGET_RATIO
    table.add_row(
        "verify + decide",
        f"{result['gate_us']:.1f}",
        f"{result['ratio']:.3f}x bare verify",
        f"<= {TARGET_RATIO}x",
        "met" if ok else "not met",
    )
    table.add_row("bare ES256 verify", f"{result['bare_us']:.1f}", "", "", "")
    decide_ok = result["decide_us"] <= TARGET_DECIDE_US
    table.add_row(
        f"decide ({result['candidates_for_venue']} candidate policies)",
        f"{result['decide_us']:.2f}",
        "",
        f"< {TARGET_DECIDE_US:.0f} µs",
        "met" if decide_ok else "not met",
    )
    cold_ok = result["decide_cold_us"] <= TARGET_DECIDE_US
    table.add_row(
        "decide, nothing remembered",
        f"{result['decide_cold_us']:.2f}",
        "every rule evaluated",
        f"< {TARGET_DECIDE_US:.0f} µs",
        "met" if cold_ok else "not met",
    )
    console.print(table)
    console.print(
        f"  {result['holder_kinds']} kinds of holder in turn ({result['granted_kinds']} granted); a decision is "
        "remembered per (venue, day, minute, group attributes), never per person.",
        style="dim",
    )
