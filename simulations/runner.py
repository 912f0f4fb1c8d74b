"""Replays one trace through several policies with identical fleets, seeds and start.

Every policy starts from the same warm fleet (sized for the first five minutes at the target
utilisation, ready at t = 0) and gets the same cold-start jitter sequence, so differences
come from the policies alone.

- Warm-up: the first `warmup_s` of the trace is back-filled into the predictive engine and
  dynamo-like's load predictor, as production back-fills from Prometheus (see
  `simulations.warmup`); every policy replays and is scored on the rest only, so all are
  compared on the same window.
- Drain: after the last arrival the replay goes on for `request_timeout_s` without arrivals,
  so requests still queued at the end are served (or time out) instead of counting as
  dropped. Nobody decides during the drain: the fleet the trace ended with serves the
  backlog (an oracle would otherwise see zero demand and release it). GPU-hours and the
  per-tick series cover the arrival span only, as before; the drain is not billed, since
  in reality that fleet would be serving the traffic that follows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from autoscaler.capacity import replicas_for
from autoscaler.observation import Observation
from autoscaler.profile import ModelProfile
from simulations.fleet.offered_load import OfferedLoad
from simulations.fleet.physics import FleetPhysics
from simulations.fleet.placement import SimPlacement
from simulations.fleet.replay import replay
from simulations.policies.baselines import (
    OraclePolicy,
    ReactiveQueuePolicy,
    ReactiveTokensPolicy,
    StaticPolicy,
)
from simulations.policies.dynamo_like import DynamoLikePolicy
from simulations.policies.policy import Policy
from simulations.policies.predictive import PredictivePolicy
from simulations.run_result import PolicyRun
from simulations.traces.request_trace import RequestTrace
from simulations.warmup import backfill_history, split_warmup

POLICY_NAMES = ("predictive", "reactive", "reactive-tokens", "dynamo-like", "static", "oracle")
# Policies seeded with the warm-up slice, as production back-fills from Prometheus.
BACKFILLED = frozenset({"predictive", "dynamo-like"})
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


# (name, profile, offered load, physics, starting replicas, back-filled history) -> policy
PolicyBuilder = Callable[
    [str, ModelProfile, OfferedLoad, FleetPhysics, int, Sequence[Observation]], Policy
]


def build_policy(
    name: str,
    profile: ModelProfile,
    offered: OfferedLoad,
    physics: FleetPhysics,
    start: int,
    history: Sequence[Observation] = (),
) -> Policy:
    """`history`: back-filled observations for the policies in BACKFILLED."""
    if name == "predictive":
        return PredictivePolicy(profile, start, history)
    if name == "reactive":
        return ReactiveQueuePolicy(profile, start)
    if name == "reactive-tokens":
        return ReactiveTokensPolicy(profile, start)
    if name == "dynamo-like":
        return DynamoLikePolicy(profile, start, history)
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
    warmup_s: float = 0.0,
    on_progress: Callable[[str, int, int], None] | None = None,
    placement: SimPlacement | None = None,
    build: PolicyBuilder | None = None,
) -> list[PolicyRun]:
    """Runs every named policy on the trace after `warmup_s` (see the module docstring);
    `on_progress(policy, ticks_done, ticks_total)`. With `placement`, each policy's replicas
    are placed on its own copy of the inventory. `build` makes each named policy (default
    `build_policy`): a study can replay a policy of its own through the same fleet. Raises
    ValueError for a warm-up that leaves nothing to replay."""
    build = build_policy if build is None else build
    history, replayed = split_warmup(trace, warmup_s)
    offered = OfferedLoad.from_trace(replayed, physics, tick_s, drain_s=physics.request_timeout_s)
    # Baselines size themselves on the demand that arrives, not on the drain's zeros.
    arrivals = offered.arrivals_only()
    start = initial_replicas(arrivals, profile)
    backfill = (
        backfill_history(history, physics, profile, warmup_s)
        if BACKFILLED.intersection(policy_names)
        else []
    )
    runs = []
    for name in policy_names:
        policy = build(name, profile, arrivals, physics, start, backfill)
        start_for_policy = policy.replicas if isinstance(policy, StaticPolicy) else start
        progress = None
        if on_progress is not None:

            def progress(done: int, _name: str = name) -> None:
                on_progress(_name, done, offered.n_ticks)

        run = replay(
            replayed,
            offered,
            _HoldAfter(policy, arrivals.n_ticks * tick_s, start_for_policy),
            physics,
            initial_replicas=start_for_policy,
            slo_ttft_s=profile.ttft_slo_s,
            seed=int(np.random.SeedSequence([seed]).generate_state(1)[0]),
            progress=progress,
            placement=placement,
        )
        runs.append(_arrival_span(run, arrivals.n_ticks, physics))
    return runs


class _HoldAfter:
    """Asks the policy until `end_s`, then holds its last answer while the backlog drains."""

    def __init__(self, policy: Policy, end_s: float, initial_replicas: int) -> None:
        self.name = policy.name
        self.interval_s = policy.interval_s
        self._policy = policy
        self._end_s = end_s
        self._last = initial_replicas

    def decide(self, obs: Observation, now_s: float) -> int:
        if now_s < self._end_s:
            self._last = self._policy.decide(obs, now_s)
        return self._last


def _arrival_span(run: PolicyRun, n_ticks: int, physics: FleetPhysics) -> PolicyRun:
    """The run's per-tick series and GPU-hours over the first `n_ticks` (the drain dropped);
    per-request outcomes keep what the drain served."""
    requested = run.requested_replicas[:n_ticks]
    gpu_s = float(requested.sum(dtype=np.int64)) * run.tick_s * physics.gpus_per_replica
    return replace(
        run,
        t_s=run.t_s[:n_ticks],
        demand_replicas=run.demand_replicas[:n_ticks],
        ready_replicas=run.ready_replicas[:n_ticks],
        requested_replicas=requested,
        gpu_hours=gpu_s / 3600,
        unplaced_replicas=(
            None if run.unplaced_replicas is None else run.unplaced_replicas[:n_ticks]
        ),
    )
