"""One candidate of the search as a profile: the base profile with the candidate's values.

Values are set the way `prewarm sweep --set` sets them (`simulations.sweep.grid`), so a
candidate and a sweep point with the same values resolve to the same profile and so to the
same replay and cache key. A candidate that changes `forecast.kind` keeps the forecast
settings the new kind also has (quantile, bucket_s, history_s, ...) and takes the new kind's
defaults for the rest: holt-winters' `damped_trend` means nothing to seasonal-naive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoscaler.profile import ModelProfile, parse_profile
from simulations.sweep.grid import Overrides, Scalar, apply_overrides
from simulations.tune.search_space import KIND_PATH, kind_fields


def candidate_overrides(params: Mapping[str, Scalar]) -> Overrides:
    """The candidate's (path, value) pairs, the kind first (as `describe` prints them)."""
    ordered = sorted(params.items(), key=lambda item: item[0] != KIND_PATH)
    return tuple(ordered)


def candidate_data(base: ModelProfile, params: Mapping[str, Scalar]) -> dict[str, Any]:
    """The profile as a plain dict, before validation."""
    data = base.model_dump(mode="json")
    kind = params.get(KIND_PATH)
    if kind is not None and kind != base.forecast.kind:
        fields = kind_fields(str(kind)) if str(kind) in _known() else frozenset()
        kept = {k: v for k, v in data["forecast"].items() if k in fields and k != "kind"}
        data["forecast"] = {"kind": kind, **kept}
    rest = tuple((path, value) for path, value in params.items() if path != KIND_PATH)
    return apply_overrides(data, rest)


def candidate_profile(
    base: ModelProfile, params: Mapping[str, Scalar], source: str = "candidate"
) -> ModelProfile:
    """The validated profile (ProfileError naming `source` and the bad field, or GridError
    for a path through a value)."""
    return parse_profile(candidate_data(base, params), source)


def profile_params(profile: ModelProfile, paths: list[str]) -> dict[str, Any]:
    """The profile's own values at `paths` (absent ones left out): where the search starts."""
    data = profile.model_dump(mode="json")
    found: dict[str, Any] = {}
    for path in paths:
        node: Any = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            found[path] = node
    return found


def _known() -> frozenset[str]:
    from autoscaler.forecast.registry import FORECASTERS

    return frozenset(FORECASTERS)
