"""Privilege decisions at a gate: real codes, a real signed snapshot, fixed local clocks (UTC+8)."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest

from keys.algorithms import ES256, generate_private_key
from tests.support.world import NOW, World, disabled_student, elderly, make_world
from verifier.catalogue import build_snapshot, load_snapshot
from verifier.claims import Profile
from verifier.decide import GRANTED, LOCAL_TIME, REJECTED, Decider, InMemoryUsage, Venue
from verifier.errors import Reason
from verifier.verify import VerifiedCode

ROOT = generate_private_key(ES256)
PARK = Venue("park-001", "park")
OTHER_PARK = Venue("park-002", "park")
MUSEUM = Venue("museum-001", "museum")
LONG = 20 * 365 * 86400


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0) -> float:
    """Seconds since the epoch for a local (UTC+8) wall-clock time."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=LOCAL_TIME).timestamp()


def policy(
    policy_id: str,
    eligibility: Any = None,
    *,
    benefit: dict[str, Any] | None = None,
    types: list[str] | None = None,
    ids: list[str] | None = None,
    scope: str = "everyone",
    time_rules: dict[str, Any] | None = None,
    limits: dict[str, Any] | None = None,
    versions: list[dict[str, Any]] | None = None,
    status: str = "published",
    delivery: str = "scan",
) -> dict[str, Any]:
    venues: dict[str, Any] = {}
    if types is not None or ids is None:
        venues["types"] = types if types is not None else ["park"]
    if ids is not None:
        venues["ids"] = ids
    if versions is None:
        version: dict[str, Any] = {
            "version": 1,
            "effective_from": "2019-01-01",
            "eligibility": eligibility if eligibility is not None else {"age": {">=": 65}},
            "benefit": benefit or {"kind": "free_entry"},
        }
        if time_rules is not None:
            version["time_rules"] = time_rules
        if limits is not None:
            version["limits"] = limits
        versions = [version]
    data: dict[str, Any] = {
        "id": policy_id,
        "title": {"zh": f"政策 {policy_id}", "en": f"Policy {policy_id}"},
        "lead_department": "上海市某局",
        "legal_basis": {"title": "某条例", "reference": "第一条"},
        "delivery": delivery,
        "subject": "person",
        "status": status,
        "region_scope": scope,
        "versions": versions,
    }
    if delivery == "scan":
        data["venues"] = venues
    return data


def decider(
    *policies: dict[str, Any],
    issued_at: int = 1_500_000_000,
    max_age: int = LONG,
    region: int = 310000,
    usage: InMemoryUsage | None = None,
    memo: bool = True,
) -> Decider:
    document = build_snapshot(list(policies), ROOT, version=1, issued_at=issued_at, region=region, max_age=max_age)
    return Decider(load_snapshot(document, ROOT.public_key()), usage, memo=memo)


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


def code(world: World, profile: Profile | None = None) -> VerifiedCode:
    """A real online code, verified at the world's clock."""
    return world.verifier().verify(world.online(profile or elderly()), world.now)


# --- the three basic outcomes ---------------------------------------------------------------


def test_granted_with_the_privilege_and_an_explanation(world: World) -> None:
    d = decider(policy("sh-park-senior-free"))
    decision = d.decide(code(world), PARK, NOW)
    assert decision.result == GRANTED and decision.granted
    assert decision.reason is None
    assert decision.day == dt.date(2027, 1, 15)
    assert decision.best is not None
    assert decision.best.policy_id == "sh-park-senior-free"
    assert decision.best.version == 1
    assert decision.best.benefit.kind == "free_entry"
    assert decision.explain() == [
        "Policy sh-park-senior-free (sh-park-senior-free v1): granted",
        "  ✓ age 65-69, needs ≥ 65",
    ]
    body = decision.to_json()
    assert body["result"] == "GRANTED" and body["reason"] is None
    assert body["privileges"] == [
        {
            "policy_id": "sh-park-senior-free",
            "version": 1,
            "title": {"zh": "政策 sh-park-senior-free", "en": "Policy sh-park-senior-free"},
            "benefit": "free entry",
            "companions": 0,
        }
    ]
    assert body["venue"] == {"id": "park-001", "type": "park", "region": 310000, "operator": ""}


