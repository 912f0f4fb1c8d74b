"""How many ScaledObjects one scaler tracks at most, and the refusal past that.

Each tracked ScaledObject holds its history, forecasters and gauges for as long as KEDA asks
about it (and `idle_after_s` more), so without a bound one client creating ScaledObjects in a
loop grows the pod until it is killed, taking every model's answers with it. Past the bound a
new ScaledObject is refused with gRPC RESOURCE_EXHAUSTED; the ones tracked are still answered.
The default and the pod's memory limit are sized together (deploy/base/deployment.yaml).
Imported by the gRPC front process too, so it imports nothing.
"""

from __future__ import annotations

CONFIG_KEY = "max_scaled_objects"
DEFAULT_MAX_SCALED_OBJECTS = 2000


class TooManyScaledObjects(Exception):
    """A new ScaledObject past the limit; the message names the limit and its config key."""

    def __init__(self, limit: int, scaled_object: str) -> None:
        super().__init__(
            f"not tracking {scaled_object}: already tracking {limit} ScaledObjects, the limit "
            f"(serve config key '{CONFIG_KEY}'); raise it with the pod's memory limit, or "
            "delete unused ScaledObjects (forgotten after idle_after_s without a call)"
        )
        self.limit = limit
