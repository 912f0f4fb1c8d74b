"""deploy/examples: valid objects, and ScaledObjects that Prewarm accepts and can answer."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from autoscaler.scaler.metadata import parse_metadata
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.serve_config import load_serve_config
from tests.deploy.manifests import (
    EXAMPLES,
    K8S_VERSIONS,
    REPO,
    Obj,
    build,
    config_files,
    example_files,
    examples,
    ident,
    load_docs,
    of_kind,
    one,
    pod_templates,
    validation_errors,
)

EXTERNAL_TRIGGERS = ("external", "external-push")
WEBHOOK_NAME = "prewarm-placement-webhook"
VLLM_IMAGE = re.compile(r"^vllm/vllm-openai:v\d+\.\d+\.\d+$")  # a pinned release, not :latest
# NVIDIA DRA driver attributes and capacities (resource.k8s.io/v1, driver gpu.nvidia.com).
DRA_ATTRIBUTES = {
    "type",
    "productName",
    "architecture",
    "uuid",
    "brand",
    "cudaComputeCapability",
    "driverVersion",
    "profile",
    "parentUUID",
}
DRA_CAPACITIES = {"memory", "multiprocessors"}


def scaled_objects() -> list[Obj]:
    return of_kind(examples(), "ScaledObject")


def external_triggers(scaled_object: Obj) -> list[Obj]:
    return [t for t in scaled_object["spec"]["triggers"] if t["type"] in EXTERNAL_TRIGGERS]


def so_id(scaled_object: Obj) -> str:
    return scaled_object["metadata"]["name"]


def served_model_names(workload: Obj) -> set[str]:
    """Every --served-model-name a workload's vLLM containers are started with."""
    found: set[str] = set()
    for _, template in pod_templates(workload):
        for c in template["spec"]["containers"]:
            words = [
                w for part in c.get("command", []) + c.get("args", []) for w in shlex.split(part)
            ]
            for i, word in enumerate(words):
                if word.startswith("--served-model-name="):
                    found.add(word.split("=", 1)[1])
                elif word == "--served-model-name":
                    found.add(words[i + 1])
    return found


@pytest.fixture(scope="module")
def base_objects() -> list[Obj]:
    return build("base")


@pytest.fixture(scope="module")
def profile_book(base_objects: list[Obj], tmp_path_factory: pytest.TempPathFactory) -> ProfileBook:
    """The profiles Prewarm loads from the ConfigMap deploy/base ships."""
    _, profiles = load_serve_config(config_files(base_objects, tmp_path_factory.mktemp("config")))
    return ProfileBook(profiles)


def test_there_are_examples() -> None:
    kinds = {o["kind"] for o in examples()}
    assert {
        "Deployment",
        "ScaledObject",
        "TriggerAuthentication",
        "ResourceClaimTemplate",
        "LeaderWorkerSet",
        "Certificate",
        "ClusterIssuer",
    } <= kinds
    assert {t["type"] for so in scaled_objects() for t in so["spec"]["triggers"]} == set(
        EXTERNAL_TRIGGERS
    )


