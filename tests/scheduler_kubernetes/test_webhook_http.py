"""The webhook over real HTTPS: uvicorn with TLS on loopback, AdmissionReviews from httpx."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import pytest

from autoscaler.clock import ManualClock
from scheduler.kubernetes.serve_webhook import WebhookServer
from scheduler.plan import Plan
from tests.deploy.manifests import validation_errors
from tests.scaler.certs import make_pki
from tests.scheduler_kubernetes.plans import LLAMA_8B, QWEN, mixed_plan
from tests.scheduler_kubernetes.pods import pod, review

WATCH_S = 0.05


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_plan(path: Path, content: Plan | str) -> None:
    """Atomically, as the kubelet swaps a ConfigMap volume's files."""
    text = json.dumps(content.to_json()) if isinstance(content, Plan) else content
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class Webhook:
    client: httpx.AsyncClient
    plan_path: Path
    clock: ManualClock  # the plan watcher's: it checks the file each WATCH_S the test moves

    async def admit(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = await self.client.post("/mutate", json=body)
        assert reply.status_code == 200, reply.text
        data = reply.json()
        assert data["apiVersion"] == "admission.k8s.io/v1" and data["kind"] == "AdmissionReview"
        assert data["response"]["uid"] == body["request"]["uid"]
        assert data["response"]["allowed"] is True  # Prewarm never blocks a pod
        return dict(data["response"])

    async def until(self, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """/healthz once `done` holds, moving the watcher's clock one interval at a time."""
        for _ in range(20):
            health = (await self.client.get("/healthz")).json()
            if done(health):
                return dict(health)
            await self.clock.tick(WATCH_S)
            await self.clock.sleeping(1)  # the watcher checked the file and parked again
        pytest.fail(f"webhook never reached the state; last /healthz: {health}")


async def start(tmp_path: Path, plan: Plan | None) -> AsyncIterator[Webhook]:
    pki = make_pki(tmp_path)
    plan_path = tmp_path / "plan.json"
    if plan is not None:
        write_plan(plan_path, plan)
    port = free_port()
    clock = ManualClock()
    server = WebhookServer(
        plan_path, pki.server_cert, pki.server_key, "127.0.0.1", port, WATCH_S, clock=clock
    )
    stop = asyncio.Event()
    running = asyncio.create_task(server.run(stop))
    verify = ssl.create_default_context(cafile=str(pki.ca_cert))
    client = httpx.AsyncClient(base_url=f"https://localhost:{port}", verify=verify)
    try:
        for _ in range(200):  # uvicorn binds a moment after the task starts
            try:
                await client.get("/healthz")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.02)
        yield Webhook(client, plan_path, clock)
    finally:
        # Client first: a TLS connection left open makes the server wait out asyncio's 30 s
        # SSL shutdown timeout.
        await client.aclose()
        stop.set()
        await running


@pytest.fixture
async def webhook(tmp_path: Path) -> AsyncIterator[Webhook]:
    async for w in start(tmp_path, mixed_plan()):
        yield w


def patch_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["patchType"] == "JSONPatch"
    return list(json.loads(base64.b64decode(response["patch"])))


async def test_healthz_reports_the_plan_in_force(webhook: Webhook) -> None:
    health = await webhook.until(lambda h: h["plan_generation"] == 1)
    assert LLAMA_8B in health["models"] and health["last_error"] is None


async def test_pod_not_opted_in_is_allowed_without_a_patch(webhook: Webhook) -> None:
    response = await webhook.admit(review(pod(LLAMA_8B, opted_in=False)))
    assert "patch" not in response and "warnings" not in response


async def test_opted_in_pod_gets_a_patch_that_makes_a_valid_pod(webhook: Webhook) -> None:
    obj = pod(LLAMA_8B)
    response = await webhook.admit(review(obj))
    patched = jsonpatch.apply_patch(copy.deepcopy(obj), patch_of(response))
    assert not validation_errors(patched)
    (claim,) = patched["spec"]["resourceClaims"]
    assert claim["resourceClaimTemplateName"].startswith("prewarm-meta-llama-llama-3-1-8b-h100")
    assert patched["spec"]["containers"][0]["resources"]["claims"] == [{"name": claim["name"]}]


async def test_opted_in_pod_without_a_plan_for_its_model_is_allowed_with_a_warning(
    webhook: Webhook,
) -> None:
    response = await webhook.admit(review(pod("mistralai/Mistral-7B")))
    assert "patch" not in response
    assert response["warnings"] == [
        "prewarm: plan has no placement for model mistralai-Mistral-7B "
        "(mistral/0: no capacity in any zone)"
    ]


async def test_other_kinds_and_operations_pass_through(webhook: Webhook) -> None:
    for body in (
        review(pod(LLAMA_8B), operation="UPDATE"),
        review({"metadata": {"name": "x"}}, kind="ConfigMap"),
    ):
        assert "patch" not in await webhook.admit(body)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"{not json", "body is not JSON"),
        (
            json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
            "request: Field required",
        ),
        (
            json.dumps(
                {**review(pod(LLAMA_8B)), "apiVersion": "admission.k8s.io/v1beta1"}
            ).encode(),
            "apiVersion",
        ),
        (json.dumps({**review(pod(LLAMA_8B)), "kind": "Pod"}).encode(), "kind"),
        (
            json.dumps(
                {
                    "apiVersion": "admission.k8s.io/v1",
                    "kind": "AdmissionReview",
                    "request": {"kind": {"kind": "Pod"}},
                }
            ).encode(),
            "request.uid",
        ),
        (b'{"request": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "body is not JSON"),
    ],
    ids=["not-json", "no-request", "v1beta1", "wrong-kind", "no-uid", "nested-past-json"],
)
async def test_malformed_review_is_a_400_naming_the_problem(
    webhook: Webhook, body: bytes, said: str
) -> None:
    reply = await webhook.client.post(
        "/mutate", content=body, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400
    assert said in reply.json()["detail"]


async def test_plan_reload_valid_then_invalid_keeps_the_last_good_plan(webhook: Webhook) -> None:
    await webhook.until(lambda h: h["plan_generation"] == 1)
    only_qwen = mixed_plan()
    only_qwen = Plan(
        gpus_used=2,
        lower_bound_gpus=2,
        cost_per_hour=10.0,
        moves=0,
        assignments=tuple(a for a in only_qwen.assignments if a.model == QWEN),
    )
    write_plan(webhook.plan_path, only_qwen)
    health = await webhook.until(lambda h: h["plan_generation"] == 2)
    assert health["models"] == [QWEN]
    gone = await webhook.admit(review(pod(LLAMA_8B)))
    assert "patch" not in gone and "no placement for model" in gone["warnings"][0]
    assert "patch" in await webhook.admit(review(pod(QWEN)))

    bad = only_qwen.to_json()
    bad["assignments"][0]["gpu_model"] = "L4-24GB"
    bad["assignments"][1]["surprise"] = True
    write_plan(webhook.plan_path, json.dumps(bad))
    health = await webhook.until(lambda h: h["last_error"] is not None)
    assert health["plan_generation"] == 2 and health["models"] == [QWEN]
    assert "assignments.1.surprise: Extra inputs are not permitted" in health["last_error"]
    assert "patch" in await webhook.admit(review(pod(QWEN)))  # the old plan still serves

    write_plan(webhook.plan_path, "{ truncated")
    health = await webhook.until(lambda h: "not JSON" in (h["last_error"] or ""))
    assert health["plan_generation"] == 2

    write_plan(webhook.plan_path, mixed_plan())
    health = await webhook.until(lambda h: h["plan_generation"] == 3)
    assert health["last_error"] is None
    assert "patch" in await webhook.admit(review(pod(LLAMA_8B)))


async def test_starting_without_a_plan_file_admits_pods_with_a_warning(tmp_path: Path) -> None:
    async for webhook in start(tmp_path, None):
        health = await webhook.until(lambda h: h["last_error"] is not None)
        assert health["plan_generation"] == 0 and "plan.json" in health["last_error"]
        response = await webhook.admit(review(pod(LLAMA_8B)))
        assert "patch" not in response
        assert "no placement plan is loaded" in response["warnings"][0]
        write_plan(webhook.plan_path, mixed_plan())
        await webhook.until(lambda h: h["plan_generation"] == 1)
        assert "patch" in await webhook.admit(review(pod(LLAMA_8B)))


async def test_renewed_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old, new = make_pki(tmp_path / "old"), make_pki(tmp_path / "new")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(old.server_cert.read_bytes())
    key.write_bytes(old.server_key.read_bytes())
    plan_path = tmp_path / "plan.json"
    write_plan(plan_path, mixed_plan())
    port = free_port()
    stop = asyncio.Event()
    running = asyncio.create_task(
        WebhookServer(plan_path, cert, key, "127.0.0.1", port, WATCH_S).run(stop)
    )

    async def healthz_trusting(ca: Path) -> int:
        verify = ssl.create_default_context(cafile=str(ca))
        async with httpx.AsyncClient(base_url=f"https://localhost:{port}", verify=verify) as c:
            for _ in range(200):  # uvicorn binds a moment after the task starts
                try:
                    return (await c.get("/healthz")).status_code
                except httpx.ConnectError as exc:
                    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                        raise
                    await asyncio.sleep(0.02)
        raise AssertionError("webhook never answered")

    try:
        assert await healthz_trusting(old.ca_cert) == 200
        # cert-manager renews: the new pair lands in place, with a new mtime.
        cert.write_bytes(new.server_cert.read_bytes())
        key.write_bytes(new.server_key.read_bytes())
        os.utime(cert, ns=(10**18, 10**18))
        assert await healthz_trusting(new.ca_cert) == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await healthz_trusting(old.ca_cert)  # the old chain is no longer presented
        # A broken renewal (key gone) keeps the pair in force.
        key.unlink()
        os.utime(cert, ns=(2 * 10**18, 2 * 10**18))
        assert await healthz_trusting(new.ca_cert) == 200
    finally:
        stop.set()
        await running


def test_unreadable_tls_file_is_named(tmp_path: Path) -> None:
    from scheduler.kubernetes.reloading_tls import ReloadingServerContext

    with pytest.raises(ValueError, match="missing.pem"):
        ReloadingServerContext(tmp_path / "missing.pem", tmp_path / "key.pem")


def test_a_swapped_certificate_and_key_exit_2_naming_the_files(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from prewarm_cli.main import app

    pki = make_pki(tmp_path)
    argv = ["webhook", "--plan", str(tmp_path / "plan.json")]
    argv += ["--cert-file", str(pki.server_key), "--key-file", str(pki.server_cert)]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "cannot load the TLS pair" in result.output and str(pki.server_key) in result.output


JUNK_PLANS = {
    "binary": bytes(range(256)),
    "utf-16": json.dumps({"gpus_used": 0}).encode("utf-16"),
    "deeply-nested": b"[" * 100_000 + b"]" * 100_000,
    "not-an-object": b"[1, 2]",
}


@pytest.mark.parametrize(
    "content", [None, b"{}", *JUNK_PLANS.values()], ids=["missing", "invalid", *JUNK_PLANS]
)
def test_a_plan_unreadable_at_start_exits_2_naming_it(
    tmp_path: Path, content: bytes | None
) -> None:
    # A wrong --plan would otherwise serve no plan, admitting pods unpatched with /healthz ok.
    from typer.testing import CliRunner

    from prewarm_cli.main import app

    pki = make_pki(tmp_path)
    plan_path = tmp_path / "plan.json"
    if content is not None:
        plan_path.write_bytes(content)
    argv = ["webhook", "--plan", str(plan_path)]
    argv += ["--cert-file", str(pki.server_cert), "--key-file", str(pki.server_key)]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert str(plan_path) in result.output


def _hostile(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """A review of an opted-in LLAMA_8B pod with one part of its object made hostile."""
    body = review(pod(LLAMA_8B))
    change(body["request"])
    return body


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    """Sets the request's value at `path` (keys, since label keys hold '.' and '/')."""

    def change(request: dict[str, Any]) -> None:
        *parents, last = path
        node = request
        for key in parents:
            node = node[key]
        node[last] = value

    return change


POD_INDEX = "apps.kubernetes.io/pod-index"
LABELS = ("object", "metadata", "labels")
HOSTILE = {
    # Label values the API server validates only after mutating admission.
    "superscript-index": _set((*LABELS, POD_INDEX), "²"),
    "5000-digit-index": _set((*LABELS, POD_INDEX), "7" * 5000),
    # Shapes no API server sends, which must still not crash the webhook.
    "index-not-a-string": _set((*LABELS, POD_INDEX), 3),
    "metadata-a-list": _set(("object", "metadata"), ["labels"]),
    "labels-a-string": _set(("object", "metadata", "labels"), "prewarm.dev/placement=enabled"),
    "annotations-a-list": _set(("object", "metadata", "annotations"), ["prewarm.dev/model"]),
    "model-annotation-a-list": _set(
        ("object", "metadata", "annotations"), {"prewarm.dev/model": [1]}
    ),
    "spec-a-string": _set(("object", "spec"), "containers"),
    "containers-of-strings": _set(("object", "spec", "containers"), ["vllm"]),
    "container-resources-a-list": _set(("object", "spec", "containers"), [{"resources": []}]),
    "resource-claims-a-string": _set(("object", "spec", "resourceClaims"), "claims"),
    "affinity-a-list": _set(("object", "spec", "affinity"), [1]),
    "object-a-list": _set(("object",), [1, 2]),
    "request-kind-a-string": _set(("kind",), "Pod"),
    "operation-a-number": _set(("operation",), 7),
}


@pytest.mark.parametrize("change", HOSTILE.values(), ids=HOSTILE.keys())
async def test_a_malformed_review_with_a_uid_is_allowed_never_a_500(
    webhook: Webhook, change: Callable[[dict[str, Any]], object]
) -> None:
    await webhook.until(lambda h: h["plan_generation"] == 1)
    body = _hostile(change)
    response = await webhook.admit(body)  # 200, allowed, the same uid
    if "patch" in response:  # where the pod still reads as a placeable one: a patch that applies
        jsonpatch.apply_patch(copy.deepcopy(body["request"]["object"]), patch_of(response))
    else:  # pods not opted in or not pods get no warning; the others say why they are unplaced
        assert all(w.startswith("prewarm: ") for w in response.get("warnings", []))


@pytest.mark.parametrize("content", JUNK_PLANS.values(), ids=JUNK_PLANS.keys())
async def test_a_junk_plan_reload_keeps_the_plan_and_says_why_on_healthz(
    webhook: Webhook, content: bytes
) -> None:
    await webhook.until(lambda h: h["plan_generation"] == 1)
    tmp = webhook.plan_path.with_suffix(".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, webhook.plan_path)
    health = await webhook.until(lambda h: h["last_error"] is not None)
    assert health["last_error"].startswith(f"{webhook.plan_path}: ")
    assert health["plan_generation"] == 1 and LLAMA_8B in health["models"]
    assert "patch" in await webhook.admit(review(pod(LLAMA_8B)))  # the old plan still serves
