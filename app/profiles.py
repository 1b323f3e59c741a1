"""Reading a holder profile from JSON, with every problem named."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from keys.errors import SuishenError
from verifier.claims import Profile, profile_problems

_INT_FIELDS = ("age_over", "disability_category", "disability_grade", "student_level", "residence", "version",
               "enterprise_region")  # fmt: skip
_BOOL_FIELDS = ("martyr_family", "entitled_group", "enterprise", "credit_good")
FIELDS = frozenset(("subject", "enrolled_until", *_INT_FIELDS, *_BOOL_FIELDS))


class ProfileError(SuishenError, ValueError):
    pass


def profile_from_json(data: Any) -> Profile:
    if not isinstance(data, dict):
        raise ProfileError("profile must be a JSON object")
    problems = [f"unknown field {name!r}" for name in sorted(set(data) - FIELDS)]
    subject = b""
    try:
        subject = bytes.fromhex(str(data.get("subject", "")))
    except ValueError:
        problems.append("subject must be hex")
    values: dict[str, Any] = {}
    for name in _INT_FIELDS:
        value = data.get(name)
        if value is not None and (type(value) is not int):
            problems.append(f"{name} must be an integer")
        elif value is not None:
            values[name] = value
    for name in _BOOL_FIELDS:
        value = data.get(name, False)
        if type(value) is not bool:
            problems.append(f"{name} must be true or false")
        values[name] = value is True
    enrolled = data.get("enrolled_until")
    if enrolled is not None:
        try:
            values["enrolled_until"] = dt.date.fromisoformat(str(enrolled))
        except ValueError:
            problems.append("enrolled_until must be a date YYYY-MM-DD")
    if problems:
        raise ProfileError("; ".join(problems))
    profile = Profile(subject=subject, **values)
    problems = profile_problems(profile)
    if problems:
        raise ProfileError("; ".join(problems))
    return profile


def read_profile(path: Path) -> Profile:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ProfileError(f"{path} is not valid JSON: {exc}") from None
    return profile_from_json(data)
