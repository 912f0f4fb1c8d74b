"""Process-wide settings for a process whose event loop answers KEDA within milliseconds.

Called once by the process's entry point (`prewarm serve`, the load benchmark's scaler),
after its imports and before it serves; a library class must not change the interpreter's
behaviour for whoever embeds it.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

from autoscaler.scaler.heap_settling import freeze_heap

T = TypeVar("T")

# The decision thread runs CPU-bound Python (forecasts, refits). With CPython's default 5 ms
# GIL switch interval every gRPC callback on the event loop can wait that long for the GIL;
# measured with 1,000 ScaledObjects, GetMetrics p99 fell from ~480 ms to ~26 ms at 0.5 ms.
GIL_SWITCH_INTERVAL_S = 0.0005

# What an inline forecaster fit imports on first use. Importing statsmodels takes 2-5 s of
# mostly GIL-holding work (and ~110 MiB): on the decision thread, the first fit would stall
# every RPC for that long. With a refit pool only the workers import it.
FIT_MODULES = (
    "statsmodels.tsa.holtwinters",
    "statsmodels.tsa.statespace.sarimax",
    "statsmodels.tsa.seasonal",
    "statsmodels.tsa.stattools",
)


def tune_for_latency(*, inline_refits: bool) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    if inline_refits:
        for name in FIT_MODULES:
            importlib.import_module(name)
    # Everything alive now (modules, classes, functions: ~130,000 objects) lives as long as
    # the process. Moving it out of the collector's sight takes full collections from
    # 55-110 ms to a few tens of ms; with 300 RPCs/s each such pause delays dozens of them.
    freeze_heap()


def run_serving_loop(main: Coroutine[Any, Any, T]) -> T:
    """Runs `main` on uvloop, the event loop a latency-bound server runs on.

    Why: grpc.aio hands every completion from its poller thread to the loop, so each RPC
    costs a few loop wake-ups. Measured with benchmarks/scaler_load.py --client go --floor
    against a server answering constants (1,000 ScaledObjects, 300 calls/s, quiet host):
    GetMetrics p50 0.80-0.87 ms and p99 3.8-4.1 ms on uvloop, 0.90-0.92 ms and 4.7 ms on
    asyncio's own loop.
    """
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