def test_not_eligible_explains_each_failed_clause_with_values(world: World) -> None:
    d = decider(
        policy("sh-park-senior-free", {"age": {">=": 70}}),
        policy("sh-park-martyr-free", {"all": [{"member_of": "martyr_families"}, {"age": {">=": 60}}]}),
    )
    decision = d.decide(code(world, elderly(age_over=65)), PARK, NOW)
    assert decision.result == REJECTED and not decision.granted
    assert decision.reason is Reason.NOT_ELIGIBLE
    assert decision.privileges == () and decision.best is None
    lines = decision.explain()
    assert "Policy sh-park-senior-free (sh-park-senior-free v1): not eligible" in lines
    assert "  ✗ age 65-69, needs ≥ 70" in lines
    assert "Policy sh-park-martyr-free (sh-park-martyr-free v1): not eligible" in lines
    assert "  ✗ all of:" in lines
    assert "    ✗ not in the martyr families registry" in lines
    assert "    ✓ age 65-69, needs ≥ 60" in lines
    assert decision.to_json()["reason"] == "NOT_ELIGIBLE"
    assert [line["en"] for line in decision.to_json()["explanation"]] == lines


def test_the_explanation_is_in_chinese_first_line_for_line_with_the_english(world: World) -> None:
    d = decider(
        policy("sh-park-senior-free", {"age": {">=": 70}}),
        policy("sh-park-martyr-free", {"all": [{"member_of": "martyr_families"}, {"age": {">=": 60}}]}),
    )
    decision = d.decide(code(world, elderly(age_over=65)), PARK, NOW)
    zh = decision.explain("zh")
    assert len(zh) == len(decision.explain()) == len(decision.to_json()["explanation"])
    assert "  ✗ 年龄 65-69，需 ≥ 70" in zh
    assert "    ✗ 未列入烈属名册" in zh and "  ✗ 须全部满足：" in zh
    assert any(line.endswith("第1版）：不符合条件") for line in zh)
    assert [line["zh"] for line in decision.to_json()["explanation"]] == zh


def test_no_policy_for_venue(world: World) -> None:
    d = decider(
        policy("sh-park-senior-free"),
        policy("sh-museum-draft", types=["museum"], status="draft"),  # drafts are not published
        policy(
            "sh-senior-allowance",
            {"age": {">=": 65}},
            benefit={"kind": "amount", "amount_yuan": 75},
            delivery="direct",
        ),
    )
    decision = d.decide(code(world), MUSEUM, NOW)
    assert decision.result == REJECTED
    assert decision.reason is Reason.NO_POLICY_FOR_VENUE
    assert decision.explain() == ["no published policy covers museum venues or venue museum-001"]
    assert d.candidates(PARK) != () and d.candidates(MUSEUM) == ()


def test_policies_by_venue_id(world: World) -> None:
    d = decider(policy("sh-one-museum-free", ids=["museum-001"]))
    assert d.decide(code(world), MUSEUM, NOW).granted
    assert d.decide(code(world), Venue("museum-002", "museum"), NOW).reason is Reason.NO_POLICY_FOR_VENUE
    # a venue id policy adds to the venue-type policies, without duplicates
    both = decider(
        policy("sh-museums-discount", types=["museum"], benefit={"kind": "discount", "percent": 20}),
        policy("sh-one-museum-free", ids=["museum-001"]),
    )
    decision = both.decide(code(world), MUSEUM, NOW)
    assert [p.policy_id for p in decision.privileges] == ["sh-one-museum-free", "sh-museums-discount"]


def test_a_stale_snapshot_answers_catalogue_stale(world: World) -> None:
    d = decider(policy("sh-park-senior-free"), issued_at=NOW - 3600, max_age=3600)
    assert d.decide(code(world), PARK, NOW).granted  # exactly at the limit: still fresh
    stale = d.decide(code(world), PARK, NOW + 1)
    assert stale.result == REJECTED
    assert stale.reason is Reason.CATALOGUE_STALE
    assert stale.privileges == ()
    assert stale.explain() == ["the policy catalogue on this gate is out of date: check the holder's documents by hand"]
    # stale wins over "no policy": the gate cannot know what a newer catalogue covers
    assert d.decide(code(world), MUSEUM, NOW + 1).reason is Reason.CATALOGUE_STALE


