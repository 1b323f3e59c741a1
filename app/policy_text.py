"""Reading policy text (YAML, or JSON) with bounds: no aliases, limited nesting, no stack traces.

A policy is a small tree that a department writes by hand, so nothing in it needs YAML anchors
and aliases, and nothing needs more than a few levels of nesting. Without these bounds a 447-byte
draft of nested aliases expanded to 10^7 nodes (32.6 s and 2.6 GB, the server unresponsive), and
5,000 nested brackets overflowed the composer's recursion (a 500 with a 3,000-line traceback).

So the loader is PyYAML's safe loader with two changes in the composer: an alias (`*name`) is
an error that says where it is, and so is a node nested deeper than `MAX_DEPTH`. JSON drafts get
the same depth bound (the check runs before `json.loads`, whose recursion would overflow too).

Two more in the constructor, for text that reads without complaint but not as written: a key
given twice in one mapping is an error naming the key and both lines (YAML and `json.loads`
both keep the last, so a second `id:` silently replaced the first), and an unquoted date that
does not exist (2019-02-30) is an error naming its key, not a bare ValueError from `datetime`.

Every failure is one `PolicyTextError` whose message starts with "line L, column C: ".
Parsing stays linear in the text; callers on an event loop run it in a worker thread.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from keys.errors import SuishenError

MAX_DEPTH = 64
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
MERGE_TAGS = ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value")  # `<<` and `=`: flattened by PyYAML, no keys


class PolicyTextError(SuishenError, ValueError):
    """The text is not a readable policy tree; `where` is "line L, column C" (or "" if unknown)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _duplicate(key: Any, line: int | None = None) -> str:
    """The problem text for a key given twice (`line` is where it was first, 1-based, when known)."""
    name = f'"{key}"' if isinstance(key, str) else repr(key)
    first = f" (first at line {line})" if line is not None else ""
    return f"duplicate key {name}{first}: a key may appear only once in a mapping"


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, nodes nested deeper than MAX_DEPTH, repeated keys and impossible dates."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise PolicyTextError(_where(event.start_mark), "YAML aliases (*name) are not allowed in a policy")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise PolicyTextError(_where(event.start_mark), f"nested deeper than {MAX_DEPTH} levels")
            return Composer.compose_node(self, parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        """The mapping, once every key in it is known to be there only once and its dates to exist."""
        if isinstance(node, MappingNode):
            seen: dict[Any, Node] = {}
            for key_node, value_node in node.value:
                if key_node.tag in MERGE_TAGS:
                    continue
                key = self.construct_object(key_node, deep=False)  # kept by the constructor: built once
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # an unhashable key: PyYAML's own error says so below
                    continue
                if first is not key_node:
                    raise PolicyTextError(_where(key_node.start_mark), _duplicate(key, first.start_mark.line + 1))
                if isinstance(value_node, ScalarNode) and value_node.tag == TIMESTAMP_TAG:
                    try:
                        self.construct_object(value_node, deep=False)
                    except PolicyTextError as exc:
                        raise PolicyTextError(exc.where, f"{key}: {exc.problem}") from None
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node: ScalarNode) -> Any:
        """A date or time; one that does not exist (2019-02-30, hour 25) is a located error, not a ValueError."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise PolicyTextError(
                _where(node.start_mark), f"expected a date that exists, found {node.value} ({exc})"
            ) from None


_BoundedLoader.add_constructor(TIMESTAMP_TAG, _BoundedLoader.construct_yaml_timestamp)


def load_yaml(text: str) -> Any:
    """One YAML document as plain data, or PolicyTextError."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader subclass: no arbitrary objects
    except PolicyTextError:
        raise
    except yaml.MarkedYAMLError as exc:
        raise PolicyTextError(_where(exc.problem_mark), f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise PolicyTextError("", f"not valid YAML: {exc}") from None
    except RecursionError:  # not expected with the depth bound; never a stack trace all the same
        raise PolicyTextError("", f"nested too deeply (more than {MAX_DEPTH} levels)") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise PolicyTextError("", f"a value cannot be read: {exc}") from None


def json_depth_problem(text: str) -> PolicyTextError | None:
    """Where JSON text first nests deeper than MAX_DEPTH (strings skipped), or None. Linear, no recursion."""
    depth, line, column, in_string, escaped = 0, 1, 0, False, False
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return PolicyTextError(f"line {line}, column {column}", f"nested deeper than {MAX_DEPTH} levels")
        elif char in "]}":
            depth -= 1
    return None


class _DuplicateKey(SuishenError):
    """Raised inside json.loads by the pairs hook, which has no position to report; load_json locates it."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook for json.loads: a key given twice is refused (json.loads keeps the last)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _located_duplicate(text: str, key: str) -> PolicyTextError:
    """The duplicate-key error, located by the YAML reader (JSON is YAML too) when it can be."""
    try:
        load_yaml(text)
    except PolicyTextError as exc:
        if exc.problem.startswith("duplicate key"):
            return exc
    return PolicyTextError("", _duplicate(key))


def load_json(text: str) -> Any:
    """JSON text as plain data, or PolicyTextError (for a repeated key, and nesting json.loads would overflow on)."""
    problem = json_depth_problem(text)
    if problem is not None:
        raise problem
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as exc:
        raise _located_duplicate(text, exc.key) from None
    except json.JSONDecodeError as exc:
        raise PolicyTextError(f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}") from None
    except (RecursionError, ValueError) as exc:
        raise PolicyTextError("", f"not valid JSON: {exc}") from None


__all__ = ["MAX_DEPTH", "PolicyTextError", "json_depth_problem", "load_json", "load_yaml"]
