"""PromQL for one model's vLLM (and DCGM) series, built so that metadata cannot inject PromQL.

Every query sums over pods and engines (a bare selector returns one series per pod/engine)
and reads counters through `rate()`, which treats a drop in a counter as a restart. Metric
names are matched exactly (`=`), never by regex or prefix: `vllm:prompt_tokens_total` has a
`_created` sibling, and `llama` must not match `llama-70b`.

Label values come from ScaledObject metadata, i.e. from users. They are written as PromQL
string literals with every special character escaped, so a model called
`x"} or vector(1) or {a="` stays one label value inside one selector:

    vllm:num_requests_running{model_name="x\\"} or vector(1) or {a=\\""}

Metric and label *names* come from operator config and are validated against Prometheus'
name grammar instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from autoscaler.metrics.source import ModelQuery

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
SIGNAL_LABEL = "prewarm_signal"  # tags each part of a combined query (see `combined`)

Release = Literal["current", "pre-0.12"]


class MetricNames(BaseModel):
    """The metric and label names to read. Defaults are vLLM >= 0.12 and dcgm-exporter's.

    `MetricNames.preset("pre-0.12")` reads `vllm:gpu_cache_usage_perc`, the KV-usage name
    that vLLM removed in 0.12; any name can also be overridden one by one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_tokens: str = "vllm:prompt_tokens_total"
    generation_tokens: str = "vllm:generation_tokens_total"
    requests_running: str = "vllm:num_requests_running"
    requests_waiting: str = "vllm:num_requests_waiting"
    kv_cache_usage: str = "vllm:kv_cache_usage_perc"
    request_success: str = "vllm:request_success_total"
    ttft_histogram: str = "vllm:time_to_first_token_seconds"  # `_bucket` is appended
    gpu_engine_active: str = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
    gpu_fb_used: str = "DCGM_FI_DEV_FB_USED"
    model_label: str = "model_name"
    namespace_label: str = "namespace"
    pod_label: str = "pod"

    @classmethod
    def preset(cls, release: Release) -> MetricNames:
        if release == "pre-0.12":
            return cls(kv_cache_usage="vllm:gpu_cache_usage_perc")
        return cls()

    @field_validator(
        "prompt_tokens",
        "generation_tokens",
        "requests_running",
        "requests_waiting",
        "kv_cache_usage",
        "request_success",
        "ttft_histogram",
        "gpu_engine_active",
        "gpu_fb_used",
    )
    @classmethod
    def _metric_name(cls, value: str) -> str:
        if not METRIC_NAME.fullmatch(value):
            raise ValueError(f"not a Prometheus metric name: {value!r}")
        return value

    @field_validator("model_label", "namespace_label", "pod_label")
    @classmethod
    def _label_name(cls, value: str) -> str:
        if not LABEL_NAME.fullmatch(value) or value.startswith("__"):
            raise ValueError(f"not a Prometheus label name: {value!r}")
        return value


DEFAULT_NAMES = MetricNames()

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(value: str) -> str:
    """`value` as a double-quoted PromQL string literal (Go escape rules).

    Backslash, quote and line breaks get their short escapes; other non-printable characters
    become `\\uXXXX` / `\\UXXXXXXXX`; printable Unicode passes through as UTF-8. Lone
    surrogates cannot be sent as UTF-8 at all and are rejected.
    """
    out = ['"']
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError(f"label value {value!r} is not valid Unicode (lone surrogate)")
        elif char.isprintable():
            out.append(char)
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def selector(
    metric: str, matchers: Mapping[str, str], exclude: Mapping[str, str] | None = None
) -> str:
    """`metric{label="value",...,other!="value"}`: exact matchers, then exclusions; values
    quoted by `quote`."""
    if not METRIC_NAME.fullmatch(metric):
        raise ValueError(f"not a Prometheus metric name: {metric!r}")
    parts = []
    for label, value in matchers.items():
        if not LABEL_NAME.fullmatch(label):
            raise ValueError(f"not a Prometheus label name: {label!r}")
        parts.append(f"{label}={quote(value)}")
    for label, value in (exclude or {}).items():
        if not LABEL_NAME.fullmatch(label):
            raise ValueError(f"not a Prometheus label name: {label!r}")
        parts.append(f"{label}!={quote(value)}")
    return f"{metric}{{{','.join(parts)}}}"


def duration(seconds: float) -> str:
    """A PromQL range duration in whole seconds: 60 -> `1m`, 90 -> `90s`."""
    whole = math.ceil(seconds)
    if whole < 1:
        raise ValueError(f"a range must be at least 1 s, got {seconds!r}")
    return f"{whole // 60}m" if whole % 60 == 0 else f"{whole}s"


