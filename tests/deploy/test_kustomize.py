"""deploy/base and its overlays: they build, validate, and agree with the config they ship."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from autoscaler.scaler.server import SERVICE_NAME
from autoscaler.serve_config import load_serve_config
from scheduler.kubernetes.controller_config import placement_config, placement_problems
from scheduler.kubernetes.inventory_reader import CLAIMS_PATH, NODES_PATH, PODS_PATH, SLICES_PATH
from tests.deploy.manifests import (
    BUILDS,
    CONFIG_DIR,
    K8S_VERSIONS,
    OVERLAYS,
    PLACEMENT_WEBHOOK,
    Obj,
    build,
    config_files,
    container,
    ident,
    of_kind,
    one,
    resolve_port,
    validation_errors,
)

PREWARM_BUILDS = ("base", *OVERLAYS)
EXPECTED_KINDS = {
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "ConfigMap",
    "Deployment",
    "Service",
    "ServiceMonitor",
    "NetworkPolicy",
}


@pytest.mark.parametrize("relpath", BUILDS)
def test_kustomize_builds(relpath: str) -> None:
    assert build(relpath), f"deploy/{relpath} rendered no objects"


@pytest.mark.parametrize("version", sorted(set(K8S_VERSIONS)))
@pytest.mark.parametrize("relpath", BUILDS)
def test_every_built_object_validates(relpath: str, version: str) -> None:
    problems = {
        ident(obj): errors for obj in build(relpath) if (errors := validation_errors(obj, version))
    }
    assert not problems, yaml.safe_dump(problems)


@pytest.mark.parametrize("relpath", PREWARM_BUILDS)
def test_builds_have_every_piece(relpath: str) -> None:
    objects = build(relpath)
    assert {o["kind"] for o in objects} >= EXPECTED_KINDS
    services = {s["metadata"]["name"] for s in of_kind(objects, "Service")}
    assert services == {"prewarm-grpc", "prewarm-http", "prewarm-peers"}
    namespaced = [
        o for o in objects if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding")
    ]
    # The one exception: the placement controller's write permissions, granted in the models'
    # namespace by a RoleBinding there (test_placement_rbac_is_exactly_what_the_loop_writes).
    elsewhere = [o for o in namespaced if o["metadata"].get("namespace") != "prewarm"]
    assert all(o["kind"] == "RoleBinding" for o in elsewhere), [ident(o) for o in elsewhere]
    assert {o["metadata"].get("namespace") for o in namespaced} - {"prewarm"} == (
        {"llm"} if relpath == "overlays/placement" else set()
    )


def test_production_adds_tls_and_a_disruption_budget() -> None:
    objects = build("overlays/production")
    certificate = one(objects, "Certificate")
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    pdb = one(objects, "PodDisruptionBudget")
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["minAvailable"] < one(objects, "Deployment")["spec"]["replicas"]


@pytest.mark.parametrize(
    ("relpath", "replicas"),
    [("base", 2), ("overlays/dev", 1), ("overlays/production", 2), ("overlays/placement", 2)],
)
def test_replicas(relpath: str, replicas: int) -> None:
    assert one(build(relpath), "Deployment")["spec"]["replicas"] == replicas


# --- the config the pods read --------------------------------------------------------------
def test_configmap_carries_every_file_of_deploy_config() -> None:
    """deploy/config/kustomization.yaml lists its files by hand: none may be forgotten."""
    shipped = {p.name for p in CONFIG_DIR.glob("*.yaml") if p.name != "kustomization.yaml"}
    data = one(build("base"), "ConfigMap")["data"]
    assert set(data) == shipped
    for name in shipped:
        assert data[name] == (CONFIG_DIR / name).read_text(), name


@pytest.mark.parametrize("relpath", PREWARM_BUILDS)
def test_config_in_the_configmap_loads(relpath: str, tmp_path: Path) -> None:
    """The pod's /etc/prewarm/prewarm.yaml passes Prewarm's own loader, profiles and all,
    with the `placement:` checks `prewarm serve` adds."""
    config, profiles = load_serve_config(
        config_files(build(relpath), tmp_path), {"placement": placement_problems}
    )
    assert "default" in profiles
    assert (config.placement is not None) == (relpath == "overlays/placement")


def test_production_config_differs_from_the_base_only_by_tls() -> None:
    base = yaml.safe_load(one(build("base"), "ConfigMap")["data"]["prewarm.yaml"])
    production = yaml.safe_load(
        one(build("overlays/production"), "ConfigMap")["data"]["prewarm.yaml"]
    )
    tls = production["grpc"].pop("tls")
    assert production == base
    assert set(tls) == {"cert_file", "key_file", "client_ca_file"}, "mutual TLS in production"


def test_placement_config_is_production_plus_the_placement_section() -> None:
    production = yaml.safe_load(
        one(build("overlays/production"), "ConfigMap")["data"]["prewarm.yaml"]
    )
    placement = yaml.safe_load(
        one(build("overlays/placement"), "ConfigMap")["data"]["prewarm.yaml"]
    )
    section = placement_config(placement.pop("placement"))
    assert placement == production
    # Every model it places is one a profile describes (a ScaledObject's `model`).
    base_profiles = one(build("base"), "ConfigMap")["data"]
    models = {yaml.safe_load(v)["model"] for k, v in base_profiles.items() if k != "prewarm.yaml"}
    assert set(section.models) <= models


def test_production_keeps_the_base_profiles() -> None:
    base = one(build("base"), "ConfigMap")["data"]
    production = one(build("overlays/production"), "ConfigMap")["data"]
    assert set(production) == set(base)
    assert {k: v for k, v in production.items() if k != "prewarm.yaml"} == {
        k: v for k, v in base.items() if k != "prewarm.yaml"
    }


@pytest.mark.parametrize("relpath", PREWARM_BUILDS)
def test_args_point_at_the_mounted_config(relpath: str) -> None:
    objects = build(relpath)
    c = container(objects)
    assert c["args"][:2] == ["serve", "--config"]
    path = Path(c["args"][2])
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == "config"]
    assert path.parent == Path(mount["mountPath"])
    assert path.name in one(objects, "ConfigMap")["data"]
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "config"]
    configmap_name = one(objects, "ConfigMap")["metadata"]["name"]
    sources = volume["projected"]["sources"]
    assert {"configMap": {"name": configmap_name}} in sources, "the hashed ConfigMap is mounted"


# --- ports and probes ----------------------------------------------------------------------
@pytest.mark.parametrize("relpath", PREWARM_BUILDS)
def test_ports_and_probes_match_the_config(relpath: str, tmp_path: Path) -> None:
    objects = build(relpath)
    config, _ = load_serve_config(config_files(objects, tmp_path))
    c = container(objects)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"grpc": config.grpc.port, "http": config.http.port}

    def probe_port(probe: Obj) -> tuple[str, int]:
        (kind,) = [k for k in ("grpc", "httpGet", "tcpSocket", "exec") if k in probe]
        assert kind != "exec", "probes go over the network, not through a shell"
        return kind, resolve_port(probe[kind]["port"], c["ports"])

    readiness = probe_port(c["readinessProbe"])
    liveness = probe_port(c["livenessProbe"])
    startup = probe_port(c["startupProbe"])
    # Liveness and startup: HTTP /healthz on the http port.
    for kind_port, probe in ((liveness, c["livenessProbe"]), (startup, c["startupProbe"])):
        assert kind_port == ("httpGet", config.http.port)
        assert probe["httpGet"]["path"] == "/healthz"
    # Readiness: is the gRPC scaler serving, since that is what KEDA reaches.
    if config.grpc.tls is None:
        assert readiness == ("grpc", config.grpc.port), "plaintext: the kubelet's gRPC probe"
        assert c["readinessProbe"]["grpc"].get("service") == SERVICE_NAME
    else:
        # The kubelet's gRPC probe has no TLS: /readyz reports the gRPC server's state.
        assert readiness == ("httpGet", config.http.port)
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize("relpath", PREWARM_BUILDS)
def test_services_reach_the_container_ports(relpath: str) -> None:
    objects = build(relpath)
    c = container(objects)
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    grpc = one(objects, "Service", "prewarm-grpc")
    http = one(objects, "Service", "prewarm-http")
    # KEDA balances round-robin over the addresses DNS returns: the gRPC Service is headless.
    assert grpc["spec"]["clusterIP"] == "None"
    assert not grpc["spec"].get("publishNotReadyAddresses", False)
    for service, name in ((grpc, "grpc"), (http, "http")):
        assert service["spec"]["selector"].items() <= pod_labels.items()
        (port,) = service["spec"]["ports"]
        assert port["name"] == name
        container_port = resolve_port(port["targetPort"], c["ports"])
        assert container_port == resolve_port(name, c["ports"])


# --- hardening -----------------------------------------------------------------------------
@pytest.mark.parametrize("relpath", PREWARM_BUILDS)
def test_pod_is_hardened(relpath: str) -> None:
    objects = build(relpath)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    c = container(objects)
    pod_sc, sc = pod["securityContext"], c["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert isinstance(pod_sc["runAsUser"], int) and pod_sc["runAsUser"] > 0
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc.get("privileged", False) is False
    for field in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][field]), field
    assert pod["serviceAccountName"] == one(objects, "ServiceAccount")["metadata"]["name"]


@pytest.mark.parametrize("relpath", PREWARM_BUILDS)
def test_rbac_is_read_only_and_least_privilege(relpath: str) -> None:
    objects = build(relpath)
    rules = one(objects, "ClusterRole", "prewarm-reader")["rules"]
    granted = {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    read = {
        ("", "pods"),
        ("", "nodes"),
        ("resource.k8s.io", "resourceslices"),
        ("resource.k8s.io", "resourceclaims"),
    }
    assert granted == {(g, r, verb) for g, r in read for verb in ("get", "list", "watch")}
    # Whatever `prewarm inventory` lists, the role lets it list.
    for path in (NODES_PATH, SLICES_PATH, CLAIMS_PATH, PODS_PATH):
        parts = path.strip("/").split("/")  # api/v1/<r> or apis/<group>/<version>/<r>
        group = "" if parts[0] == "api" else parts[1]
        assert (group, parts[-1], "list") in granted, path
    if relpath != "overlays/placement":  # only the placement controller writes
        assert len(of_kind(objects, "ClusterRole")) == 1
        assert not of_kind(objects, "Role") and not of_kind(objects, "RoleBinding")
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == "prewarm-reader"
    sa = one(objects, "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["name"], "namespace": sa["namespace"]}
    ]


@pytest.mark.parametrize("relpath", PREWARM_BUILDS)
def test_servicemonitor_scrapes_the_http_service_only(relpath: str) -> None:
    objects = build(relpath)
    monitor = one(objects, "ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [
        s["metadata"]["name"]
        for s in of_kind(objects, "Service")
        if selector.items() <= s["metadata"].get("labels", {}).items()
    ]
    assert selected == ["prewarm-http"]
    (endpoint,) = monitor["spec"]["endpoints"]
    http = one(objects, "Service", "prewarm-http")
    assert endpoint["port"] in {p["name"] for p in http["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


@pytest.mark.parametrize("relpath", PREWARM_BUILDS)
def test_networkpolicy_admits_keda_monitoring_and_the_peers_only(
    relpath: str, tmp_path: Path
) -> None:
    objects = build(relpath)
    config, _ = load_serve_config(config_files(objects, tmp_path))
    policy = one(objects, "NetworkPolicy", "prewarm")["spec"]
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}

    def namespaces(peers: list[Obj]) -> set[str]:
        """Each peer's namespace, or "prewarm replicas" for Prewarm's own pods."""
        found = set()
        for p in peers:
            if "namespaceSelector" in p:
                found.add(p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
            else:  # a bare podSelector: pods of this namespace, which must be Prewarm's own
                assert p["podSelector"]["matchLabels"].items() <= pod_labels.items()
                found.add("prewarm replicas")
        return found

    ingress = {
        frozenset(namespaces(rule["from"])): {(p["port"], p["protocol"]) for p in rule["ports"]}
        for rule in policy["ingress"]
    }
    assert ingress == {
        frozenset({"keda"}): {(config.grpc.port, "TCP")},
        frozenset({"monitoring"}): {(config.http.port, "TCP")},
        frozenset({"prewarm replicas"}): {(config.http.port, "TCP")},  # peers' decisions
    }
    # Egress: cluster DNS, and the Prometheus the config names (host <service>.<namespace>).
    prometheus = urlparse(config.prometheus.url)
    prometheus_namespace = (prometheus.hostname or "").split(".")[1]
    egress = {
        frozenset(namespaces(rule["to"])): {(p["port"], p["protocol"]) for p in rule["ports"]}
        for rule in policy["egress"]
    }
    assert egress == {
        frozenset({"kube-system"}): {(53, "UDP"), (53, "TCP")},
        frozenset({prometheus_namespace}): {(prometheus.port or 80, "TCP")},
        frozenset({"prewarm replicas"}): {(config.http.port, "TCP")},
    }


# --- TLS -----------------------------------------------------------------------------------
def test_production_tls_files_come_from_the_certificate(tmp_path: Path) -> None:
    objects = build("overlays/production")
    config, _ = load_serve_config(config_files(objects, tmp_path))
    assert config.grpc.tls is not None
    certificate = one(objects, "Certificate")["spec"]
    c = container(objects)
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == "config"]
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "config"]
    (secret,) = [s["secret"] for s in volume["projected"]["sources"] if "secret" in s]
    assert secret["name"] == certificate["secretName"]
    mounted = {Path(mount["mountPath"]) / item["path"]: item["key"] for item in secret["items"]}
    tls = config.grpc.tls
    assert mounted == {
        Path(tls.cert_file): "tls.crt",
        Path(tls.key_file): "tls.key",
        Path(tls.client_ca_file): "ca.crt",
    }
    # The name KEDA dials must be on the certificate.
    grpc = one(objects, "Service", "prewarm-grpc")["metadata"]
    assert f"{grpc['name']}.{grpc['namespace']}.svc.cluster.local" in certificate["dnsNames"]
    assert "server auth" in certificate["usages"]


def test_dev_serves_plaintext(tmp_path: Path) -> None:
    config, _ = load_serve_config(config_files(build("overlays/dev"), tmp_path))
    assert config.grpc.tls is None


def test_dashboards_configmap_is_the_json_file() -> None:
    configmap = one(build("dashboards"), "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = CONFIG_DIR.parent / "dashboards" / "prewarm.json"
    assert configmap["data"]["prewarm.json"] == dashboard.read_text()


@pytest.mark.parametrize("relpath", PREWARM_BUILDS)
def test_peers_find_each_other_through_the_headless_service(relpath: str, tmp_path: Path) -> None:
    objects = build(relpath)
    config, _ = load_serve_config(config_files(objects, tmp_path))
    (service,) = [
        s for s in of_kind(objects, "Service") if s["metadata"]["name"] == "prewarm-peers"
    ]
    assert service["spec"]["clusterIP"] == "None", "DNS must return every pod, not one VIP"
    pod_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert config.peers.dns == (
        f"prewarm-peers.{service['metadata']['namespace']}.svc.cluster.local:{port['port']}"
    )
    assert port["port"] == config.http.port
    env = {e["name"]: e for e in container(objects).get("env", [])}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


# --- the placement controller --------------------------------------------------------------
def grants(rules: list[Obj]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_placement_rbac_is_exactly_what_the_loop_writes(tmp_path: Path) -> None:
    objects = build("overlays/placement")
    config, _ = load_serve_config(
        config_files(objects, tmp_path), {"placement": placement_problems}
    )
    placement = placement_config(config.placement)
    sa = one(objects, "ServiceAccount")["metadata"]
    subject = [{"kind": "ServiceAccount", "name": sa["name"], "namespace": sa["namespace"]}]
    # Writes, in the models' namespace only: SSA (patch; create when the apply creates),
    # the GETs of the writer and the read-back LIST, deletions; Events.
    writer = one(objects, "ClusterRole", "prewarm-placement-writer")
    assert grants(writer["rules"]) == {
        ("", "configmaps", "get"),
        ("", "configmaps", "list"),
        ("", "configmaps", "create"),
        ("", "configmaps", "patch"),
        ("", "configmaps", "delete"),
        ("resource.k8s.io", "resourceclaimtemplates", "get"),
        ("resource.k8s.io", "resourceclaimtemplates", "create"),
        ("resource.k8s.io", "resourceclaimtemplates", "patch"),
        ("resource.k8s.io", "resourceclaimtemplates", "delete"),
        ("", "events", "create"),
        ("", "events", "patch"),
    }
    assert not [
        b
        for b in of_kind(objects, "ClusterRoleBinding")
        if b["roleRef"]["name"] == "prewarm-placement-writer"
    ]
    bound = one(objects, "RoleBinding", "prewarm-placement-writer")
    assert bound["metadata"]["namespace"] == placement.namespace
    assert bound["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "prewarm-placement-writer",
    }
    assert bound["subjects"] == subject
    # The Lease, where the config puts it.
    role = one(objects, "Role", "prewarm-leader-election")
    assert role["metadata"]["namespace"] == placement.lease.namespace
    assert grants(role["rules"]) == {
        ("coordination.k8s.io", "leases", verb) for verb in ("get", "create", "update")
    }
    lease_binding = one(objects, "RoleBinding", "prewarm-leader-election")
    assert lease_binding["metadata"]["namespace"] == placement.lease.namespace
    assert lease_binding["subjects"] == subject
    # The API server is reachable: the base policy plus one egress rule.
    api = one(objects, "NetworkPolicy", "prewarm-kube-api")["spec"]
    assert api["policyTypes"] == ["Egress"]
    assert {p["port"] for rule in api["egress"] for p in rule["ports"]} == {443, 6443}


def test_the_placement_webhook_watches_the_controllers_configmaps(tmp_path: Path) -> None:
    config, _ = load_serve_config(
        config_files(build("overlays/placement"), tmp_path), {"placement": placement_problems}
    )
    namespace = placement_config(config.placement).namespace
    objects = build(PLACEMENT_WEBHOOK)
    deployment = one(objects, "Deployment", "prewarm-placement-webhook")
    pod = deployment["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert f"--plan-configmaps={namespace}" in args
    assert not [a for a in args if a.startswith("--plan=")]
    assert pod["automountServiceAccountToken"] is True
    assert {v["name"] for v in pod["volumes"]} == {"tls", "tmp"}  # no plan file mounted
    role = one(objects, "Role", "prewarm-placement-webhook")
    assert role["metadata"]["namespace"] == namespace
    assert grants(role["rules"]) == {("", "configmaps", "list"), ("", "configmaps", "watch")}
    binding = one(objects, "RoleBinding", "prewarm-placement-webhook")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": "prewarm"}
    ]
