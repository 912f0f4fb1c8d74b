"""A vLLM metrics emulator: a simulated fleet replaying a trace, exposed with vLLM's real
metric names and labels, for Prometheus integration tests and GPU-free demos.

    fleet = EmulatedFleet(trace, profile, clock=SystemClock(), speed=10)
    with EmulatorServer(fleet, port=8000) as server:   # GET /metrics, /healthz
        ...
    source = EmulatorSource(fleet)                      # a MetricSource, no Prometheus
"""

from simulations.emulator.exposition import CONTENT_TYPE, render
from simulations.emulator.fleet_state import EmulatedFleet
from simulations.emulator.histogram import TTFT_BUCKETS_S
from simulations.emulator.server import EmulatorServer
from simulations.emulator.snapshot import FleetSnapshot, SeriesSample
from simulations.emulator.source import EmulatorSource

__all__ = [
    "CONTENT_TYPE",
    "TTFT_BUCKETS_S",
    "EmulatedFleet",
    "EmulatorServer",
    "EmulatorSource",
    "FleetSnapshot",
    "SeriesSample",
    "render",
]
