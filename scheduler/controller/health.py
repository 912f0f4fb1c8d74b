"""GPU health from DCGM: healthy, unhealthy (the GPU is broken) or throttled (pinned at a
thermal or power limit). Pure: samples in, verdicts out; the loop queries Prometheus.

Fields read (dcgm-exporter names; see ../shared/reference/dcgm_metrics_example.txt):
- unhealthy
  - `DCGM_FI_DEV_XID_ERRORS`: the last XID the driver raised (0: none). Any XID but those an
    application causes (`HealthSettings.application_xids`: 13, 31, 43, 45, 68, 109, the set
    NVIDIA's k8s-device-plugin ignores) marks the GPU: 48 double-bit ECC, 64 row-remap
    failure, 79 fallen off the bus...
  - `DCGM_FI_DEV_ECC_DBE_VOL_TOTAL` > 0: double-bit (uncorrectable) ECC errors since boot.
    Not in dcgm-exporter's default counters; read when present.
  - `DCGM_FI_DEV_ROW_REMAP_FAILURE` = 1: the memory could not remap a bad row. Its sibling
    `DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS` counts remaps that worked and is not a fault.
- throttled
  - `DCGM_FI_DEV_CLOCKS_EVENT_REASONS` (`DCGM_FI_DEV_CLOCK_THROTTLE_REASONS` before DCGM 3.3),
    a bitmask: SW thermal 0x20, HW thermal 0x40, HW slowdown 0x8, HW power brake 0x80. The SW
    power cap (0x4) alone is not: a GPU serving at full tilt sits at its power cap by design.
  - `DCGM_FI_DEV_THERMAL_VIOLATION` / `DCGM_FI_DEV_POWER_VIOLATION` (ns spent clock-limited):
    the loop passes rate(...[w]) / 1e9, the share of the window spent at the limit; at or above
    `throttled_fraction` (0.5) the GPU is pinned there. 0.8 -> throttled, 0.1 -> not.
A missing field is no evidence either way, and so is a sample older than `max_age_s`: stale
data neither closes a GPU nor, by its absence, reopens one the fresh data has not cleared.
Under MIG, DCGM exports one series per GPU instance, each with the parent's UUID and the
parent's device-level fields: the samples of one UUID are merged, the worst verdict wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from scheduler.controller.settings import HealthSettings

SW_POWER_CAP = 0x4
HW_SLOWDOWN = 0x8
SW_THERMAL = 0x20
HW_THERMAL = 0x40
HW_POWER_BRAKE = 0x80
_THROTTLE_BITS = {
    SW_THERMAL: "SW thermal slowdown",
    HW_THERMAL: "HW thermal slowdown",
    HW_SLOWDOWN: "HW slowdown",
    HW_POWER_BRAKE: "HW power brake",
}
_XID_NAMES = {
    48: "double-bit ECC error",
    63: "ECC page retirement or row remap",
    64: "row remap failure",
    74: "NVLink error",
    79: "GPU fallen off the bus",
    92: "high single-bit ECC rate",
    94: "contained ECC error",
    95: "uncontained ECC error",
    119: "GSP RPC timeout",
    120: "GSP error",
}

# dcgm-exporter series name -> DcgmSample field, for `samples_from_series`.
FIELDS = {
    "DCGM_FI_DEV_XID_ERRORS": "xid",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": "ecc_dbe_volatile",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": "row_remap_failure",
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": "clocks_event_reasons",
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": "clocks_event_reasons",
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": "engine_active",
}


class Health(StrEnum):
    HEALTHY = "healthy"
    THROTTLED = "throttled"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class DcgmSample:
    """One GPU's (or one MIG instance's) DCGM readings at one instant; None = not exported."""

    uuid: str  # the GPU's UUID label (a MIG instance's parent)
    at_s: float
    node: str = ""  # the Hostname label
    xid: int | None = None
    ecc_dbe_volatile: float | None = None
    row_remap_failure: float | None = None
    clocks_event_reasons: int | None = None
    thermal_violation_fraction: float | None = None
    power_violation_fraction: float | None = None
    engine_active: float | None = None


@dataclass(frozen=True)
class GpuHealth:
    uuid: str
    state: Health
    reasons: tuple[str, ...] = ()
    node: str = ""

    def closed(self, settings: HealthSettings) -> bool:
        """Left out of new placements?"""
        if self.state is Health.UNHEALTHY:
            return True
        return self.state is Health.THROTTLED and settings.exclude_throttled

    def describe(self) -> str:
        where = f" on {self.node}" if self.node else ""
        return f"GPU {self.uuid}{where}: {self.state.value} ({'; '.join(self.reasons)})"


def classify(sample: DcgmSample, settings: HealthSettings) -> GpuHealth:
    broken = _unhealthy(sample, settings)
    if broken:
        return GpuHealth(sample.uuid, Health.UNHEALTHY, tuple(broken), sample.node)
    hot = _throttled(sample, settings)
    if hot:
        return GpuHealth(sample.uuid, Health.THROTTLED, tuple(hot), sample.node)
    return GpuHealth(sample.uuid, Health.HEALTHY, (), sample.node)


def classify_all(
    samples: Iterable[DcgmSample], now_s: float, settings: HealthSettings
) -> dict[str, GpuHealth]:
    """Per GPU UUID, the worst verdict over its fresh samples; stale ones are left out."""
    worst: dict[str, GpuHealth] = {}
    rank = {Health.HEALTHY: 0, Health.THROTTLED: 1, Health.UNHEALTHY: 2}
    for sample in samples:
        if not sample.uuid or now_s - sample.at_s > settings.max_age_s:
            continue
        verdict = classify(sample, settings)
        held = worst.get(sample.uuid)
        if held is None or rank[verdict.state] > rank[held.state]:
            worst[sample.uuid] = verdict
        elif rank[verdict.state] == rank[held.state] and verdict.reasons:
            reasons = tuple(dict.fromkeys(held.reasons + verdict.reasons))
            worst[sample.uuid] = GpuHealth(held.uuid, held.state, reasons, held.node)
    return worst


def samples_from_series(
    series: Iterable[tuple[str, Mapping[str, str], float]], at_s: float
) -> list[DcgmSample]:
    """dcgm-exporter series (name, labels, value) of one instant -> one sample per (UUID, MIG
    instance). Unknown series are skipped, so a whole scrape can be passed in."""
    fields: dict[tuple[str, str], dict[str, object]] = {}
    for name, labels, value in series:
        field = FIELDS.get(name)
        uuid = labels.get("UUID", "")
        if field is None or not uuid:
            continue
        key = (uuid, labels.get("GPU_I_ID", ""))
        entry = fields.setdefault(key, {"node": labels.get("Hostname", "")})
        if field in ("xid", "clocks_event_reasons"):
            entry[field] = int(value)
        else:
            entry[field] = float(value)
    return [
        DcgmSample(uuid=uuid, at_s=at_s, **entry)  # type: ignore[arg-type]
        for (uuid, _), entry in fields.items()
    ]


def _unhealthy(s: DcgmSample, settings: HealthSettings) -> list[str]:
    out = []
    if s.xid and s.xid not in settings.application_xids:
        name = _XID_NAMES.get(s.xid)
        out.append(f"XID {s.xid}" + (f" ({name})" if name else ""))
    if s.ecc_dbe_volatile:
        out.append(f"{s.ecc_dbe_volatile:g} double-bit ECC error(s)")
    if s.row_remap_failure:
        out.append("row-remap failure")
    return out


def _throttled(s: DcgmSample, settings: HealthSettings) -> list[str]:
    out = []
    bits = s.clocks_event_reasons or 0
    out += [name for bit, name in _THROTTLE_BITS.items() if bits & bit]
    for kind, fraction in (
        ("thermal", s.thermal_violation_fraction),
        ("power", s.power_violation_fraction),
    ):
        if fraction is not None and fraction >= settings.throttled_fraction:
            out.append(f"at its {kind} limit {100 * fraction:.0f} % of the time")
    return out
