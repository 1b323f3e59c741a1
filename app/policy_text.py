"""Reading policy text (YAML, or JSON) with bounds: no aliases, limited nesting, no stack traces.

A policy is a small tree that a department writes by hand, so nothing in it needs YAML anchors
and aliases, and nothing needs more than a few levels of nesting. Without these bounds a 447-byte
draft of nested aliases expanded to 10^7 nodes (32.6 s and 2.6 GB, the server unresponsive), and
5,000 nested brackets overflowed the composer's recursion (a 500 with a 3,000-line traceback).

So the loader is PyYAML's safe loader with two changes in the composer: an alias (`*name`) is
an error that says where it is, and so is a node nested deeper than `MAX_DEPTH`. JSON drafts get
the same depth bound (the check runs before `json.loads`, whose recursion would overflow too).
Every failure is one `PolicyTextError` whose message starts with "line L, column C: ".
Parsing stays linear in the text; callers on an event loop run it in a worker thread.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import Node

MAX_DEPTH = 64


class PolicyTextError(ValueError):
    """The text is not a readable policy tree; `where` is "line L, column C" (or "" if unknown)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses aliases and nodes nested deeper than MAX_DEPTH."""

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


def load_json(text: str) -> Any:
    """JSON text as plain data, or PolicyTextError (also for nesting json.loads would overflow on)."""
    problem = json_depth_problem(text)
    if problem is not None:
        raise problem
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyTextError(f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}") from None
    except (RecursionError, ValueError) as exc:
        raise PolicyTextError("", f"not valid JSON: {exc}") from None


__all__ = ["MAX_DEPTH", "PolicyTextError", "json_depth_problem", "load_json", "load_yaml"]
