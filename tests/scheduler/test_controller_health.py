"""DCGM readings to GPU health: table tests of the classifier, and the field names checked
against the dcgm-exporter exposition in ../shared/reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scheduler.controller.health import (
    FIELDS,
    DcgmSample,
    Health,
    classify,
    classify_all,
    samples_from_series,
)
from scheduler.controller.settings import HealthSettings

SETTINGS = HealthSettings()
U = "GPU-6a3f0c2e-91d4-5b7e-8c1a-2f4d9e7b0a53"
# Fields dcgm-exporter exports only when its counters file adds them (not in the example).
NOT_DEFAULT = {
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",
}


@pytest.mark.parametrize(
    ("fields", "state", "reasons"),
    [
        ({}, Health.HEALTHY, ()),
        ({"xid": 0}, Health.HEALTHY, ()),
        ({"xid": 13}, Health.HEALTHY, ()),  # an application's graphics exception
        ({"xid": 31}, Health.HEALTHY, ()),  # an application's MMU fault
        ({"xid": 79}, Health.UNHEALTHY, ("XID 79 (GPU fallen off the bus)",)),
        ({"xid": 48}, Health.UNHEALTHY, ("XID 48 (double-bit ECC error)",)),
        ({"xid": 999}, Health.UNHEALTHY, ("XID 999",)),
        ({"ecc_dbe_volatile": 1.0}, Health.UNHEALTHY, ("1 double-bit ECC error(s)",)),
        ({"row_remap_failure": 1.0}, Health.UNHEALTHY, ("row-remap failure",)),
        ({"row_remap_failure": 0.0}, Health.HEALTHY, ()),
        ({"clocks_event_reasons": 0x4}, Health.HEALTHY, ()),  # SW power cap: full load
        ({"clocks_event_reasons": 0x1}, Health.HEALTHY, ()),  # idle
        ({"clocks_event_reasons": 0x20}, Health.THROTTLED, ("SW thermal slowdown",)),
        ({"clocks_event_reasons": 0x40}, Health.THROTTLED, ("HW thermal slowdown",)),
        ({"clocks_event_reasons": 0x88}, Health.THROTTLED, ("HW slowdown", "HW power brake")),
        (
            {"thermal_violation_fraction": 0.8},
            Health.THROTTLED,
            ("at its thermal limit 80 % of the time",),
        ),
        ({"thermal_violation_fraction": 0.1}, Health.HEALTHY, ()),
        (
            {"power_violation_fraction": 0.5},
            Health.THROTTLED,
            ("at its power limit 50 % of the time",),
        ),
        (
            {"xid": 79, "clocks_event_reasons": 0x40},
            Health.UNHEALTHY,
            ("XID 79 (GPU fallen off the bus)",),
        ),
    ],
    ids=[
        "nothing",
        "xid-0",
        "xid-13-app",
        "xid-31-app",
        "xid-79",
        "xid-48",
        "xid-unknown",
        "ecc-dbe",
        "row-remap-failure",
        "row-remap-ok",
        "power-cap-only",
        "idle-bit",
        "sw-thermal",
        "hw-thermal",
        "hw-slowdown-brake",
        "thermal-violation",
        "thermal-short",
        "power-violation",
        "broken-beats-hot",
    ],
)
def test_classify(fields: dict[str, float], state: Health, reasons: tuple[str, ...]) -> None:
    verdict = classify(DcgmSample(U, 0.0, **fields), SETTINGS)  # type: ignore[arg-type]
    assert (verdict.state, verdict.reasons) == (state, reasons)


def test_mig_instances_of_one_gpu_merge_and_the_worst_wins() -> None:
    samples = [
        DcgmSample(U, 100.0, clocks_event_reasons=0x20),
        DcgmSample(U, 100.0, xid=79),
        DcgmSample(U, 100.0),
        DcgmSample("GPU-other", 100.0, clocks_event_reasons=0x20),
        DcgmSample("GPU-other", 100.0, clocks_event_reasons=0x40),
    ]
    verdicts = classify_all(samples, 110.0, SETTINGS)
    assert verdicts[U].state is Health.UNHEALTHY
    assert verdicts["GPU-other"].reasons == ("SW thermal slowdown", "HW thermal slowdown")


def test_stale_samples_are_no_evidence() -> None:
    old = DcgmSample(U, 0.0, xid=79)
    assert classify_all([old], 120.0, SETTINGS)[U].state is Health.UNHEALTHY
    assert classify_all([old], 121.0, SETTINGS) == {}


def test_the_reference_exposition_reads_as_two_healthy_gpus(shared_dir: Path) -> None:
    text = (shared_dir / "reference" / "dcgm_metrics_example.txt").read_text()
    series = [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]
    samples = samples_from_series(series, 50.0)
    # GPU 0 whole, GPU 1 as four MIG instances: five samples, two UUIDs.
    assert len(samples) == 5
    assert {s.node for s in samples} == {"gpu-node-a17"}
    whole = next(s for s in samples if s.uuid == U)
    assert (whole.xid, whole.row_remap_failure, whole.engine_active) == (0, 0.0, 0.873214)
    verdicts = classify_all(samples, 60.0, SETTINGS)
    assert {u: v.state for u, v in verdicts.items()} == {
        U: Health.HEALTHY,
        "GPU-d81b47a9-3e02-c6f5-14b8-7a90e2c3f6d1": Health.HEALTHY,
    }
    # Every field the classifier reads is dcgm-exporter's name for it: present in the example,
    # or one the counters file must add.
    exported = {name for name, _, _ in series}
    assert set(FIELDS) - exported == NOT_DEFAULT


def test_an_xid_in_an_exposition_closes_the_gpu() -> None:
    series = [
        ("DCGM_FI_DEV_XID_ERRORS", {"UUID": U, "Hostname": "n1", "err_code": "79"}, 79.0),
        ("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", {"UUID": "GPU-b", "Hostname": "n1"}, 0x40),
        ("DCGM_FI_DEV_GPU_TEMP", {"UUID": "GPU-c", "Hostname": "n1"}, 90.0),  # not read
        ("DCGM_FI_DEV_XID_ERRORS", {"Hostname": "n1"}, 79.0),  # no UUID: whose?
    ]
    verdicts = classify_all(samples_from_series(series, 0.0), 0.0, SETTINGS)
    assert {u: v.state for u, v in verdicts.items()} == {
        U: Health.UNHEALTHY,
        "GPU-b": Health.THROTTLED,
    }
    assert verdicts[U].describe() == f"GPU {U} on n1: unhealthy (XID 79 (GPU fallen off the bus))"
    assert verdicts[U].closed(SETTINGS) and verdicts["GPU-b"].closed(SETTINGS)
    assert not verdicts["GPU-b"].closed(HealthSettings(exclude_throttled=False))
