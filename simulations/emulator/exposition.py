"""A fleet snapshot in Prometheus text format 0.0.4, with vLLM's metric names and labels.

One emulator process stands for the whole fleet, so each series carries, besides vLLM's own
`model_name` and `engine` labels, the `pod` label Prometheus would add when scraping each
pod: queries need `sum by (model_name)` exactly as in production. Names, HELP texts,
label keys and TTFT buckets follow vLLM 0.33 (`vllm/v1/metrics/loggers.py`); counters come
with their `_created` gauge as prometheus_client writes them, so prefix-matching queries
break here as they would on a real fleet. `legacy_names=True` writes the pre-0.12 name
`vllm:gpu_cache_usage_perc` instead of `vllm:kv_cache_usage_perc`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from simulations.emulator.histogram import TTFT_BUCKETS_S
from simulations.emulator.snapshot import FleetSnapshot, SeriesSample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = dict[str, str]
Getter = Callable[[SeriesSample], float]

# (name, HELP, value) in vLLM's order; HELP texts are vLLM's own.
_GAUGES: tuple[tuple[str, str, Getter], ...] = (
    (
        "vllm:num_requests_running",
        "Number of requests in model execution batches.",
        lambda s: s.requests_running,
    ),
    (
        "vllm:num_requests_waiting",
        "Number of requests waiting to be processed.",
        lambda s: s.requests_waiting,
    ),
)
_KV = ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.")
_KV_LEGACY = ("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.")
_COUNTERS: tuple[tuple[str, str, Getter], ...] = (
    ("vllm:prompt_tokens", "Number of prefill tokens processed.", lambda s: s.prompt_tokens),
    (
        "vllm:generation_tokens",
        "Number of generation tokens processed.",
        lambda s: s.generation_tokens,
    ),
)


def render(snapshot: FleetSnapshot, *, legacy_names: bool = False) -> str:
    """The /metrics body for `snapshot`."""
    model, series = snapshot.model_name, snapshot.series
    lines: list[str] = []
    for name, help_text, value in _GAUGES:
        _gauge(lines, name, help_text, model, series, value)
    kv_name, kv_help = _KV_LEGACY if legacy_names else _KV
    _gauge(lines, kv_name, kv_help, model, series, lambda s: s.kv_cache_usage)
    for base, help_text, value in _COUNTERS:
        _counter(lines, base, help_text, model, series, value)
    _request_success(lines, model, series)
    _ttft_histogram(lines, model, series)
    return "\n".join(lines) + "\n"


def _labels(model: str, sample: SeriesSample, **extra: str) -> Labels:
    return {"engine": sample.engine, "model_name": model, "pod": sample.pod, **extra}


def _gauge(
    lines: list[str],
    name: str,
    help_text: str,
    model: str,
    series: Iterable[SeriesSample],
    value: Getter,
) -> None:
    _header(lines, name, help_text, "gauge")
    lines.extend(_sample(name, _labels(model, s), value(s)) for s in series)


def _counter(
    lines: list[str],
    base: str,
    help_text: str,
    model: str,
    series: Iterable[SeriesSample],
    value: Getter,
) -> None:
    series = tuple(series)
    _header(lines, f"{base}_total", help_text, "counter")
    lines.extend(_sample(f"{base}_total", _labels(model, s), value(s)) for s in series)
    _created(lines, base, help_text, model, series)


def _request_success(lines: list[str], model: str, series: tuple[SeriesSample, ...]) -> None:
    """Served requests finish with `stop`; clients that gave up in the queue with `abort`."""
    base, help_text = "vllm:request_success", "Count of successfully processed requests."
    reasons = (("stop", lambda s: s.requests_stopped), ("abort", lambda s: s.requests_aborted))
    _header(lines, f"{base}_total", help_text, "counter")
    for s in series:
        for reason, value in reasons:
            labels = _labels(model, s, finished_reason=reason)
            lines.append(_sample(f"{base}_total", labels, value(s)))
    _header(lines, f"{base}_created", help_text, "gauge")
    for s in series:
        for reason, _ in reasons:
            labels = _labels(model, s, finished_reason=reason)
            lines.append(_sample(f"{base}_created", labels, s.created_s))


def _ttft_histogram(lines: list[str], model: str, series: tuple[SeriesSample, ...]) -> None:
    base = "vllm:time_to_first_token_seconds"
    help_text = "Histogram of time to first token in seconds."
    _header(lines, base, help_text, "histogram")
    for s in series:
        for bound, count in zip(TTFT_BUCKETS_S, s.ttft_buckets, strict=True):
            lines.append(_sample(f"{base}_bucket", _labels(model, s, le=_number(bound)), count))
        lines.append(_sample(f"{base}_count", _labels(model, s), s.ttft_count))
        lines.append(_sample(f"{base}_sum", _labels(model, s), s.ttft_sum_s))
    _created(lines, base, help_text, model, series)


def _created(
    lines: list[str], base: str, help_text: str, model: str, series: Iterable[SeriesSample]
) -> None:
    _header(lines, f"{base}_created", help_text, "gauge")
    lines.extend(_sample(f"{base}_created", _labels(model, s), s.created_s) for s in series)


def _header(lines: list[str], name: str, help_text: str, kind: str) -> None:
    lines.append(f"# HELP {name} {escape_help(help_text)}")
    lines.append(f"# TYPE {name} {kind}")


def _sample(name: str, labels: Labels, value: float) -> str:
    # Sorted keys, as prometheus_client writes them (engine, finished_reason, le, ...).
    body = ",".join(f'{key}="{escape_label_value(labels[key])}"' for key in sorted(labels))
    return f"{name}{{{body}}} {_number(value)}"


def escape_label_value(value: str) -> str:
    """Label values escape backslash, double quote and newline (format 0.0.4)."""
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def escape_help(text: str) -> str:
    """HELP text escapes backslash and newline only."""
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _number(value: float) -> str:
    """Go-style floats as Prometheus writes them: `+Inf`, `NaN`, `1.0`, `2560.0`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
