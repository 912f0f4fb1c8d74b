"""Every policy's raw recommendation passes through the same stabilisers, in a fixed order:

1. scale-down delay: the answer is the largest recommendation of the last
   `scale_down_delay_s` (as far as the rate limit honoured it), so a brief dip never sheds
   capacity and any opposite (upward) recommendation restarts the wait;
2. rate limits against the current replicas: up to max(current x max_up_factor,
   current + max_up_replicas), down by at most ceil(current x max_down_fraction);
3. bounds [min, max], last, so they always hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from autoscaler.decision import PlannerState
from autoscaler.profile import ModelProfile


@dataclass(frozen=True, slots=True)
class Stabilised:
    replicas: int
    state: PlannerState
    note: str  # empty when the raw recommendation passed unchanged


def stabilise(raw: int, state: PlannerState, profile: ModelProfile, now_s: float) -> Stabilised:
    scaling, bounds = profile.scaling, profile.replicas
    horizon_start = now_s - scaling.scale_down_delay_s
    recent = tuple(item for item in state.recent if item[0] > horizon_start) + ((now_s, raw),)
    held = max(r for _, r in recent)
    notes = []
    if held > raw:
        notes.append(
            f"scale-down delay holds {held} (peak of last {scaling.scale_down_delay_s:g} s)"
        )

    current = state.replicas
    up_limit = max(math.ceil(current * scaling.max_up_factor), current + scaling.max_up_replicas)
    down_limit = current - max(1, math.ceil(current * scaling.max_down_fraction))
    limited = min(held, up_limit) if held > current else max(held, down_limit, 0)
    if limited != held:
        notes.append(f"rate limit {current} -> {limited} (wanted {held})")

    bounded = min(max(limited, bounds.min), bounds.max)
    if bounded != limited:
        notes.append(f"bounds [{bounds.min}, {bounds.max}]")
    # Remember the recommendation as far as it was honoured: a one-decision spike that the
    # rate limit cut to 40 must not be held at 100 for the whole delay (Knative does the same).
    remembered = recent[:-1] + ((now_s, min(raw, limited)),)
    return Stabilised(bounded, PlannerState(bounded, remembered), "; ".join(notes))
