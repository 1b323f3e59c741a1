"""The catalogue as departments write it: a folder of YAML files, one policy each.

Validation reads every file and reports every problem at once (file, field path, message);
publishing signs a snapshot only from a catalogue with no problems at all.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, NamedTuple

from app.policy_text import PolicyTextError, load_yaml
from keys.algorithms import PrivateKey
from keys.errors import SuishenError
from verifier.catalogue import Policy, build_snapshot, missing_terms, parse_policy
from verifier.valuesets import ValueSet, parse_value_set


class FileProblem(NamedTuple):
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


class Catalogue(NamedTuple):
    policies: tuple[Policy, ...]
    sources: tuple[dict[str, Any], ...]  # JSON-ready plain data, dates as text
    problems: tuple[FileProblem, ...]
    value_sets: tuple[ValueSet, ...] = ()


def default_value_sets(catalogue_folder: Path) -> Path | None:
    """data/value_sets beside data/catalogue, when it exists."""
    folder = catalogue_folder.parent / "value_sets"
    return folder if folder.is_dir() else None


def load_value_sets(folder: Path) -> tuple[tuple[ValueSet, ...], list[FileProblem]]:
    sets: list[ValueSet] = []
    problems: list[FileProblem] = []
    names: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        data, problem = _read_yaml(path)
        if problem is not None:
            problems.append(problem)
            continue
        value_set, found = parse_value_set(data)
        problems.extend(FileProblem(path.name, p.path, f"expected {p.expected}, found {p.found}") for p in found)
        if value_set is None:
            continue
        if value_set.name in names:
            problems.append(
                FileProblem(path.name, "name", f"{value_set.name} is also defined in {names[value_set.name]}")
            )
        names[value_set.name] = path.name
        sets.append(value_set)
    return tuple(sets), problems


def _read_yaml(path: Path) -> tuple[Any, FileProblem | None]:
    """One file through the bounded loader (no aliases, nesting limited: app/policy_text.py)."""
    try:
        return load_yaml(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError) as exc:
        return None, FileProblem(path.name, "(file)", f"cannot read: {exc}")
    except PolicyTextError as exc:
        return None, FileProblem(path.name, exc.where or "(file)", exc.problem)


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def load_catalogue(folder: Path, value_sets: Path | None = None) -> Catalogue:
    """Every policy file in `folder` (and the value sets, by default from ../value_sets)."""
    sets_folder = value_sets if value_sets is not None else default_value_sets(folder)
    sets, set_problems = load_value_sets(sets_folder) if sets_folder is not None else ((), [])
    catalogue = _load_policies(folder)
    return catalogue._replace(value_sets=sets, problems=(*catalogue.problems, *set_problems))


def _load_policies(folder: Path) -> Catalogue:
    if not folder.is_dir():
        return Catalogue((), (), (FileProblem(str(folder), "(folder)", "not a folder"),))
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        return Catalogue((), (), (FileProblem(str(folder), "(folder)", "no .yaml policy files"),))
    policies: list[Policy] = []
    sources: list[dict[str, Any]] = []
    problems: list[FileProblem] = []
    seen: dict[str, str] = {}
    for path in files:
        name = path.name
        data, problem = _read_yaml(path)
        if problem is not None:
            problems.append(problem)
            continue
        source = json_ready(data)
        policy, found = parse_policy(source)
        found += missing_terms(policy) if policy is not None else []  # pays, and a confirm policy's notice
        problems.extend(FileProblem(name, p.path, f"expected {p.expected}, found {p.found}") for p in found)
        if policy is None:
            continue
        if path.stem != policy.id:
            problems.append(FileProblem(name, "id", f"file name must be {policy.id}.yaml"))
        if policy.id in seen:
            problems.append(FileProblem(name, "id", f"{policy.id} is already the id of {seen[policy.id]}"))
        seen[policy.id] = name
        policies.append(policy)
        sources.append(source)
    return Catalogue(tuple(policies), tuple(sources), tuple(problems))


class PublishError(SuishenError, ValueError):
    """A snapshot cannot be published: the catalogue has problems, or the file it replaces is not a snapshot."""


def publish(catalogue: Catalogue, key: PrivateKey, *, version: int, now: int, max_age: int) -> bytes:
    if catalogue.problems:
        raise PublishError(f"the catalogue has {len(catalogue.problems)} problem(s): nothing is published")
    return build_snapshot(
        list(catalogue.sources), key, version=version, issued_at=now, max_age=max_age, value_sets=catalogue.value_sets
    )


def next_version(previous_snapshot: Path) -> int:
    """One more than the snapshot being replaced (1 when there is none)."""
    try:
        return int(json.loads(previous_snapshot.read_bytes())["payload"]["version"]) + 1
    except FileNotFoundError:
        return 1
    except (ValueError, KeyError, TypeError):
        message = f"{previous_snapshot} exists but is not a catalogue snapshot; choose another --out"
        raise PublishError(message) from None