@pytest.mark.parametrize("version", sorted(set(K8S_VERSIONS)))
@pytest.mark.parametrize("path", example_files(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_objects_validate(path: Path, version: str) -> None:
    problems = {
        ident(obj): errors for obj in load_docs(path) if (errors := validation_errors(obj, version))
    }
    assert not problems, yaml.safe_dump(problems)


# --- ScaledObjects -------------------------------------------------------------------------
@pytest.mark.parametrize("scaled_object", scaled_objects(), ids=so_id)
def test_trigger_metadata_is_accepted_by_prewarm(scaled_object: Obj) -> None:
    """Exactly the map KEDA forwards (`scalerMetadata`) goes through Prewarm's own parser."""
    meta = scaled_object["metadata"]
    for trigger in external_triggers(scaled_object):
        target = parse_metadata(meta["name"], meta["namespace"], trigger["metadata"])
        assert target.model


@pytest.mark.parametrize("scaled_object", scaled_objects(), ids=so_id)
def test_prewarm_has_a_profile_for_every_scaled_object(
    scaled_object: Obj, profile_book: ProfileBook
) -> None:
    meta = scaled_object["metadata"]
    for trigger in external_triggers(scaled_object):
        target = parse_metadata(meta["name"], meta["namespace"], trigger["metadata"])
        profile = profile_book.resolve(target)  # MetadataError = INVALID_ARGUMENT for KEDA
        assert profile.model == target.model


@pytest.mark.parametrize("scaled_object", scaled_objects(), ids=so_id)
def test_scaler_address_is_the_headless_service(
    scaled_object: Obj, base_objects: list[Obj]
) -> None:
    service = one(base_objects, "Service", "prewarm-grpc")
    (port,) = service["spec"]["ports"]
    meta = service["metadata"]
    address = f"{meta['name']}.{meta['namespace']}.svc.cluster.local:{port['port']}"
    for trigger in external_triggers(scaled_object):
        assert trigger["metadata"]["scalerAddress"] == address


@pytest.mark.parametrize("scaled_object", scaled_objects(), ids=so_id)
def test_scaled_object_targets_the_vllm_serving_its_model(scaled_object: Obj) -> None:
    ref = scaled_object["spec"]["scaleTargetRef"]
    namespace = scaled_object["metadata"]["namespace"]
    (workload,) = [
        o
        for o in examples()
        if o["kind"] == ref.get("kind", "Deployment")
        and o["apiVersion"] == ref.get("apiVersion", "apps/v1")
        and o["metadata"]["name"] == ref["name"]
        and o["metadata"]["namespace"] == namespace
    ]
    served = served_model_names(workload)
    for trigger in external_triggers(scaled_object):
        assert trigger["metadata"]["model"] in served
        assert trigger["metadata"].get("namespace", namespace) == namespace


@pytest.mark.parametrize("scaled_object", scaled_objects(), ids=so_id)
def test_hpa_follows_prewarm_instead_of_stabilising_again(scaled_object: Obj) -> None:
    spec = scaled_object["spec"]
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    maximum = spec["maxReplicaCount"]
    assert 0 <= spec.get("minReplicaCount", 0) <= maximum
    for direction in ("scaleUp", "scaleDown"):
        rules = behavior[direction]
        assert {p["type"] for p in rules["policies"]} <= {"Pods", "Percent"}, direction
        assert rules["stabilizationWindowSeconds"] == 0, direction
        assert rules.get("selectPolicy", "Max") == "Max", direction
        assert all(p["periodSeconds"] <= 15 for p in rules["policies"]), direction
    # Wide enough never to bind: the whole fleet can go in one HPA period, either way.
    up = behavior["scaleUp"]["policies"]
    assert any(p["type"] == "Pods" and p["value"] >= maximum for p in up) or any(
        p["type"] == "Percent" and p["value"] >= 100 * maximum for p in up
    )
    down = behavior["scaleDown"]["policies"]
    assert any(p["type"] == "Percent" and p["value"] >= 100 for p in down)


@pytest.mark.parametrize("scaled_object", scaled_objects(), ids=so_id)
def test_fallback_is_set_and_usable(scaled_object: Obj) -> None:
    spec = scaled_object["spec"]
    fallback = spec["fallback"]
    assert fallback["failureThreshold"] >= 1
    assert spec.get("minReplicaCount", 0) <= fallback["replicas"] <= spec["maxReplicaCount"]
    # KEDA applies a fallback only to AverageValue triggers; it is also what makes Prewarm's
    # "value = replicas, target = 1" land exactly.
    for trigger in external_triggers(scaled_object):
        assert trigger.get("metricType", "AverageValue") == "AverageValue"


def test_mtls_trigger_authentication_uses_the_client_certificate() -> None:
    objects = examples()
    (scaled_object,) = [
        so
        for so in scaled_objects()
        if any(t.get("metadata", {}).get("enableTLS") == "true" for t in so["spec"]["triggers"])
    ]
    (trigger,) = external_triggers(scaled_object)
    namespace = scaled_object["metadata"]["namespace"]
    auth = one(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["metadata"]["namespace"] == namespace
    refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    assert set(refs) == {"caCert", "tlsClientCert", "tlsClientKey"}
    (secret,) = {r["name"] for r in refs.values()}
    assert {p: r["key"] for p, r in refs.items()} == {
        "caCert": "ca.crt",
        "tlsClientCert": "tls.crt",
        "tlsClientKey": "tls.key",
    }
    (client,) = [
        c
        for c in of_kind(objects, "Certificate")
        if c["spec"]["secretName"] == secret and c["metadata"]["namespace"] == namespace
    ]
    assert "client auth" in client["spec"]["usages"]
    # Both sides from the same CA: each one's ca.crt verifies the other.
    server = one(build("overlays/production"), "Certificate")
    assert client["spec"]["issuerRef"] == server["spec"]["issuerRef"]
    host = trigger["metadata"]["scalerAddress"].rsplit(":", 1)[0]
    assert host in server["spec"]["dnsNames"]


def test_ca_issuer_matches_the_certificates() -> None:
    issuers = {i["metadata"]["name"]: i for i in of_kind(examples(), "ClusterIssuer")}
    server = one(build("overlays/production"), "Certificate")["spec"]["issuerRef"]
    assert server["kind"] == "ClusterIssuer"
    ca_issuer = issuers[server["name"]]
    ca_certificate = one(examples(), "Certificate", "prewarm-ca")["spec"]
    assert ca_certificate["isCA"] is True
    assert ca_issuer["spec"]["ca"]["secretName"] == ca_certificate["secretName"]
    assert "selfSigned" in issuers[ca_certificate["issuerRef"]["name"]]["spec"]


# --- vLLM workloads ------------------------------------------------------------------------
def vllm_workloads() -> list[Obj]:
    return [
        o
        for o in examples()
        if o["kind"] in ("Deployment", "LeaderWorkerSet") and o["metadata"]["name"] != WEBHOOK_NAME
    ]


@pytest.mark.parametrize("workload", vllm_workloads(), ids=lambda o: o["metadata"]["name"])
def test_vllm_workloads_pin_an_image_name_a_model_and_get_gpus(workload: Obj) -> None:
    assert len(served_model_names(workload)) == 1
    for where, template in pod_templates(workload):
        pod = template["spec"]
        claims = {c["name"]: c for c in pod.get("resourceClaims", [])}
        for c in pod["containers"]:
            assert VLLM_IMAGE.match(c["image"]), f"{where}: {c['image']}"
            resources = c["resources"]
            gpus = int(resources.get("limits", {}).get("nvidia.com/gpu", 0))
            claimed = [cl["name"] for cl in resources.get("claims", [])]
            assert gpus > 0 or claimed, f"{where}: no GPU"
            assert set(claimed) <= set(claims), f"{where}: claims a name the pod does not declare"


def test_podmonitor_scrapes_the_vllm_pods() -> None:
    monitor = one(examples(), "PodMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    for workload in vllm_workloads():
        serving = False
        for _, template in pod_templates(workload):
            labels = template.get("metadata", {}).get("labels", {})
            ports = {
                p.get("name") for c in template["spec"]["containers"] for p in c.get("ports", [])
            }
            serving |= selector.items() <= labels.items() and endpoint["port"] in ports
        assert serving, f"{workload['metadata']['name']}: no pod the PodMonitor scrapes"


# --- DRA -----------------------------------------------------------------------------------
def claim_templates() -> list[Obj]:
    return of_kind(examples(), "ResourceClaimTemplate")


def test_dra_templates_cover_a_mig_slice_and_a_whole_gpu() -> None:
    classes = {
        r["exactly"]["deviceClassName"]
        for t in claim_templates()
        for r in t["spec"]["spec"]["devices"]["requests"]
    }
    assert classes == {"mig.nvidia.com", "gpu.nvidia.com"}


@pytest.mark.parametrize("template", claim_templates(), ids=lambda o: o["metadata"]["name"])
def test_dra_selectors_use_attributes_the_driver_publishes(template: Obj) -> None:
    for request in template["spec"]["spec"]["devices"]["requests"]:
        exactly = request["exactly"]
        expressions = [s["cel"]["expression"] for s in exactly.get("selectors", [])]
        text = " ".join(expressions)
        attributes = set(re.findall(r"attributes\['gpu\.nvidia\.com'\]\.(\w+)", text))
        capacities = set(re.findall(r"capacity\['gpu\.nvidia\.com'\]\.(\w+)", text))
        assert attributes <= DRA_ATTRIBUTES, attributes - DRA_ATTRIBUTES
        assert capacities <= DRA_CAPACITIES, capacities - DRA_CAPACITIES
        assert not re.search(r"\.(index|minor)\b", text), "index/minor were removed from the driver"
        assert "productName" in attributes, "pin the GPU model: profile names repeat across GPUs"
        if exactly["deviceClassName"] == "mig.nvidia.com":
            assert "profile" in attributes


def test_pods_use_claim_templates_that_exist() -> None:
    templates = {(t["metadata"]["namespace"], t["metadata"]["name"]) for t in claim_templates()}
    used = 0
    for workload in vllm_workloads():
        for _, template in pod_templates(workload):
            for claim in template["spec"].get("resourceClaims", []):
                used += 1
                key = (workload["metadata"]["namespace"], claim["resourceClaimTemplateName"])
                assert key in templates
    assert used, "no example consumes a ResourceClaimTemplate"


# --- multi-node ----------------------------------------------------------------------------
def test_leaderworkerset_is_one_zone_one_instance_type_and_scaled_by_keda() -> None:
    lws = one(examples(), "LeaderWorkerSet")
    assert lws["spec"]["leaderWorkerTemplate"]["size"] >= 2
    for where, template in pod_templates(lws):
        pod = template["spec"]
        assert "node.kubernetes.io/instance-type" in pod["nodeSelector"], where
        terms = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert any(
            t["topologyKey"] == "topology.kubernetes.io/zone"
            and t.get("matchLabelKeys") == ["leaderworkerset.sigs.k8s.io/group-key"]
            for t in terms
        ), where
    (scaled_object,) = [
        so for so in scaled_objects() if so["spec"]["scaleTargetRef"]["kind"] == "LeaderWorkerSet"
    ]
    assert scaled_object["spec"]["scaleTargetRef"]["apiVersion"] == lws["apiVersion"]


# --- sweeps on Ray (KubeRay) ---------------------------------------------------------------
def test_rayjob_runs_a_sweep_prewarm_accepts_on_its_own_cluster() -> None:
    import typer.main

    from prewarm_cli import app

    job = one(examples(), "RayJob")
    words = shlex.split(job["spec"]["entrypoint"])
    assert words[:2] == ["prewarm", "sweep"]
    group = typer.main.get_command(app)
    sweep = group.get_command(group.make_context("prewarm", ["sweep"]), "sweep")  # type: ignore[attr-defined]
    params = sweep.make_context("sweep", words[2:]).params  # an unknown option raises
    assert params["ray_address"] == "auto"
    assert job["spec"]["shutdownAfterJobFinishes"] is True

    cluster = job["spec"]["rayClusterSpec"]
    locked = re.search(r"^ray==(\S+)", (REPO / "requirements" / "ray.txt").read_text(), re.M)
    assert locked and cluster["rayVersion"] == locked[1], "rayVersion is the image's ray pin"
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0", "replays run on the workers"
    templates = dict(pod_templates(job))
    images = {c["image"] for t in templates.values() for c in t["spec"]["containers"]}
    assert len(images) == 1 and images.pop().endswith("-ray"), "one image, built WITH_RAY"
    # The driver reads the traces and writes --out on the head: both on a mounted volume.
    (head_container,) = head["template"]["spec"]["containers"]
    mounts = [m["mountPath"] for m in head_container["volumeMounts"]]
    for path in [*params["trace"], params["out"]]:
        assert any(str(path).startswith(m.rstrip("/") + "/") for m in mounts), path
    for group in cluster["workerGroupSpecs"]:
        assert int(group["rayStartParams"]["num-cpus"]) >= 1