@dataclass(frozen=True)
class ModelQueries:
    """One instant-vector expression per Observation field (the field names match).

    Each evaluates to at most one series without labels, or to nothing when no series match.
    """

    prompt_tokens_per_s: str
    generation_tokens_per_s: str
    requests_running: str
    requests_waiting: str
    kv_cache_usage: str
    ready_replicas: str
    requests_per_s: str
    ttft_p95_s: str

    def as_dict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


ABORTED = {"finished_reason": "abort"}


def model_matchers(query: ModelQuery, names: MetricNames) -> dict[str, str]:
    matchers = {names.model_label: query.model}
    if query.namespace is not None:
        matchers[names.namespace_label] = query.namespace
    return matchers


def model_queries(
    query: ModelQuery, names: MetricNames = DEFAULT_NAMES, rate_window_s: float = 60.0
) -> ModelQueries:
    """The queries behind an Observation. The rate window should span >= 4 scrapes.

    `ready_replicas` counts KV-usage series: vLLM exports one per engine, so a pod running
    two data-parallel engines counts twice (it also serves twice the load).
    """
    m = model_matchers(query, names)
    w = duration(rate_window_s)

    def rate_sum(metric: str) -> str:
        return f"sum(rate({selector(metric, m)}[{w}]))"

    buckets = selector(f"{names.ttft_histogram}_bucket", m)
    return ModelQueries(
        prompt_tokens_per_s=rate_sum(names.prompt_tokens),
        generation_tokens_per_s=rate_sum(names.generation_tokens),
        requests_running=f"sum({selector(names.requests_running, m)})",
        requests_waiting=f"sum({selector(names.requests_waiting, m)})",
        kv_cache_usage=f"avg({selector(names.kv_cache_usage, m)})",
        ready_replicas=f"count({selector(names.kv_cache_usage, m)})",
        # Aborted requests (client gone, timeout) were not served: counting them would make
        # a starving fleet look busier than it is.
        requests_per_s=f"sum(rate({selector(names.request_success, m, ABORTED)}[{w}]))",
        ttft_p95_s=f"histogram_quantile(0.95, sum by (le)(rate({buckets}[{w}])))",
    )


def combined(parts: Mapping[str, str]) -> str:
    """One expression returning every part, each tagged `prewarm_signal="<key>"`.

    `label_replace(e, dst, "<key>", "", "")` adds the label to every series of `e` (the empty
    regex matches the absent source label); `or` keeps all of them since the tags differ.
    One round trip instead of eight, and every part is evaluated at the same instants.
    Keys must be identifiers (they are ours, not users').
    """
    terms = []
    for key, expr in parts.items():
        if not LABEL_NAME.fullmatch(key):
            raise ValueError(f"signal key must be an identifier: {key!r}")
        terms.append(f'label_replace({expr}, "{SIGNAL_LABEL}", "{key}", "", "")')
    return " or ".join(terms)


def _with_workload_labels(metric: str, names: MetricNames) -> str:
    """A DCGM series with `pod`/`namespace` naming the workload's pod.

    Scraped with `honorLabels: false`, dcgm-exporter's own pod owns `pod`/`namespace` and the
    workload's arrive as `exported_pod`/`exported_namespace`: copy those over when present.
    """
    expr = metric
    for label in (names.pod_label, names.namespace_label):
        expr = f'label_replace({expr}, "{label}", "$1", "exported_{label}", "(.+)")'
    return expr


def gpu_queries(query: ModelQuery, names: MetricNames = DEFAULT_NAMES) -> dict[str, str]:
    """DCGM signals for the GPUs (or MIG instances) of the model's pods.

    DCGM series carry no model label, so they are joined on (namespace, pod) with the
    model's KV-usage series. Engine activity is averaged, framebuffer use summed (MiB;
    absent for MIG instances on H100). Clocks/power repeat the parent GPU under MIG and
    are deliberately not read.
    """
    anchor = selector(names.kv_cache_usage, model_matchers(query, names))
    on = f"on ({names.namespace_label}, {names.pod_label})"

    def joined(metric: str) -> str:
        return f"{_with_workload_labels(metric, names)} and {on} {anchor}"

    return {
        "engine_active": f"avg({joined(names.gpu_engine_active)})",
        "gpus": f"count({joined(names.gpu_engine_active)})",
        "fb_used_mib": f"sum({joined(names.gpu_fb_used)})",
    }
