"""DCGM readings for the placement loop, from the Prometheus that scrapes dcgm-exporter: the
samples `scheduler.controller.health` classifies (healthy, throttled, unhealthy), one per GPU
(or MIG instance: the parent's UUID, merged by the classifier).

One instant query per field, at the loop's `now_s`, all at once:
- `last_over_time(<field>[max_age_s])` for the XID, double-bit ECC, row-remap and clock-event
  gauges: a GPU whose exporter stopped reporting for longer than `max_age_s` has no sample,
  which the classifier reads as no evidence (it neither closes nor reopens a GPU);
- `rate(DCGM_FI_DEV_THERMAL_VIOLATION[window]) / 1e9` and the power twin: the share of the
  window the GPU spent clock-limited (the counters count nanoseconds). Worked number: 48 s
  of 60 s at the thermal limit -> 0.8 >= 0.5 -> throttled.
Per model (`models`, from the scaler's decisions: prewarm_cli/placement.py), the activity
`scheduler.controller.waste` reads: mean DCGM_FI_PROF_GR_ENGINE_ACTIVE and the count of GPUs or
MIG instances reporting it, over the model's pods (joined on namespace and pod with its vLLM
series, the query `GET /models/{model}/gpu` runs: autoscaler.metrics.promql.gpu_queries), with
vLLM's running + waiting requests from the scaler's latest observation. The activity is as old
as its older half: a stale observation is not fresh evidence of no load.
A query that fails makes the whole reading fail: the loop then reconciles with no health
data (nothing is closed for it, nothing flagged as waste), and says so in its log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from autoscaler.metrics.promql import (
    DEFAULT_NAMES,
    SIGNAL_LABEL,
    MetricNames,
    combined,
    gpu_queries,
)
from autoscaler.metrics.source import ModelQuery
from scheduler.controller.health import FIELDS, DcgmSample
from scheduler.controller.reconcile import HealthReport
from scheduler.controller.settings import HealthSettings
from scheduler.controller.waste import ModelActivity

GAUGES = {name: field for name, field in FIELDS.items() if field != "engine_active"}
VIOLATIONS = {
    "DCGM_FI_DEV_THERMAL_VIOLATION": "thermal_violation_fraction",
    "DCGM_FI_DEV_POWER_VIOLATION": "power_violation_fraction",
}
INTEGER_FIELDS = ("xid", "clocks_event_reasons")
ACTIVITY_SIGNALS = ("engine_active", "gpus")  # of gpu_queries; framebuffer use is not read


@dataclass(frozen=True)
class ModelLoad:
    """One model as the activity reading needs it: where its pods' series are, and what vLLM
    reported last (running + waiting requests, summed; None: no observation yet)."""

    query: ModelQuery
    requests: float | None = None
    requests_at_s: float | None = None  # the observation's instant
    names: MetricNames = DEFAULT_NAMES


ModelLoads = Callable[[], Mapping[str, ModelLoad]]


class DcgmFeed:
    def __init__(
        self,
        prometheus_url: str,
        settings: HealthSettings,
        *,
        window_s: float = 60.0,
        timeout_s: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
        models: ModelLoads | None = None,
    ) -> None:
        self.url = prometheus_url.rstrip("/")
        self.settings = settings
        self.window_s = window_s
        self.timeout_s = timeout_s
        self.transport = transport
        self.models = models

    def queries(self) -> dict[str, str]:
        """DcgmSample field -> PromQL. Two dcgm-exporter names feed the clock-event field
        (before and after DCGM 3.3): both are asked, whichever exists answers."""
        age = f"{max(1, int(self.settings.max_age_s))}s"
        window = f"{max(1, int(self.window_s))}s"
        out = {}
        for name, field in GAUGES.items():
            key = field if field not in out else f"{field}/{name}"
            out[key] = f"last_over_time({name}[{age}])"
        for name, field in VIOLATIONS.items():
            out[field] = f"rate({name}[{window}]) / 1e9"
        return out

    @staticmethod
    def activity_query(load: ModelLoad) -> str:
        """PromQL: the model's pods' mean engine activity and device count, tagged."""
        parts = gpu_queries(load.query, load.names)
        return combined({k: parts[k] for k in ACTIVITY_SIGNALS})

    async def __call__(self, now_s: float) -> HealthReport:
        queries = self.queries()
        loads = dict(self.models()) if self.models is not None else {}
        activity_exprs = [self.activity_query(load) for load in loads.values()]
        async with httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport) as http:
            everything = await asyncio.gather(
                *(self._query(http, expr, now_s) for expr in [*queries.values(), *activity_exprs])
            )
        answers = everything[: len(queries)]
        activity = {
            model: _activity(load, result, now_s)
            for (model, load), result in zip(loads.items(), everything[len(queries) :], strict=True)
        }
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for key, result in zip(queries, answers, strict=True):
            field = key.split("/", 1)[0]
            for labels, value in result:
                uuid = labels.get("UUID", "")
                if not uuid:
                    continue
                entry = found.setdefault(
                    (uuid, labels.get("GPU_I_ID", "")), {"node": labels.get("Hostname", "")}
                )
                entry[field] = int(value) if field in INTEGER_FIELDS else value
        samples = tuple(
            DcgmSample(uuid=uuid, at_s=now_s, **entry) for (uuid, _), entry in found.items()
        )
        return HealthReport(samples=samples, activity=activity)

    async def _query(
        self, http: httpx.AsyncClient, expr: str, now_s: float
    ) -> list[tuple[Mapping[str, str], float]]:
        response = await http.get(
            f"{self.url}/api/v1/query", params={"query": expr, "time": f"{now_s:.3f}"}
        )
        response.raise_for_status()
        body = response.json()
        if body.get("status") != "success":
            raise ValueError(f"Prometheus refused {expr!r}: {body.get('error', body)}")
        out = []
        for series in body.get("data", {}).get("result", []):
            try:
                value = float(series["value"][1])
            except (KeyError, IndexError, TypeError, ValueError):
                continue
            if value == value:  # NaN: no reading
                out.append((series.get("metric") or {}, value))
        return out


def _activity(
    load: ModelLoad, result: list[tuple[Mapping[str, str], float]], now_s: float
) -> ModelActivity:
    signals = {labels.get(SIGNAL_LABEL, ""): value for labels, value in result}
    devices = int(signals.get("gpus", 0))
    engine = signals.get("engine_active") if devices else None
    at_s = now_s if load.requests_at_s is None else min(now_s, load.requests_at_s)
    return ModelActivity(at_s, engine, devices, load.requests)