# --- dated versions -------------------------------------------------------------------------


def park_senior_policies() -> list[dict[str, Any]]:
    free = policy(
        "sh-park-senior-free",
        versions=[
            {
                "version": 1,
                "effective_from": "2019-01-01",
                "effective_to": "2024-12-31",
                "eligibility": {"age": {">=": 70}},
                "benefit": {"kind": "free_entry"},
            },
            {
                "version": 2,
                "effective_from": "2025-01-01",
                "eligibility": {"age": {">=": 65}},
                "benefit": {"kind": "free_entry"},
            },
        ],
        scope="residents",
    )
    half = policy(
        "sh-park-senior-half-price",
        versions=[
            {
                "version": 1,
                "effective_from": "2019-01-01",
                "effective_to": "2024-12-31",
                "eligibility": {"age": {"between": [60, 69]}},
                "benefit": {"kind": "discount", "percent": 50},
            },
            {
                "version": 2,
                "effective_from": "2025-01-01",
                "eligibility": {"age": {"between": [60, 64]}},
                "benefit": {"kind": "discount", "percent": 50},
            },
        ],
        scope="residents",
    )
    return [free, half]


def test_the_same_code_on_two_dates_meets_two_versions(world: World) -> None:
    d = decider(*park_senior_policies())
    holder = code(world, elderly(age_over=65))
    before = d.decide(holder, PARK, at(2024, 12, 31, 23, 59))
    assert before.granted
    assert [(p.policy_id, p.version, p.benefit.percent) for p in before.privileges] == [
        ("sh-park-senior-half-price", 1, 50)
    ]
    assert "Policy sh-park-senior-free (sh-park-senior-free v1): not eligible" in before.explain()
    after = d.decide(holder, PARK, at(2025, 1, 1, 0, 0))  # local midnight is 16:00 UTC the day before
    assert after.granted
    assert [(p.policy_id, p.version) for p in after.privileges] == [("sh-park-senior-free", 2)]
    assert "Policy sh-park-senior-half-price (sh-park-senior-half-price v2): not eligible" in after.explain()
    assert "  ✗ age 65-69, needs 60 to 64" in after.explain()
    # the UTC date is still 2024-12-31 at that moment; the local date decides
    assert dt.datetime.fromtimestamp(at(2025, 1, 1, 0, 0), dt.UTC).date() == dt.date(2024, 12, 31)


def test_a_policy_not_yet_in_force(world: World) -> None:
    d = decider(
        policy(
            "sh-future-free",
            versions=[
                {
                    "version": 1,
                    "effective_from": "2030-01-01",
                    "eligibility": {"age": {">=": 60}},
                    "benefit": {"kind": "free_entry"},
                }
            ],
        )
    )
    decision = d.decide(code(world), PARK, NOW)
    assert decision.reason is Reason.NOT_ELIGIBLE
    assert decision.explain() == ["Policy sh-future-free (sh-future-free): not in force on this date"]
    assert d.decide(code(world), PARK, at(2030, 1, 1, 0, 0)).granted


# --- weekday and hour windows, in local time ------------------------------------------------


@pytest.mark.parametrize("memo", [True, False])
def test_weekday_and_hour_windows_use_local_time(world: World, memo: bool) -> None:
    d = decider(
        policy("sh-weekend-morning-free", time_rules={"weekdays": [6, 7], "hours": ["09:00", "11:00"]}), memo=memo
    )
    holder = code(world)
    assert d.decide(holder, PARK, at(2027, 1, 16, 9, 0)).granted  # Saturday, opening minute
    assert d.decide(holder, PARK, at(2027, 1, 17, 10, 59, 59)).granted  # Sunday, last second
    closed = d.decide(holder, PARK, at(2027, 1, 16, 11, 0))  # closing time is exclusive
    assert closed.reason is Reason.NOT_ELIGIBLE
    assert closed.explain()[0] == "Policy sh-weekend-morning-free (sh-weekend-morning-free v1): not at this day or hour"
    assert not d.decide(holder, PARK, at(2027, 1, 16, 8, 59, 59)).granted
    assert not d.decide(holder, PARK, at(2027, 1, 15, 9, 30)).granted  # a Friday
    assert not d.decide(holder, PARK, at(2027, 1, 18, 9, 30)).granted  # a Monday


