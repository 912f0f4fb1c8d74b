"""Malformed AdmissionReviews over real HTTPS to the placement webhook.

Reviews are real ones (tests/scheduler_kubernetes/pods.py) with parts replaced by random JSON
or removed, and index labels holding hostile values (the API server validates labels only
after mutating admission). Whatever arrives, the answer is never a 5xx and always JSON: an
AdmissionReview that allows the pod with the request's uid (and a patch that applies, if
any) whenever the body has a readable uid, else a 400 naming the problem.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.kubernetes.admission import LWS_GROUP_INDEX, LWS_WORKER_INDEX, POD_INDEX
from scheduler.kubernetes.webhook import ADMISSION_API
from tests.fuzz.loop_thread import LoopThread
from tests.scheduler_kubernetes.plans import LLAMA_8B, LLAMA_405B, QWEN, mixed_plan
from tests.scheduler_kubernetes.pods import pod, review
from tests.scheduler_kubernetes.test_webhook_http import Webhook, start

Json = Any
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
hostile_indexes = (
    st.sampled_from(["²", "١", "٣", "7" * 5000, "-1", "1e3", "0x1", " 1", "+1", "", "0"])
    | st.sampled_from(["1234567890", "999999999", "00000000000000000001"])
    | st.integers(-(10**12), 10**12).map(str)
    | st.text(max_size=12)
    | json_values
)
index_labels = st.dictionaries(
    st.sampled_from([POD_INDEX, LWS_GROUP_INDEX, LWS_WORKER_INDEX]), hostile_indexes, max_size=3
)
models = st.sampled_from([LLAMA_8B, QWEN, LLAMA_405B, "mistralai/Mistral-7B"])


@pytest.fixture(scope="module")
def webhook(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LoopThread[Webhook], Webhook]]:
    running = LoopThread(start(tmp_path_factory.mktemp("webhook"), mixed_plan()))
    try:
        yield running, running.value
    finally:
        running.close()


def _paths(node: Json, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path inside `node` (dict keys and list indexes), outermost first."""
    if isinstance(node, dict):
        children: list[tuple[Any, Json]] = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    else:
        return []
    out: list[tuple[Any, ...]] = []
    for key, child in children:
        out += [(*prefix, key), *_paths(child, (*prefix, key))]
    return out


def _apply(body: Json, path: tuple[Any, ...], value: Json, delete: bool) -> None:
    *parents, last = path
    node = body
    for key in parents:
        node = node[key]
    if delete:
        del node[last]
    else:
        node[last] = value


def _post(running: LoopThread[Webhook], hook: Webhook, content: bytes) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return running.run(hook.client.post("/mutate", content=content, headers=headers))


def _readable_uid(body: Json) -> str | None:
    """The uid the webhook must echo: set when the body is an AdmissionReview at all."""
    if not isinstance(body, dict) or body.get("apiVersion") != ADMISSION_API:
        return None
    request = body.get("request")
    if body.get("kind") != "AdmissionReview" or not isinstance(request, dict):
        return None
    uid = request.get("uid")
    return uid if isinstance(uid, str) and uid else None


def _check(reply: httpx.Response, body: Json) -> None:
    assert reply.status_code < 500, reply.text[:500]
    data = reply.json()  # always JSON
    uid = _readable_uid(body)
    if uid is None:
        assert reply.status_code == 400 and isinstance(data["detail"], str), data
        return
    assert reply.status_code == 200, reply.text[:500]
    assert data["apiVersion"] == ADMISSION_API and data["kind"] == "AdmissionReview"
    response = data["response"]
    assert response["uid"] == uid and response["allowed"] is True
    assert all(isinstance(w, str) for w in response.get("warnings", []))
    if "patch" in response:
        assert response["patchType"] == "JSONPatch"
        patch = json.loads(base64.b64decode(response["patch"]))
        jsonpatch.apply_patch(copy.deepcopy(body["request"]["object"]), patch)  # it applies


@settings(max_examples=50, deadline=None)
@given(models, index_labels, st.data())
def test_a_review_with_random_parts_gets_an_admission_review_or_a_400(
    webhook: tuple[LoopThread[Webhook], Webhook],
    model: str,
    labels: dict[str, Json],
    data: st.DataObject,
) -> None:
    body = review(pod(model, labels=labels))
    for _ in range(data.draw(st.integers(0, 3), label="changes")):
        paths = _paths(body)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        delete = data.draw(st.booleans(), label="delete")
        value = None if delete else data.draw(json_values, label="value")
        _apply(body, path, value, delete)
    _check(_post(*webhook, json.dumps(body).encode()), body)


@settings(max_examples=30, deadline=None)
@given(json_values | st.binary(max_size=200).map(lambda b: {"__raw__": b}))
def test_any_body_gets_json_and_never_a_5xx(
    webhook: tuple[LoopThread[Webhook], Webhook], body: Json
) -> None:
    raw = body.get("__raw__") if isinstance(body, dict) else None
    content = raw if isinstance(raw, bytes) else json.dumps(body).encode()
    parsed = body if raw is None else None
    _check(_post(*webhook, content), parsed)
