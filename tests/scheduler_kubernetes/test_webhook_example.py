"""deploy/examples/placement-webhook: builds, validates, and agrees with the webhook's code."""

from __future__ import annotations

import pytest
import yaml

from scheduler.kubernetes.admission import PLACEMENT_ENABLED, PLACEMENT_LABEL
from tests.deploy.manifests import K8S_VERSIONS, Obj, build, ident, one, validation_errors

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