def test_a_window_that_is_saturday_locally_but_friday_in_utc(world: World) -> None:
    d = decider(policy("sh-saturday-early", time_rules={"weekdays": [6], "hours": ["00:00", "01:00"]}))
    moment = dt.datetime(2027, 1, 15, 16, 30, tzinfo=dt.UTC).timestamp()  # Friday 16:30 UTC
    assert d.decide(code(world), PARK, moment).granted  # = Saturday 00:30 in Shanghai
    assert not d.decide(code(world), PARK, moment - 3600).granted  # Friday 23:30 in Shanghai
    friday_only = decider(policy("sh-friday", time_rules={"weekdays": [5]}))
    assert not friday_only.decide(code(world), PARK, moment).granted


# --- best benefit, companions ---------------------------------------------------------------


def test_free_entry_beats_a_discount_and_deeper_beats_shallower(world: World) -> None:
    d = decider(
        policy("a-discount-30", {"age": {">=": 60}}, benefit={"kind": "discount", "percent": 30}),
        policy("b-free-entry", {"age": {">=": 65}}, benefit={"kind": "free_entry"}),
        policy("c-discount-50", {"age": {">=": 60}}, benefit={"kind": "discount", "percent": 50}),
    )
    sixty_five = d.decide(code(world, elderly(age_over=65)), PARK, NOW)
    assert [p.policy_id for p in sixty_five.privileges] == ["b-free-entry", "c-discount-50", "a-discount-30"]
    assert sixty_five.best is not None and sixty_five.best.policy_id == "b-free-entry"
    assert [p["benefit"] for p in sixty_five.to_json()["privileges"]] == ["free entry", "50% off", "30% off"]
    sixty = d.decide(code(world, elderly(age_over=60)), PARK, NOW)
    assert [p.policy_id for p in sixty.privileges] == ["c-discount-50", "a-discount-30"]
    lines = sixty.explain()
    assert "Policy b-free-entry (b-free-entry v1): not eligible" in lines
    assert "Policy c-discount-50 (c-discount-50 v1): granted" in lines


def test_companions_are_part_of_the_privilege_and_break_ties(world: World) -> None:
    d = decider(
        policy("a-free-alone", benefit={"kind": "free_entry"}),
        policy("b-free-with-two", benefit={"kind": "free_entry", "companions": 2}),
    )
    decision = d.decide(code(world), PARK, NOW)
    assert [p.policy_id for p in decision.privileges] == ["b-free-with-two", "a-free-alone"]
    best = decision.to_json()["privileges"][0]
    assert best["companions"] == 2
    assert best["benefit"] == "free entry, with 2 companion(s)"


# --- region scopes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "residence", "granted", "note"),
    [
        ("residents", 310000, True, "granted (residents of 310000 only: the code states 310000)"),
        ("residents", 320000, False, "for residents of 310000 only (code: 320000)"),
        ("residents", None, False, "for residents of 310000 only (the code states no residence)"),
        ("yrd", 310000, True, "granted (Yangtze River Delta residents: the code states 310000)"),
        ("yrd", 320000, True, "granted (Yangtze River Delta residents: the code states 320000)"),
        ("yrd", 330000, True, "granted (Yangtze River Delta residents: the code states 330000)"),
        ("yrd", 340000, True, "granted (Yangtze River Delta residents: the code states 340000)"),
        ("yrd", 110000, False, "for Yangtze River Delta residents only (code: 110000)"),
        ("yrd", None, False, "for Yangtze River Delta residents only (the code states no residence)"),
        ("everyone", 110000, True, "granted"),
        ("everyone", None, True, "granted"),
    ],
)
def test_region_scopes(world: World, scope: str, residence: int | None, granted: bool, note: str) -> None:
    d = decider(policy("sh-park-scoped", scope=scope))
    decision = d.decide(code(world, elderly(residence=residence)), PARK, NOW)
    assert decision.granted is granted
    assert decision.explain()[0] == f"Policy sh-park-scoped (sh-park-scoped v1): {note}"


