"""The profile's group attributes, by name: what deciders remember eligibility by."""

from __future__ import annotations

import datetime as dt

from verifier.claims import GROUP_FIELDS, Profile, group_key

SENIOR = Profile(b"a" * 8, age_over=65, residence=310000, version=1)


def test_group_fields_are_every_attribute_but_the_subject_and_the_version() -> None:
    assert set(GROUP_FIELDS) == set(Profile._fields) - {"subject", "version"}
    full = Profile(b"b" * 8, 70, 2, 3, True, True, 5, dt.date(2030, 6, 30), 320000, 7)
    assert group_key(full) == tuple(getattr(full, name) for name in GROUP_FIELDS)


def test_two_holders_of_the_same_groups_share_a_key_and_any_other_group_does_not() -> None:
    assert group_key(SENIOR) == group_key(SENIOR._replace(subject=b"c" * 8, version=9))
    others = {
        "age_over": 70, "disability_category": 1, "disability_grade": 1, "martyr_family": True,
        "entitled_group": True, "student_level": 4, "enrolled_until": dt.date(2030, 6, 30), "residence": 320000,
        "enterprise": True, "credit_good": True, "enterprise_region": 310000,  # an enterprise's code (法人随申码)
    }  # fmt: skip
    assert set(others) == set(GROUP_FIELDS)
    for name, value in others.items():
        assert group_key(SENIOR._replace(**{name: value})) != group_key(SENIOR), name
