"""The catalogue as departments write it: a folder of YAML files, one policy each.

Validation reads every file and reports every problem at once (file, field path, message);
publishing signs a snapshot only from a catalogue with no problems at all.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from keys.algorithms import PrivateKey
from verifier.catalogue import Policy, build_snapshot, parse_policy


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


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def load_catalogue(folder: Path) -> Catalogue:
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
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(FileProblem(name, "(file)", f"cannot read: {exc}"))
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
            problems.append(FileProblem(name, where, f"not valid YAML: {getattr(exc, 'problem', exc)}"))
            continue
        source = _json_ready(data)
        policy, found = parse_policy(source)
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


def publish(catalogue: Catalogue, key: PrivateKey, *, version: int, now: int, max_age: int) -> bytes:
    if catalogue.problems:
        raise ValueError(f"the catalogue has {len(catalogue.problems)} problem(s): nothing is published")
    return build_snapshot(list(catalogue.sources), key, version=version, issued_at=now, max_age=max_age)


def next_version(previous_snapshot: Path) -> int:
    """One more than the snapshot being replaced (1 when there is none)."""
    try:
        return int(json.loads(previous_snapshot.read_bytes())["payload"]["version"]) + 1
    except FileNotFoundError:
        return 1
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{previous_snapshot} exists but is not a catalogue snapshot; choose another --out") from None