def test_residents_are_those_of_the_snapshot_region(world: World) -> None:
    d = decider(policy("js-park-residents", scope="residents"), region=320000)
    assert d.decide(code(world, elderly(residence=320000)), PARK, NOW).granted
    assert not d.decide(code(world, elderly(residence=310000)), PARK, NOW).granted


def test_remembered_eligibility_does_not_leak_between_groups(world: World) -> None:
    d = decider(policy("sh-park-residents", scope="residents"))
    assert d.decide(code(world, elderly(residence=310000)), PARK, NOW).granted
    assert not d.decide(code(world, elderly(residence=320000)), PARK, NOW).granted  # same venue and minute
    assert not d.decide(code(world, elderly(age_over=60)), PARK, NOW).granted
    assert d.decide(code(world, elderly(residence=310000)), PARK, NOW).granted


# --- attributes at the gate -------------------------------------------------------------------


def test_age_bands_at_the_gate(world: World) -> None:
    d = decider(
        policy("a-seventy-plus", {"age": {">=": 70}}),
        policy("b-under-seventy", {"age": {"<": 70}}, benefit={"kind": "discount", "percent": 40}),
        policy("c-sixty-to-sixty-four", {"age": {"between": [60, 64]}}, benefit={"kind": "discount", "percent": 20}),
    )
    at_65 = d.decide(code(world, elderly(age_over=65)), PARK, NOW)
    assert [p.policy_id for p in at_65.privileges] == ["b-under-seventy"]
    assert "  ✗ age 65-69, needs ≥ 70" in at_65.explain()
    assert "  ✓ age 65-69, needs < 70" in at_65.explain()
    at_60 = d.decide(code(world, elderly(age_over=60)), PARK, NOW)
    assert [p.policy_id for p in at_60.privileges] == ["b-under-seventy", "c-sixty-to-sixty-four"]
    at_70 = d.decide(code(world, elderly(age_over=70)), PARK, NOW)
    assert [p.policy_id for p in at_70.privileges] == ["a-seventy-plus"]
    at_80 = d.decide(code(world, elderly(age_over=80)), PARK, NOW)
    assert [p.policy_id for p in at_80.privileges] == ["a-seventy-plus"]
    no_age = d.decide(code(world, elderly(age_over=None)), PARK, NOW)
    assert no_age.reason is Reason.NOT_ELIGIBLE
    assert "  ✗ age not known, needs < 70" in no_age.explain()


def test_student_enrolment_is_compared_with_the_decision_date(world: World) -> None:
    d = decider(
        policy(
            "sh-museum-student-free",
            {"all": [{"member_of": "students"}, {"student.enrolled_until": {">=": "today"}}]},
            types=["museum"],
        ),
        policy(
            "sh-museum-disabled-free",
            {"disability.grade": {"<=": 2}},
            types=["museum"],
            benefit={"kind": "free_entry", "companions": 1},
        ),
    )
    student = code(world, disabled_student())  # enrolled until 2027-06-30, disability grade 1
    during = d.decide(student, MUSEUM, at(2027, 6, 30, 23, 0))
    assert [p.policy_id for p in during.privileges] == ["sh-museum-disabled-free", "sh-museum-student-free"]
    after = d.decide(student, MUSEUM, at(2027, 7, 1, 0, 30))
    assert [p.policy_id for p in after.privileges] == ["sh-museum-disabled-free"]
    assert "    ✗ enrolled until 2027-06-30, needs ≥ 2027-07-01" in after.explain()


def test_martyr_family_membership_at_the_gate(world: World) -> None:
    d = decider(policy("sh-park-martyr-free", {"member_of": "martyr_families"}))
    assert d.decide(code(world, Profile(subject=os.urandom(8), martyr_family=True)), PARK, NOW).granted
    refused = d.decide(code(world, elderly()), PARK, NOW)
    assert refused.explain()[1] == "  ✗ not in the martyr families registry"


# --- daily limits ---------------------------------------------------------------------------


