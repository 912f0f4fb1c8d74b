"""The production MetricSource: one model's vLLM series, read from Prometheus.

prometheus-api-client is synchronous (requests), so every call runs in a worker thread via
`asyncio.to_thread`; the event loop never blocks on Prometheus. Each `latest()` is one HTTP
request (the eight signals are combined into one expression, see `promql.combined`), each
`history()` one request per 10,000 steps (Prometheus refuses more than 11,000 points per
series in one range query).

Retries are off: a refresher calls again on its next tick, and a retry inside a call would
only hold a worker thread (urllib3's default backoff waits 0 + 2 + 4 s on a dead host).

Errors say what went wrong (a status code and its reason, "not a vector") and never quote
what the server answered: the error reaches KEDA's events and the unauthenticated `/models`,
and the server may be anything a ScaledObject's `prometheusAddress` named.
"""

from __future__ import annotations

import asyncio
import http
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from autoscaler.decision import PastAnswer
from autoscaler.metrics.decision_history import past_answer, past_answer_queries
from autoscaler.metrics.promql import (
    DEFAULT_NAMES,
    SIGNAL_LABEL,
    MetricNames,
    combined,
    gpu_queries,
    model_queries,
)
from autoscaler.metrics.source import MetricSourceError, ModelQuery
from autoscaler.observation import Observation

MAX_POINTS_PER_QUERY = 10_000  # below Prometheus' hard limit of 11,000 per series

T = TypeVar("T")
Signals = dict[str, float]  # Observation field name -> value, for one instant


@dataclass(frozen=True, slots=True)
class GpuSignals:
    """DCGM readings for the GPUs (or MIG instances) of one model's pods at one instant.

    For saturation and waste, not demand: a decode-bound GPU reads ~100 % busy at any load.
    """

    t_s: float
    gpus: int  # devices or MIG instances exporting DCGM_FI_PROF_GR_ENGINE_ACTIVE
    engine_active: float | None  # mean DCGM_FI_PROF_GR_ENGINE_ACTIVE, 0..1
    fb_used_mib: float | None  # sum of DCGM_FI_DEV_FB_USED; absent for MIG on H100


