"""`tune_for_latency` changes the whole interpreter, so each case runs in a fresh one."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json, sys
import autoscaler.scaler.app  # what `prewarm serve` has imported by then
from autoscaler.scaler.latency_tuning import GIL_SWITCH_INTERVAL_S, tune_for_latency
tune_for_latency(inline_refits={inline})
print(json.dumps({{
    "switch_interval_s": sys.getswitchinterval(),
    "wanted_s": GIL_SWITCH_INTERVAL_S,
    "frozen": gc.get_freeze_count(),
    "collectable": len(gc.get_objects()),
    "statsmodels": "statsmodels.tsa.holtwinters" in sys.modules,
}}))
"""


def _tuned(inline: bool) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(inline=inline)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tuning_shortens_the_gil_switch_interval_and_freezes_the_start_up_heap() -> None:
    tuned = _tuned(inline=False)
    assert tuned["switch_interval_s"] == tuned["wanted_s"]
    # The imported modules' objects are out of the collector's sight; hardly any are left.
    assert tuned["frozen"] > 50_000
    assert tuned["collectable"] < tuned["frozen"] / 100
    # With a refit pool the serving process never fits: statsmodels stays out of it.
    assert tuned["statsmodels"] is False


def test_inline_refits_import_the_fitting_libraries_before_serving() -> None:
    tuned = _tuned(inline=True)
    assert tuned["statsmodels"] is True


def test_the_serving_loop_is_uvloop_and_returns_what_main_returns() -> None:
    import asyncio

    import uvloop

    from autoscaler.scaler.latency_tuning import run_serving_loop

    async def main() -> tuple[bool, int]:
        await asyncio.sleep(0)
        return isinstance(asyncio.get_running_loop(), uvloop.Loop), 42

    assert run_serving_loop(main()) == (True, 42)
