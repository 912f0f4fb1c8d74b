"""What one policy's replay produced: per-tick fleet series and per-request outcomes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlacementTotals:
    """What placing replicas on an inventory cost a replay (`simulate --inventory`)."""

    nodes_provisioned: int  # nodes the plans provisioned during the replay
    replicas_waited_for_nodes: int  # replicas whose cold start began after a node came up
    replicas_never_started: int  # asked for, never placed before released or the end


@dataclass(frozen=True)
class PolicyRun:
    """One policy replayed over one trace.

    Per-tick arrays share `t_s` (tick start, seconds from trace start, step `tick_s`).
    Per-request arrays are aligned with the trace's requests.
    """

    policy: str
    tick_s: float
    t_s: np.ndarray  # float64, per tick
    demand_replicas: np.ndarray  # offered work per tick, in replicas at 100 % capacity
    ready_replicas: np.ndarray  # replicas serving during the tick
    requested_replicas: np.ndarray  # replicas costing GPU time (starting or ready)
    ttft_s: np.ndarray  # float32, per request
    dropped: np.ndarray  # bool, per request (client gave up before the first token)
    gpu_hours: float
    replica_changes: int
    slo_ttft_s: float
    # With an inventory: replicas asked for but not placed, per tick (not in requested_replicas:
    # a pod with no node costs nothing), and the totals. None without one.
    unplaced_replicas: np.ndarray | None = None
    placement: PlacementTotals | None = None
