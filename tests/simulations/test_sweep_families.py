"""Each family's declared profile keys: a key it claims not to read leaves its replay
unchanged, so running one replay for all values of that key is right."""

from __future__ import annotations

import pytest

from autoscaler.profile import ModelProfile
from simulations.fleet.physics import FleetPhysics
from simulations.report.summary import policy_summary
from simulations.runner import POLICY_NAMES, simulate
from simulations.sweep.families import FAMILY_KEYS, effective, ignored_paths, reads
from simulations.sweep.grid import resolve
from simulations.traces.loader import load_trace
from tests.simulations.sweep_helpers import base_profile, write_rate_trace

# Keys a family might wrongly be declared not to read, each with a value far from the
# bundled profile's.
PROBES: dict[str, object] = {
    "forecast.quantile": 0.6,
    "forecast.bucket_s": 30.0,
    "scaling.scale_down_delay_s": 0.0,
    "scaling.max_up_factor": 1.5,
    "scaling.max_up_replicas": 1,
    "scaling.max_down_fraction": 1.0,
    "staleness.hold_after_s": 30.0,
    "queue_drain_s": 10.0,
    "kv_target_utilisation": 0.3,
    "typical_request.prompt_tokens": 100.0,
    "decision_interval_s": 5.0,
    "target_utilisation": 0.5,
}
CHECKED = [f for f in FAMILY_KEYS if f in POLICY_NAMES and f != "predictive"]


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = write_rate_trace(tmp_path_factory.mktemp("trace"), hours=3.0)
    return load_trace(path, "rate", seed=0)


def replay(trace, family: str, profile: ModelProfile) -> dict[str, object]:  # type: ignore[no-untyped-def]
    run = simulate(
        trace, profile, FleetPhysics.from_profile(profile), [family], seed=0, warmup_s=1800.0
    )[0]
    return policy_summary(run)


@pytest.mark.parametrize("family", CHECKED)
def test_keys_a_family_does_not_read_leave_its_replay_unchanged(trace, family: str) -> None:  # type: ignore[no-untyped-def]
    base = base_profile()
    unread = tuple((path, value) for path, value in PROBES.items() if not reads(family, path))
    assert unread, f"{family}: no probe left to check"
    assert replay(trace, family, resolve(base, unread, "probe")) == replay(trace, family, base)


@pytest.mark.parametrize("family", CHECKED)
def test_the_check_has_power_a_read_key_changes_the_replay(trace, family: str) -> None:  # type: ignore[no-untyped-def]
    base = base_profile()
    floor = resolve(base, (("replicas.min", 12),), "probe")
    assert replay(trace, family, floor)["gpu_hours"] != replay(trace, family, base)["gpu_hours"]


def test_effective_overrides_keep_the_keys_a_family_reads() -> None:
    combo = (("target_utilisation", 0.7), ("forecast.quantile", 0.9), ("capacity", 1))
    assert effective("predictive", combo) == combo
    assert effective("reactive-tokens", combo) == (("target_utilisation", 0.7), ("capacity", 1))
    assert effective("oracle", (("forecast.quantile", 0.9),)) == ()
    # A section covers its keys, and a key inside a declared section is read.
    assert reads("oracle", "capacity.prompt_tokens_per_s")
    assert reads("dynamo-like", "scaling") and not reads("dynamo-like", "scaling.max_up_factor")
    assert ignored_paths("reactive-tokens", ["forecast.quantile", "cold_start_s"]) == [
        "forecast.quantile"
    ]


def test_an_undeclared_family_reads_everything() -> None:
    assert reads("some-new-family", "forecast.quantile")
    assert effective("some-new-family", (("a.b", 1),)) == (("a.b", 1),)
