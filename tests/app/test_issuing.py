"""A code carries only the group attributes that some published scan-mode policy reads."""

from __future__ import annotations

import datetime as dt
import os

from app.issuing import Issuer, carried_profile
from tests.support.world import make_world
from verifier.claims import Profile

FULL = Profile(
    subject=os.urandom(8),
    age_over=70,
    disability_category=4,
    disability_grade=2,
    martyr_family=True,
    entitled_group=True,
    student_level=5,
    enrolled_until=dt.date(2027, 6, 30),
    residence=310000,
    version=7,
)


def test_only_attributes_read_by_scan_policies_are_carried() -> None:
    kept = carried_profile(FULL, frozenset({"age", "residence.region"}))
    assert kept.age_over == 70 and kept.residence == 310000
    assert kept.disability_category is None and kept.disability_grade is None
    assert kept.martyr_family is False and kept.entitled_group is False
    assert kept.student_level is None and kept.enrolled_until is None
    assert kept.subject == FULL.subject and kept.version == FULL.version


def test_paired_attributes_travel_together() -> None:
    kept = carried_profile(FULL, frozenset({"disability.grade", "student.enrolled_until"}))
    assert (kept.disability_category, kept.disability_grade) == (4, 2)
    assert (kept.student_level, kept.enrolled_until) == (5, dt.date(2027, 6, 30))
    assert kept.age_over is None and kept.residence is None


def test_issuer_with_carry_list_makes_smaller_codes_that_verify() -> None:
    world = make_world()
    full_code = world.online(FULL)
    lean = Issuer(world.issuer.issuer, world.issuer.entry, world.issuer_key, carry=frozenset({"age"}))
    from verifier.code import online_code

    lean_code = online_code(lean.credential(FULL, world.now))
    assert len(lean_code) < len(full_code)
    verified = world.verifier().verify(lean_code, world.now)
    assert verified.profile.age_over == 70
    assert verified.profile.martyr_family is False and verified.profile.residence is None
