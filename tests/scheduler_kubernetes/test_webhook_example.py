"""deploy/examples/placement-webhook: builds, validates, and agrees with the webhook's code."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scheduler.kubernetes.admission import PLACEMENT_ENABLED, PLACEMENT_LABEL
from tests.deploy.manifests import (
    K8S_VERSIONS,
    Obj,
    build,
    ident,
    of_kind,
    one,
    resolve_port,
    validation_errors,
)

WEBHOOK_NAME = "prewarm-placement-webhook"

EXAMPLE = "examples/placement-webhook"


@pytest.fixture(scope="module")
def objects() -> list[Obj]:
    return build(EXAMPLE)


@pytest.mark.parametrize("version", sorted(set(K8S_VERSIONS)))
def test_example_builds_and_validates(objects: list[Obj], version: str) -> None:
    assert {o["kind"] for o in objects} == {
        "MutatingWebhookConfiguration",
        "Service",
        "Certificate",
        "Deployment",
        "NetworkPolicy",
    }
    problems = {ident(o): e for o in objects if (e := validation_errors(o, version))}
    assert not problems, yaml.safe_dump(problems)


def test_webhook_points_at_the_service_and_never_blocks(objects: list[Obj]) -> None:
    config = one(objects, "MutatingWebhookConfiguration")
    (hook,) = config["webhooks"]
    assert hook["failurePolicy"] == "Ignore"
    assert hook["sideEffects"] == "None" and "v1" in hook["admissionReviewVersions"]
    assert hook["objectSelector"]["matchLabels"] == {PLACEMENT_LABEL: PLACEMENT_ENABLED}
    (rule,) = hook["rules"]
    assert rule["resources"] == ["pods"] and rule["operations"] == ["CREATE"]
    target = hook["clientConfig"]["service"]
    assert target["path"] == "/mutate"  # the route webhook.py serves
    service = one(objects, "Service", target["name"])
    assert service["metadata"]["namespace"] == target["namespace"]
    assert [p["port"] for p in service["spec"]["ports"]] == [target["port"]]
    # Its own namespace is excluded, so the webhook's pods never wait on themselves.
    excluded = hook["namespaceSelector"]["matchExpressions"][0]
    assert excluded["operator"] == "NotIn" and target["namespace"] in excluded["values"]


def test_ca_injection_names_the_serving_certificate(objects: list[Obj]) -> None:
    config = one(objects, "MutatingWebhookConfiguration")
    namespace, name = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].split("/")
    certificate = one(objects, "Certificate", name)
    assert certificate["metadata"]["namespace"] == namespace
    target = config["webhooks"][0]["clientConfig"]["service"]
    # The API server verifies the name <service>.<namespace>.svc.
    assert f"{target['name']}.{target['namespace']}.svc" in certificate["spec"]["dnsNames"]
    assert "server auth" in certificate["spec"]["usages"]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _flag(args: list[str], name: str) -> str:
    (value,) = [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]
    return value


def test_the_example_runs_the_webhook_it_registers(objects: list[Obj]) -> None:
    deployment = one(objects, "Deployment", WEBHOOK_NAME)
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert _selects(deployment["spec"]["selector"]["matchLabels"], labels)
    (c,) = pod["spec"]["containers"]
    args = c["args"]
    assert args[0] == "webhook"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    # The plan comes from the ConfigMap, the TLS pair from the Certificate's Secret.
    plan = Path(_flag(args, "plan"))
    (plan_volume,) = [n for n, path in mounts.items() if plan.parent == Path(path)]
    assert "configMap" in volumes[plan_volume]
    certificate = one(objects, "Certificate", WEBHOOK_NAME)
    for flag in ("cert-file", "key-file"):
        (tls_volume,) = [
            n for n, path in mounts.items() if Path(_flag(args, flag)).parent == Path(path)
        ]
        assert volumes[tls_volume]["secret"]["secretName"] == certificate["spec"]["secretName"]
    # The Service the API server calls reaches the port the webhook listens on.
    service = one(objects, "Service", WEBHOOK_NAME)
    assert _selects(service["spec"]["selector"], labels)
    (port,) = service["spec"]["ports"]
    assert resolve_port(port["targetPort"], c["ports"]) == int(_flag(args, "port"))
    (hook,) = one(objects, "MutatingWebhookConfiguration")["webhooks"]
    target = hook["clientConfig"]["service"]
    assert (target["name"], target["namespace"], target["port"]) == (
        WEBHOOK_NAME,
        deployment["metadata"]["namespace"],
        port["port"],
    )
    # Its own NetworkPolicy lets the API server in on that port.
    policy = one(objects, "NetworkPolicy", WEBHOOK_NAME)
    assert _selects(policy["spec"]["podSelector"]["matchLabels"], labels)
    assert any(
        p["port"] == int(_flag(args, "port"))
        for rule in policy["spec"]["ingress"]
        for p in rule["ports"]
    )


def test_webhook_pods_are_not_taken_for_scaler_pods(objects: list[Obj]) -> None:
    # The scaler's Deployment, Services and NetworkPolicy select by label: a webhook pod they
    # matched would be fought over by two Deployments, handed to KEDA as a gRPC address, and
    # cut off from the API server.
    base_objects = build("base")
    labels = one(objects, "Deployment", WEBHOOK_NAME)["spec"]["template"]["metadata"]["labels"]
    selectors = [one(base_objects, "Deployment", "prewarm")["spec"]["selector"]["matchLabels"]]
    selectors += [s["spec"]["selector"] for s in of_kind(base_objects, "Service")]
    selectors += [
        n["spec"]["podSelector"]["matchLabels"] for n in of_kind(base_objects, "NetworkPolicy")
    ]
    assert not [s for s in selectors if _selects(s, labels)]
