"""Label and field selectors as the list and watch query parameters spell them.

Labels: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, joined by commas (AND).
Fields: `path=v`, `path==v`, `path!=v`, only on metadata.name, metadata.namespace and the
resource's selectable fields; any other is a 400, as the real server answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.kube_api_server import errors
from tests.kube_api_server.resources import FIELD_SELECTABLE, Resource

Matcher = Callable[[dict[str, Any]], bool]
_SET = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split(selector: str) -> list[str]:
    """Commas separate terms except inside `in (...)` sets."""
    terms, depth, current = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def _label_term(term: str) -> Matcher:
    found = _SET.match(term)
    if found:
        key, op, values = found.group(1), found.group(2), found.group(3)
        allowed = {v.strip() for v in values.split(",")}
        if op == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    for op in ("!=", "==", "="):
        if op in term:
            key, value = (s.strip() for s in term.split(op, 1))
            if op == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    if term.startswith("!"):
        key = term[1:].strip()
        return lambda labels: key not in labels
    return lambda labels: term in labels


def label_matcher(selector: str | None) -> Matcher:
    terms = [_label_term(t) for t in _split(selector or "")]

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(t(labels) for t in terms)

    return matches


def _field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_matcher(selector: str | None, resource: Resource) -> Matcher:
    allowed = {"metadata.name", "metadata.namespace"} | FIELD_SELECTABLE.get(
        resource.plural, frozenset()
    )
    terms: list[tuple[str, bool, str]] = []
    for term in _split(selector or ""):
        for op in ("!=", "==", "="):
            if op in term:
                path, value = (s.strip() for s in term.split(op, 1))
                break
        else:
            raise errors.bad_request(f'invalid selector: "{term}"; can\'t understand "{term}"')
        if path not in allowed:
            raise errors.bad_request(
                f'field label not supported: "{path}"'
                if resource.group == ""
                else f'"{path}" is not a known field selector: only "metadata.name", '
                '"metadata.namespace"'
            )
        terms.append((path, op == "!=", value))

    def matches(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, p) == v) != negate for p, negate, v in terms)

    return matches
