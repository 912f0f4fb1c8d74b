"""What Prewarm itself answered for a ScaledObject in the recent past, read back after a restart.

Every replica exports its answer as `prewarm_desired_replicas{scaled_object, model}` on
/metrics, and the ServiceMonitor has Prometheus scrape it. A restarted scaler reads the
highest of those answers over its scale-down delay and starts its hold from them: without
them it would know only the replicas ready now, and could shed a fleet it had just asked for
(pods still starting) or step down past its rate limit at the first decision.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from autoscaler.metrics.promql import quote

DESIRED_REPLICAS_METRIC = "prewarm_desired_replicas"


@runtime_checkable
class DecisionHistory(Protocol):
    """A source that can also read back Prewarm's own past answers (Prometheus can)."""

    async def desired_replicas(
        self, scaled_object: str, start_s: float, end_s: float, step_s: float
    ) -> list[tuple[float, int]]:
        """(t_s, replicas) every `step_s` in [start_s, end_s], oldest first, the highest any
        Prewarm replica answered at each step; steps without an answer are left out."""
        ...


def desired_replicas_query(scaled_object: str) -> str:
    """The highest answer any replica exported for the ScaledObject ("<namespace>/<name>")."""
    return f"max({DESIRED_REPLICAS_METRIC}{{scaled_object={quote(scaled_object)}}})"
