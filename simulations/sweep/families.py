"""Which profile keys each policy family reads, so a sweep runs each distinct replay once.

`reactive-tokens` never reads `forecast.*`: sweeping `forecast.quantile` over three values
would replay it three times for the same numbers. A family's effective overrides are the
ones it reads; points with the same effective overrides are one replay.

Every family reads what the replay itself is built from (`COMMON`): the fleet model
(`capacity`, `cold_start_s`), the SLO, and the starting fleet, sized at
`target_utilisation` within `replicas`. A family not listed here (a new one in
`simulations.runner.POLICY_NAMES`) is assumed to read everything: never wrong, only slower.
Declare it here once it exists. `test_sweep_families.py` checks each declaration by
replaying with a key it claims not to read changed.

Worked number: `--set target_utilisation=0.5:0.9:0.1 --set forecast.quantile=0.8,0.9,0.95`
is 15 replays of predictive but 5 of reactive-tokens and 5 of oracle.
"""

from __future__ import annotations

from collections.abc import Iterable

from simulations.sweep.grid import Overrides

ALL = ("",)  # the empty prefix matches every path
COMMON = ("capacity", "cold_start_s", "ttft_slo_s", "target_utilisation", "replicas")

FAMILY_KEYS: dict[str, tuple[str, ...]] = {
    "predictive": ALL,  # the production engine reads the whole profile
    "reactive": COMMON,  # KEDA's queue threshold, polling and HPA window are its own
    "reactive-tokens": (*COMMON, "decision_interval_s"),  # the HPA's window is its own
    # Its predictor is seeded with the back-filled warm-up (simulations.warmup: the fleet
    # replayed for the history reads the KV target, scale-down delay and forecast buckets);
    # its correction sizes a typical request when few finish.
    "dynamo-like": (
        *COMMON,
        "typical_request",
        "kv_target_utilisation",
        "scaling.scale_down_delay_s",
        "forecast.bucket_s",
        "forecast.history_s",
    ),
    "static": COMMON,
    "oracle": (*COMMON, "decision_interval_s"),
}


def keys_read(family: str) -> tuple[str, ...]:
    return FAMILY_KEYS.get(family, ALL)


def reads(family: str, path: str) -> bool:
    """Whether `family`'s replay depends on the profile value at dotted `path`."""
    return any(_related(key, path) for key in keys_read(family))


def _related(key: str, path: str) -> bool:
    if not key or key == path:
        return True
    # capacity covers capacity.prompt_tokens_per_s; an override of a whole section covers
    # the keys inside it.
    return path.startswith(key + ".") or key.startswith(path + ".")


def effective(family: str, overrides: Overrides) -> Overrides:
    """The overrides `family` reads, in their order."""
    return tuple((path, value) for path, value in overrides if reads(family, path))


def ignored_paths(family: str, paths: Iterable[str]) -> list[str]:
    """The swept paths `family` does not read (said in the sweep's output)."""
    return [path for path in paths if not reads(family, path)]
