"""The operators' API driven from its own OpenAPI schema, over real HTTP on loopback.

For every operation the schema lists, hypothesis draws path and query values (inside the
declared bounds, on them, past them, or junk), a bearer token (right, wrong, none) where the
operation is guarded, and a JSON body built from the request model's schema or random JSON.
Each answer must be a status the schema documents for that operation, and never a 5xx.

The served model's source answers history on the step it is asked for (as Prometheus does;
the shared fake answers minutes whatever the step), over the last three hours only, and the
default forecaster set is one fast kind: the statuses are the same, the run is seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.http import admin_api
from autoscaler.http.app import build_app
from autoscaler.observation import Observation
from autoscaler.scaler.exported_metrics import DecisionMetrics
from tests.fakes import FakeMetricSource
from tests.fuzz.loop_thread import LoopThread
from tests.operators.test_operators_api import MODEL, TOKEN, Server, start_server
from tests.scaler.scaler_helpers import make_registry

Json = Any
HISTORY_S = 3 * 3600.0
FAST_KINDS = ["last-value", "seasonal-naive"]


def _schema() -> dict[str, Any]:
    """The schema the served app publishes (same routes and models), read without serving."""
    registry, _ = make_registry(FakeMetricSource())
    return build_app(registry, DecisionMetrics(), api_token=TOKEN).openapi()


SCHEMA = _schema()
OPERATIONS = [
    (method, path, op)
    for path, operations in SCHEMA["paths"].items()
    for method, op in operations.items()
]


async def _grid_history(
    query: Any, start_s: float, end_s: float, step_s: float
) -> list[Observation]:
    """A daily sine sampled on the asked grid, over the last HISTORY_S of it."""
    first = max(start_s, end_s - HISTORY_S)
    times = first + step_s * np.arange(int((end_s - first) // step_s) + 1)
    return [
        Observation(float(t), 1000 + 500 * math.sin(2 * math.pi * t / 86400), 100.0, 5, 0, 0.1, 3)
        for t in times
    ]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopThread[Server], Server]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(admin_api, "default_kinds", lambda: ["last-value"])
        running = LoopThread(start_server(tmp_path_factory.mktemp("api"), TOKEN))
        try:
            server = running.value
            for tracked in server.registry.all():
                patch.setattr(tracked.source, "history", _grid_history)
            yield running, server
        finally:
            running.close()


# --- values from schemas ---

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def _number(schema: dict[str, Any]) -> st.SearchStrategy[float]:
    lo = schema.get("minimum", schema.get("exclusiveMinimum"))
    hi = schema.get("maximum", schema.get("exclusiveMaximum"))
    if schema.get("multipleOf") == 1:
        lo_i = -(10**6) if lo is None else math.ceil(lo)
        hi_i = 10**6 if hi is None else math.floor(hi)
        inside: st.SearchStrategy[float] = st.integers(lo_i, hi_i).map(float)
    else:
        inside = st.floats(
            lo,
            hi,
            exclude_min="exclusiveMinimum" in schema,
            exclude_max="exclusiveMaximum" in schema,
            allow_nan=False,
        )
    edges = [v for b in (lo, hi) if b is not None for v in (b, b - 1, b + 1, b * 1.5)]
    return inside | st.sampled_from([0.0, -1.0, 0.5, 1e308, *edges])


def _from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Json]:
    if "$ref" in schema:
        return _from_schema(_resolve(schema["$ref"]))
    if "anyOf" in schema:
        return st.one_of([_from_schema(s) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind in ("number", "integer"):
        return _number(schema)
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        items = _from_schema(schema.get("items", {})) | st.sampled_from(FAST_KINDS)
        return st.lists(items, max_size=3)
    if kind == "object":
        return _object(schema)
    return st.text(max_size=20)


def _object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Json]]:
    """Each declared property omitted, valid-ish or junk; now and then an unknown key."""
    props = schema.get("properties", {})
    fields = {
        name: st.none() | _from_schema(prop) | _from_schema(prop) | json_values
        for name, prop in props.items()
    }

    def build(values: dict[str, Json], extra: dict[str, Json]) -> dict[str, Json]:
        return {k: v for k, v in values.items() if v is not None} | extra

    no_extra: dict[str, Json] = {}
    extra = st.dictionaries(st.text(max_size=8), json_values, max_size=1) | st.just(no_extra)
    return st.builds(build, st.fixed_dictionaries(fields), extra)


def _resolve(ref: str) -> dict[str, Any]:
    node: Any = SCHEMA
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def _query_value(schema: dict[str, Any]) -> st.SearchStrategy[str | None]:
    junk = st.sampled_from(["nan", "inf", "-inf", "", "1e999", "0x10"]) | st.text(max_size=10)
    return st.none() | _from_schema(schema).map(lambda v: None if v is None else str(v)) | junk


path_models = st.just(MODEL) | st.text(max_size=20).filter(
    lambda m: m and "/" not in m and m not in (".", "..")
)
tokens = st.sampled_from([TOKEN, "wrong-token", None])


@st.composite
def requests(draw: st.DrawFn, path: str, op: dict[str, Any]) -> dict[str, Any]:
    url = path
    params: dict[str, str] = {}
    for param in op.get("parameters", []):
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", quote(draw(path_models), safe="/"))
        elif param["in"] == "query":
            value = draw(_query_value(param["schema"]))
            if value is not None:
                params[param["name"]] = value
    headers = {}
    if "security" in op and (token := draw(tokens)) is not None:
        headers["Authorization"] = f"Bearer {token}"
    out: dict[str, Any] = {"url": url, "params": params, "headers": headers}
    body = op.get("requestBody")
    if body is not None:
        schema = body["content"]["application/json"]["schema"]
        out["json"] = draw(_from_schema(schema) | _from_schema(schema) | json_values)
    return out


@pytest.mark.parametrize(
    ("method", "path", "op"), OPERATIONS, ids=[f"{m.upper()} {p}" for m, p, _ in OPERATIONS]
)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_answer_is_documented_and_never_a_5xx(
    api: tuple[LoopThread[Server], Server],
    method: str,
    path: str,
    op: dict[str, Any],
    data: st.DataObject,
) -> None:
    running, server = api
    request = data.draw(requests(path, op), label="request")
    reply: httpx.Response = running.run(
        server.client.request(method.upper(), timeout=120, **request)
    )
    documented = sorted(op["responses"])
    assert reply.status_code < 500, (reply.status_code, reply.text[:500])
    assert str(reply.status_code) in documented, (reply.status_code, documented, reply.text[:300])