def test_daily_limit_per_venue(world: World) -> None:
    usage = InMemoryUsage()
    d = decider(policy("sh-park-once-a-day", limits={"uses_per_day_per_venue": 1}), usage=usage)
    profile = elderly()
    first = d.decide(code(world, profile), PARK, at(2027, 1, 15, 9, 0))
    assert first.granted
    assert usage.count((profile.subject, "park-001", "sh-park-once-a-day", dt.date(2027, 1, 15))) == 1
    again = d.decide(code(world, profile), PARK, at(2027, 1, 15, 9, 1))
    assert again.reason is Reason.NOT_ELIGIBLE
    assert again.explain()[0] == (
        "Policy sh-park-once-a-day (sh-park-once-a-day v1): already used 1 time(s) today at this venue (limit 1)"
    )
    assert usage.count((profile.subject, "park-001", "sh-park-once-a-day", dt.date(2027, 1, 15))) == 1
    assert d.decide(code(world, profile), OTHER_PARK, at(2027, 1, 15, 9, 2)).granted  # another venue
    assert d.decide(code(world, elderly()), PARK, at(2027, 1, 15, 9, 3)).granted  # another person
    assert d.decide(code(world, profile), PARK, at(2027, 1, 16, 0, 0)).granted  # the next local day


def test_daily_limits_count_local_days(world: World) -> None:
    usage = InMemoryUsage()
    d = decider(policy("sh-park-twice-a-day", limits={"uses_per_day_per_venue": 2}), usage=usage)
    profile = elderly()
    assert d.decide(code(world, profile), PARK, at(2027, 1, 15, 0, 30)).granted  # 16:30 UTC on the 14th
    assert d.decide(code(world, profile), PARK, at(2027, 1, 15, 23, 30)).granted  # 15:30 UTC on the 15th
    third = d.decide(code(world, profile), PARK, at(2027, 1, 15, 23, 59, 59))
    assert third.reason is Reason.NOT_ELIGIBLE
    assert "already used 2 time(s) today at this venue (limit 2)" in third.explain()[0]
    assert d.decide(code(world, profile), PARK, at(2027, 1, 16, 0, 0)).granted


def test_a_used_up_privilege_gives_way_to_the_next_best(world: World) -> None:
    usage = InMemoryUsage()
    d = decider(
        policy("a-free-once", limits={"uses_per_day_per_venue": 1}),
        policy("b-half-price", benefit={"kind": "discount", "percent": 50}),
        usage=usage,
    )
    profile = elderly()
    first = d.decide(code(world, profile), PARK, NOW)
    assert [p.policy_id for p in first.privileges] == ["a-free-once", "b-half-price"]
    second = d.decide(code(world, profile), PARK, NOW + 60)
    assert second.granted
    assert [p.policy_id for p in second.privileges] == ["b-half-price"]
    assert "Policy a-free-once (a-free-once v1): already used 1 time(s) today at this venue (limit 1)" in (
        second.explain()
    )


def test_without_a_ledger_limits_are_not_counted(world: World) -> None:
    d = decider(policy("sh-park-once-a-day", limits={"uses_per_day_per_venue": 1}))
    profile = elderly()
    assert d.decide(code(world, profile), PARK, NOW).granted
    assert d.decide(code(world, profile), PARK, NOW + 60).granted


def test_a_card_decision_says_check_photo_id_granted_or_not(world: World) -> None:
    d = decider(policy("p-senior"))
    now = world.now + 3600
    card = world.verifier().verify(world.card(elderly(), number=7), now, PARK.id)
    granted = d.decide(card, PARK, now).to_json()
    assert (granted["result"], granted["check_id"]) == (GRANTED, True)
    assert granted["explanation"][0]["en"] == "card SC 0000 0000 0007: check the holder's photo ID"
    young = world.verifier().verify(world.card(elderly(age_over=None), number=8), now, PARK.id)
    refused = d.decide(young, PARK, now).to_json()
    assert (refused["result"], refused["reason"], refused["check_id"]) == (REJECTED, "NOT_ELIGIBLE", True)
    assert refused["explanation"][0]["en"] == "card SC 0000 0000 0008: check the holder's photo ID"
    online = d.decide(code(world), PARK, world.now).to_json()
    assert online["check_id"] is False
    assert not any("photo ID" in line["en"] for line in online["explanation"])
