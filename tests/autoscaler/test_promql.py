"""PromQL building: exact queries, name presets, and label values that cannot inject PromQL."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from autoscaler.metrics.promql import (
    MetricNames,
    combined,
    duration,
    gpu_queries,
    model_queries,
    quote,
    selector,
)
from autoscaler.metrics.source import ModelQuery

M = '{model_name="llama"}'


DOCUMENTED = [
    ("prompt_tokens_per_s", f"sum(rate(vllm:prompt_tokens_total{M}[1m]))"),
    ("generation_tokens_per_s", f"sum(rate(vllm:generation_tokens_total{M}[1m]))"),
    ("requests_running", f"sum(vllm:num_requests_running{M})"),
    ("requests_waiting", f"sum(vllm:num_requests_waiting{M})"),
    ("kv_cache_usage", f"avg(vllm:kv_cache_usage_perc{M})"),
    ("ready_replicas", f"count(vllm:kv_cache_usage_perc{M})"),
    (
        "requests_per_s",
        f'sum(rate(vllm:request_success_total{M[:-1]},finished_reason!="abort"}}[1m]))',
    ),
    (
        "ttft_p95_s",
        "histogram_quantile(0.95, sum by (le)"
        f"(rate(vllm:time_to_first_token_seconds_bucket{M}[1m])))",
    ),
]


@pytest.mark.parametrize(("field", "expected"), DOCUMENTED, ids=[f for f, _ in DOCUMENTED])
def test_model_queries_are_the_documented_ones(field: str, expected: str) -> None:
    assert model_queries(ModelQuery("llama")).as_dict()[field] == expected


def test_a_namespace_adds_an_exact_matcher_to_every_query() -> None:
    queries = model_queries(ModelQuery("llama", "serving")).as_dict()
    for expr in queries.values():
        assert '{model_name="llama",namespace="serving"' in expr


@pytest.mark.parametrize(
    ("release", "kv_name"),
    [("current", "vllm:kv_cache_usage_perc"), ("pre-0.12", "vllm:gpu_cache_usage_perc")],
    ids=["current", "pre-0.12"],
)
def test_name_presets_pick_the_kv_usage_name(release: str, kv_name: str) -> None:
    names = MetricNames.preset(release)  # type: ignore[arg-type]
    queries = model_queries(ModelQuery("m"), names)
    assert queries.kv_cache_usage == f'avg({kv_name}{{model_name="m"}})'
    assert queries.ready_replicas == f'count({kv_name}{{model_name="m"}})'


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(60, "1m"), (120, "2m"), (90, "90s"), (1, "1s"), (30.2, "31s"), (300.0, "5m")],
    ids=["60", "120", "90", "1", "30.2-rounds-up", "300.0"],
)
def test_duration(seconds: float, expected: str) -> None:
    assert duration(seconds) == expected


def test_rate_window_is_configurable() -> None:
    assert "[90s]" in model_queries(ModelQuery("m"), rate_window_s=90).prompt_tokens_per_s
    with pytest.raises(ValueError, match="at least 1 s"):
        duration(0)


@pytest.mark.parametrize(
    "override",
    [
        {"prompt_tokens": 'vllm:x{a="1"}'},
        {"kv_cache_usage": "vllm:kv) or vector(1"},
        {"model_label": "model-name"},
        {"namespace_label": "__name__"},
        {"unknown_key": "x"},
    ],
    ids=["selector-in-name", "expression-in-name", "dash-in-label", "reserved-label", "unknown"],
)
def test_metric_names_are_validated(override: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        MetricNames(**override)  # type: ignore[arg-type]


def test_metric_names_are_frozen() -> None:
    names = MetricNames()
    with pytest.raises(ValidationError):
        names.prompt_tokens = "x"  # type: ignore[misc]


# --- escaping: hostile label values stay one string literal ---

_GO_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


def split_literals(promql: str) -> tuple[str, list[str]]:
    """The query with every "..." literal replaced by "", and the decoded literals (Go rules).

    A literal that were not closed, or an unknown escape, fails the test.
    """
    skeleton: list[str] = []
    values: list[str] = []
    i = 0
    while i < len(promql):
        char = promql[i]
        if char != '"':
            skeleton.append(char)
            i += 1
            continue
        i += 1
        value: list[str] = []
        while True:
            assert i < len(promql), f"unterminated literal in {promql!r}"
            char = promql[i]
            assert char != "\n", "raw newline inside a literal"
            if char == '"':
                i += 1
                break
            if char == "\\":
                kind = promql[i + 1]
                if kind in _GO_ESCAPES:
                    value.append(_GO_ESCAPES[kind])
                    i += 2
                elif kind in "uU":
                    width = 4 if kind == "u" else 8
                    value.append(chr(int(promql[i + 2 : i + 2 + width], 16)))
                    i += 2 + width
                else:
                    raise AssertionError(f"unknown escape \\{kind}")
                continue
            value.append(char)
            i += 1
        skeleton.append('""')
        values.append("".join(value))
    return "".join(skeleton), values


HOSTILE = [
    'x"} or vector(1) or {a="',
    "evil\\",
    'a\\"} or vector(1) #',
    "llama\n} or vector(1)",
    '"',
    "",
    "{}[]()$1.*+?|",
    "модель-7b 🚀",
    "nul\x00del\x7f",
    "tab\tcr\rls\u2028nbsp\xa0",
    "Qwen/Qwen2.5-7B-Instruct",
]


@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v)[1:-1][:20] for v in HOSTILE])
def test_a_hostile_model_name_stays_one_label_value(value: str) -> None:
    benign = model_queries(ModelQuery("m", "ns")).as_dict()
    hostile = model_queries(ModelQuery(value, "ns")).as_dict()
    for field, expr in hostile.items():
        skeleton, literals = split_literals(expr)
        assert skeleton == split_literals(benign[field])[0], field
        assert literals[0] == value
    assert "\n" not in combined(hostile)


@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v)[1:-1][:20] for v in HOSTILE])
def test_quote_round_trips(value: str) -> None:
    skeleton, literals = split_literals(quote(value))
    assert (skeleton, literals) == ('""', [value])


def test_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        quote("bad\ud800")


def test_selector_refuses_bad_names() -> None:
    assert selector("up", {"job": "a"}) == 'up{job="a"}'
    with pytest.raises(ValueError):
        selector("up or vector(1)", {})
    with pytest.raises(ValueError):
        selector("up", {'job="x",a': "1"})


def test_combined_tags_each_part() -> None:
    expr = combined({"a": "sum(x)", "b": "count(y)"})
    assert expr == (
        'label_replace(sum(x), "prewarm_signal", "a", "", "") or '
        'label_replace(count(y), "prewarm_signal", "b", "", "")'
    )
    with pytest.raises(ValueError):
        combined({'a", "x': "sum(x)"})


def test_gpu_queries_join_on_the_workload_pod() -> None:
    queries = gpu_queries(ModelQuery("llama", "serving"))
    assert set(queries) == {"engine_active", "gpus", "fb_used_mib"}
    for expr in queries.values():
        assert '"pod", "$1", "exported_pod", "(.+)"' in expr
        assert '"namespace", "$1", "exported_namespace", "(.+)"' in expr
        assert re.search(
            r' and on \(namespace, pod\) vllm:kv_cache_usage_perc\{model_name="llama",'
            r'namespace="serving"\}\)$',
            expr,
        )
    assert queries["engine_active"].startswith("avg(label_replace(label_replace(DCGM_FI_PROF_GR")
    assert queries["fb_used_mib"].startswith("sum(label_replace(label_replace(DCGM_FI_DEV_FB_USED")
