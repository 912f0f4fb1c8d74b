"""Replays one trace through several policies with identical fleets, seeds and start.

Every policy starts from the same warm fleet (sized for the first five minutes at the target
utilisation, ready at t = 0) and gets the same cold-start jitter sequence, so differences
come from the policies alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from autoscaler.capacity import replicas_for
from autoscaler.profile import ModelProfile
from simulations.fleet.offered_load import OfferedLoad
from simulations.fleet.physics import FleetPhysics
from simulations.fleet.replay import replay
from simulations.policies.baselines import (
    OraclePolicy,
    ReactiveQueuePolicy,
    ReactiveTokensPolicy,
    StaticPolicy,
)
from simulations.policies.policy import Policy
from simulations.policies.predictive import PredictivePolicy
from simulations.run_result import PolicyRun
from simulations.traces.request_trace import RequestTrace

POLICY_NAMES = ("predictive", "reactive", "reactive-tokens", "static", "oracle")
DEFAULT_POLICIES = ("predictive", "reactive", "reactive-tokens", "oracle")


def parse_policy_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in POLICY_NAMES]
    if unknown or not names:
        raise ValueError(
            f"unknown policy {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(POLICY_NAMES)}"
        )
    return list(dict.fromkeys(names))  # keep order, drop repeats


def initial_replicas(offered: OfferedLoad, profile: ModelProfile) -> int:
    first = offered.slo_demand_replicas[: max(1, round(300 / offered.tick_s))]
    need = replicas_for(float(first.mean()) if first.size else 0.0, profile.target_utilisation)
    return min(max(need, profile.replicas.min, 1), profile.replicas.max)


def build_policy(
    name: str, profile: ModelProfile, offered: OfferedLoad, physics: FleetPhysics, start: int
) -> Policy:
    if name == "predictive":
        return PredictivePolicy(profile, start)
    if name == "reactive":
        return ReactiveQueuePolicy(profile, start)
    if name == "reactive-tokens":
        return ReactiveTokensPolicy(profile, start)
    if name == "static":
        return StaticPolicy.for_peak(offered, profile)
    if name == "oracle":
        worst_cold_start_s = physics.cold_start_s * (1 + physics.cold_start_jitter)
        return OraclePolicy(offered, profile, worst_cold_start_s)
    raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICY_NAMES)}")


def simulate(
    trace: RequestTrace,
    profile: ModelProfile,
    physics: FleetPhysics,
    policy_names: Sequence[str],
    *,
    seed: int = 0,
    tick_s: float = 1.0,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[PolicyRun]:
    """Runs every named policy; `on_progress(policy, ticks_done, ticks_total)`."""
    offered = OfferedLoad.from_trace(trace, physics, tick_s)
    start = initial_replicas(offered, profile)
    runs = []
    for name in policy_names:
        policy = build_policy(name, profile, offered, physics, start)
        start_for_policy = policy.replicas if isinstance(policy, StaticPolicy) else start
        progress = None
        if on_progress is not None:

            def progress(done: int, _name: str = name) -> None:
                on_progress(_name, done, offered.n_ticks)

        runs.append(
            replay(
                trace,
                offered,
                policy,
                physics,
                initial_replicas=start_for_policy,
                slo_ttft_s=profile.ttft_slo_s,
                seed=int(np.random.SeedSequence([seed]).generate_state(1)[0]),
                progress=progress,
            )
        )
    return runs
