"""deploy/dashboards/prewarm.json: every query names a metric that really exists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from autoscaler.scaler.exported_metrics import DecisionMetrics
from scheduler.kubernetes.controller_metrics import ControllerMetrics
from tests.deploy.manifests import DEPLOY, REPO, missing

DASHBOARD = DEPLOY / "dashboards" / "prewarm.json"
SHARED_VLLM_EXAMPLE = REPO.parent / "shared" / "reference" / "vllm_metrics_example.txt"

# Series vLLM (V1 engine, >= 0.12) exposes that the dashboard may use, copied from the
# reference exposition (vllm_metrics_example.txt: names exact). Histograms are listed by the
# series PromQL selects (_bucket, _sum, _count), counters with their _total.
VLLM_SERIES = frozenset(
    {
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:num_preemptions_total",
        "vllm:request_success_total",
        *(
            f"vllm:{histogram}_{suffix}"
            for histogram in (
                "time_to_first_token_seconds",
                "inter_token_latency_seconds",
                "e2e_request_latency_seconds",
                "request_queue_time_seconds",
            )
            for suffix in ("bucket", "sum", "count")
        ),
    }
)
# What the dashboard exists to show (issue 6).
REQUIRED_PREWARM = {
    "prewarm_desired_replicas",
    "prewarm_forecast_replicas",
    "prewarm_reactive_replicas",
    "prewarm_data_age_seconds",
    "prewarm_decision_valid",
    "prewarm_decision_reason",
    "prewarm_forecast_prompt_tokens_per_second",
}
REQUIRED_VLLM = {
    "vllm:prompt_tokens_total",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:time_to_first_token_seconds_bucket",
}
# PromQL words that look like metric names but are not.
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range"}


def prewarm_metric_names() -> set[str]:
    """The names Prewarm's /metrics really exposes, from its own registry: the scaler's
    decisions and the placement controller's (on the same registry when it runs). A
    counter's series end in _total, a histogram's in _bucket, _sum and _count."""
    registry = DecisionMetrics().registry
    ControllerMetrics(registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in ("", *suffixes.get(family.type, ()))
    }


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (a small scanner, enough for dashboards)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values)
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # range selectors
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\$\{?\w+\}?", " ", s)  # Grafana variables
    found = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", s):
        if s[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group(0).lower() not in PROMQL_KEYWORDS:
            found.add(match.group(0))
    return found


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for p in dashboard["panels"] for t in p.get("targets", [])]


def variable_queries(dashboard: dict[str, Any]) -> list[str]:
    out = []
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]
            out.append(query["query"] if isinstance(query, dict) else query)
    return out


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (model_name) (rate(vllm:prompt_tokens_total{model_name=~"$m"}[5m]))',
            {"vllm:prompt_tokens_total"},
        ),
        ("histogram_quantile(0.95, sum(rate(a_bucket[$__rate_interval])) by (le))", {"a_bucket"}),
        ('max by (model) (x{kind="forecast"}) * 1 + y or vector($slo)', {"x", "y"}),
        ("count by (a, b) (m) * $capacity", {"m"}),
    ],
    ids=["rate", "quantile", "arithmetic", "variable"],
)
def test_metric_name_scanner(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_dashboard_is_importable(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "prewarm" and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert target["refId"] and target["expr"]


def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_queries_name_only_metrics_that_exist(dashboard: dict[str, Any]) -> None:
    known = prewarm_metric_names() | VLLM_SERIES
    used: set[str] = set()
    for target in targets(dashboard):
        used |= metric_names(target["expr"])
    for query in variable_queries(dashboard):
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
        assert match, f"unexpected variable query {query!r}"
        used.add(match.group(1))
    assert used <= known, f"not exported by Prewarm or vLLM: {sorted(used - known)}"
    assert used >= REQUIRED_PREWARM, sorted(REQUIRED_PREWARM - used)
    assert used >= REQUIRED_VLLM, sorted(REQUIRED_VLLM - used)


def test_the_required_prewarm_metrics_are_exported() -> None:
    assert prewarm_metric_names() >= REQUIRED_PREWARM


def test_variables_used_are_defined(dashboard: dict[str, Any]) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]} | GRAFANA_BUILTINS
    text = json.dumps(dashboard["panels"])
    used = set(re.findall(r"\$\{?(\w+)\}?", text))
    assert used <= defined, sorted(used - defined)


def test_vllm_names_match_the_reference_exposition() -> None:
    """Cross-check against ../shared: absent outside this workspace, skip; under CI=true, fail."""
    if not SHARED_VLLM_EXAMPLE.is_file():
        missing(f"{SHARED_VLLM_EXAMPLE} is absent")
    exposed = {
        line.split("{")[0].split()[0]
        for line in Path(SHARED_VLLM_EXAMPLE).read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert sorted(VLLM_SERIES - exposed) == []
