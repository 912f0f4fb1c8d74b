"""Kubernetes HPA's replica arithmetic, as KEDA drives it for an external metric.

For an AverageValue target: desired = ceil(metric / target); skipped when the ratio to the
current replicas is within the tolerance (10 %); scale-down recommendations are held for the
stabilisation window (300 s: the highest recommendation of that window wins); scale-up is
limited per sync to max(2x, +4 pods), HPA's default policy.
"""

from __future__ import annotations

import math
from collections import deque


class HpaController:
    def __init__(
        self,
        *,
        initial_replicas: int,
        min_replicas: int,
        max_replicas: int,
        tolerance: float = 0.1,
        scale_down_window_s: float = 300.0,
    ) -> None:
        self.replicas = initial_replicas
        self.min_replicas = min_replicas
        self.max_replicas = max_replicas
        self.tolerance = tolerance
        self.scale_down_window_s = scale_down_window_s
        self._recommendations: deque[tuple[float, int]] = deque()

    def sync(self, metric_value: float, target_per_replica: float, now_s: float) -> int:
        current = max(self.replicas, 1)
        ratio = metric_value / (target_per_replica * current)
        if abs(ratio - 1.0) <= self.tolerance:
            recommendation = self.replicas
        else:
            recommendation = math.ceil(metric_value / target_per_replica - 1e-9)
        recommendation = min(max(recommendation, self.min_replicas), self.max_replicas)
        self._recommendations.append((now_s, recommendation))
        while self._recommendations[0][0] <= now_s - self.scale_down_window_s:
            self._recommendations.popleft()
        stabilised = max(r for _, r in self._recommendations)
        if stabilised > self.replicas:
            stabilised = min(stabilised, max(2 * self.replicas, self.replicas + 4))
        self.replicas = stabilised
        return stabilised