def redact(url: str) -> str:
    """The URL without user:password, fit for error messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class PrometheusSource:
    """Implements `autoscaler.metrics.source.MetricSource` against a Prometheus HTTP API.

    `rate_window_s` is the `rate()` window for `latest()`; `history()` widens it to the step
    when the step is longer, so each point averages its whole step instead of sampling the
    last minute of it (at step 300 s: `rate(...[5m])`).
    """

    def __init__(
        self,
        url: str,
        *,
        names: MetricNames = DEFAULT_NAMES,
        rate_window_s: float = 60.0,
        timeout_s: float = 2.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"Prometheus URL must be http(s)://host[:port][/path], got {url!r}")
        if not rate_window_s >= 1:
            raise ValueError(f"rate_window_s must be >= 1, got {rate_window_s!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        self.url = url.rstrip("/")
        self.names = names
        self.rate_window_s = rate_window_s
        self.timeout_s = timeout_s
        self._client = PrometheusConnect(
            url=self.url,
            headers=dict(headers) if headers else None,
            retry=Retry(total=0),
            timeout=timeout_s,  # requests takes floats; the client annotates int
        )

    def close(self) -> None:
        self._client.close()

    async def latest(self, query: ModelQuery, now_s: float) -> Observation | None:
        expr = combined(model_queries(query, self.names, self.rate_window_s).as_dict())
        signals = await asyncio.to_thread(self._instant, expr, now_s)
        return self._checked(_observation, now_s, signals) if signals else None

    async def history(
        self, query: ModelQuery, start_s: float, end_s: float, step_s: float
    ) -> list[Observation]:
        if not step_s > 0 or not end_s >= start_s:
            raise ValueError(f"need step_s > 0 and end_s >= start_s: {start_s}, {end_s}, {step_s}")
        window_s = max(self.rate_window_s, step_s)
        expr = combined(model_queries(query, self.names, window_s).as_dict())
        by_time: dict[float, Signals] = {}
        chunk_s = step_s * (MAX_POINTS_PER_QUERY - 1)
        chunk_start = start_s
        while chunk_start <= end_s:
            chunk_end = min(end_s, chunk_start + chunk_s)
            chunk = await asyncio.to_thread(self._range, expr, chunk_start, chunk_end, step_s)
            for t, signals in chunk.items():
                by_time.setdefault(t, {}).update(signals)
            chunk_start = chunk_end + step_s
        return [self._checked(_observation, t, by_time[t]) for t in sorted(by_time)]

    async def past_answers(
        self, scaled_object: str, start_s: float, end_s: float, step_s: float
    ) -> list[PastAnswer]:
        """Prewarm's own past answers (autoscaler/metrics/decision_history.py). The step is
        widened to stay within one query's points: a hold needs no finer grain."""
        if not step_s > 0 or not end_s >= start_s:
            raise ValueError(f"need step_s > 0 and end_s >= start_s: {start_s}, {end_s}, {step_s}")
        step_s = max(step_s, (end_s - start_s) / (MAX_POINTS_PER_QUERY - 1))
        expr = combined(past_answer_queries(scaled_object))
        points = await asyncio.to_thread(self._range, expr, start_s, end_s, step_s)
        answers = (past_answer(t, signals) for t, signals in sorted(points.items()))
        return [a for a in answers if a is not None]

    async def gpu_signals(self, query: ModelQuery, now_s: float) -> GpuSignals | None:
        """DCGM engine activity and framebuffer use for the model's pods, or None if none."""
        signals = await asyncio.to_thread(
            self._instant, combined(gpu_queries(query, self.names)), now_s
        )
        return self._checked(_gpu_signals, now_s, signals) if signals else None

    # --- blocking calls, run in worker threads ---

    def _instant(self, expr: str, t_s: float) -> Signals:
        result = self._call(lambda: self._client.custom_query(expr, params={"time": repr(t_s)}))
        return self._checked(_parse_instant, result)

    def _range(
        self, expr: str, start_s: float, end_s: float, step_s: float
    ) -> dict[float, Signals]:
        # The client rounds start/end to whole seconds; the params override them exactly.
        def call() -> Any:
            return self._client.custom_query_range(
                expr,
                start_time=datetime.fromtimestamp(start_s, UTC),
                end_time=datetime.fromtimestamp(end_s, UTC),
                step=repr(float(step_s)),
                params={"start": repr(start_s), "end": repr(end_s)},
            )

        return self._checked(_parse_range, self._call(call))

    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except requests.Timeout:
            raise self._error(f"no answer within {self.timeout_s} s") from None
        except requests.ConnectionError as exc:
            raise self._error(f"cannot connect ({_errno(exc)})") from exc
        except PrometheusApiClientException as exc:  # its message quotes the whole body
            raise self._error(_status(str(exc))) from None
        except requests.JSONDecodeError:  # a RequestException too: a 200 that is not JSON
            raise self._error("not a Prometheus API answer (not JSON)") from None
        except requests.RequestException as exc:  # redirects, a broken stream: no body quoted
            raise self._error(f"request failed ({type(exc).__name__})") from None
        except (ValueError, KeyError, TypeError) as exc:  # JSON, but not the API's
            raise self._error(f"not a Prometheus API answer ({type(exc).__name__})") from None

    def _checked(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)`, with a parse or value error turned into MetricSourceError. Only our
        own `BadAnswer` messages are kept: Python's quote the answer ("could not convert
        string to float: '...'")."""
        try:
            return fn(*args)
        except BadAnswer as exc:
            raise self._error(str(exc)) from None
        except (KeyError, IndexError, TypeError, ValueError, OverflowError) as exc:
            raise self._error(f"not a Prometheus API answer ({type(exc).__name__})") from None

    def _error(self, reason: str) -> MetricSourceError:
        return MetricSourceError(f"Prometheus at {redact(self.url)}: {reason}")


class BadAnswer(ValueError):
    """An answer of the wrong shape; its message names the shape, never the content."""


def _parse_instant(result: Any) -> Signals:
    """`[{"metric": {"prewarm_signal": name}, "value": [t, "1.5"]}, ...]` -> {name: 1.5}."""
    if not isinstance(result, list):
        raise BadAnswer(f"expected a vector, got a {type(result).__name__}")
    return {s["metric"][SIGNAL_LABEL]: float(s["value"][1]) for s in result}


def _parse_range(result: Any) -> dict[float, Signals]:
    """`[{"metric": {...}, "values": [[t, "1.5"], ...]}, ...]` -> {t: {name: 1.5}}."""
    if not isinstance(result, list):
        raise BadAnswer(f"expected a matrix, got a {type(result).__name__}")
    by_time: dict[float, Signals] = {}
    for series in result:
        name = series["metric"][SIGNAL_LABEL]
        for t, value in series["values"]:
            by_time.setdefault(float(t), {})[name] = float(value)
    return by_time


def _gpu_signals(t_s: float, signals: Signals) -> GpuSignals:
    active = signals.get("engine_active")
    fb = signals.get("fb_used_mib")
    return GpuSignals(
        t_s=t_s,
        gpus=int(signals.get("gpus", 0)),
        engine_active=active if active is not None and math.isfinite(active) else None,
        fb_used_mib=fb if fb is not None and math.isfinite(fb) else None,
    )


def _observation(t_s: float, signals: Signals) -> Observation:
    """Missing signals read 0 (no series: nothing running, nothing queued); NaN TTFT (no
    requests in the window) reads None. Any other non-finite or negative value is an error,
    not something to scale on."""

    def value(name: str) -> float:
        v = signals.get(name, 0.0)
        if not (math.isfinite(v) and v >= 0):  # v is a float: quoting it quotes no text
            raise BadAnswer(f"{name} at t={t_s} is {v!r}, expected a number >= 0")
        return v

    ttft = signals.get("ttft_p95_s")
    return Observation(
        t_s=t_s,
        prompt_tokens_per_s=value("prompt_tokens_per_s"),
        generation_tokens_per_s=value("generation_tokens_per_s"),
        requests_running=value("requests_running"),
        requests_waiting=value("requests_waiting"),
        kv_cache_usage=value("kv_cache_usage"),
        ready_replicas=int(value("ready_replicas")),
        requests_per_s=value("requests_per_s"),
        ttft_p95_s=ttft if ttft is not None and math.isfinite(ttft) and ttft >= 0 else None,
    )


def _errno(exc: BaseException) -> str:
    """`[Errno 111] Connection refused` out of urllib3's long message, if it is there."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    return found.group(0).strip() if found else _shorten(text)


def _status(message: str) -> str:
    """'HTTP 404 Not Found' out of prometheus-api-client's "HTTP Status Code 404 (b'...')",
    leaving the body out."""
    found = re.match(r"HTTP Status Code (\d{3})\b", message)
    if found is None:
        return "error answer"
    code = int(found.group(1))
    try:
        return f"HTTP {code} {http.HTTPStatus(code).phrase}"
    except ValueError:  # a code without a standard reason
        return f"HTTP {code}"


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
