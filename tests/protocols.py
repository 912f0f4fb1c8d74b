"""Checks that a class keeps a seam's Protocol, at runtime (mypy does not check tests/)."""

from __future__ import annotations

import inspect
from typing import get_type_hints


def protocol_mismatches(cls: type, protocol: type) -> list[str]:
    """Where `cls` departs from `protocol`'s methods: one missing, sync where the protocol's
    is async, other parameters (names, kinds, defaults) or other types. At runtime, because
    mypy does not check tests/: a `typed: MetricSource = ...` line here would check nothing."""
    members = [name for name in vars(protocol) if not name.startswith("_")]
    assert members, f"{protocol.__name__} declares no methods"
    found = []
    for name in members:
        want, got = getattr(protocol, name), getattr(cls, name, None)
        if got is None:
            found.append(f"{name}: missing")
            continue
        if inspect.iscoroutinefunction(got) != inspect.iscoroutinefunction(want):
            found.append(f"{name}: async differs")
        params = [
            [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]
            for f in (want, got)
        ]
        if params[0] != params[1]:
            found.append(f"{name}: parameters {params[1]}, protocol {params[0]}")
        if get_type_hints(got) != get_type_hints(want):
            found.append(f"{name}: types {get_type_hints(got)}, protocol {get_type_hints(want)}")
    return found
