"""Reading deploy/: kustomize builds, example files, offline schema validation.

`kubectl kustomize` is the real renderer (the same code `kubectl apply -k` runs). Without
kubectl the tests that need it skip, except under CI=true, where a missing kubectl is a
failure: CI must not go green by skipping the build.
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.crd_schemas import CRD_SCHEMAS

try:  # the Kubernetes JSON schemas, bundled in the package: nothing is downloaded
    import jsonschema
    import kubernetes_validate
except ImportError:  # a venv from before the dev extra had it: skip, not a collection error
    jsonschema = kubernetes_validate = None

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
EXAMPLES = DEPLOY / "examples"
CONFIG_DIR = DEPLOY / "config"
OVERLAYS = ("overlays/dev", "overlays/production", "overlays/placement")
# The placement webhook reading the controller's ConfigMaps (not a Prewarm scaler build).
PLACEMENT_WEBHOOK = "overlays/placement/webhook"
# Everything kustomize can build under deploy/ (the base too: overlays must not hide a
# broken base behind a patch).
BUILDS = ("base", *OVERLAYS, PLACEMENT_WEBHOOK, "dashboards")

# DRA's resource.k8s.io/v1 is GA from Kubernetes 1.34: the oldest version the manifests
# target. Built-in kinds are also checked against the newest schemas the validator ships,
# so a field removed upstream shows up here first.
OLDEST_K8S = "1.34.0"
K8S_VERSIONS = (
    OLDEST_K8S,
    kubernetes_validate.latest_version() if kubernetes_validate else OLDEST_K8S,
)

Obj = dict[str, Any]


def ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Skip, or fail under CI=true: CI must not go green by skipping."""
    if ci():
        pytest.fail(f"CI=true but {what}")
    pytest.skip(what)


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        missing("kubectl is not installed (needed for `kubectl kustomize`)")
    return str(path)


@functools.cache
def _build(relpath: str) -> tuple[Obj, ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(DEPLOY / relpath)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize deploy/{relpath} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def build(relpath: str) -> list[Obj]:
    """The objects `kubectl kustomize deploy/<relpath>` renders (a fresh copy each call)."""
    return copy.deepcopy(list(_build(relpath)))


def load_docs(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


# Not Kubernetes objects: kustomize's own file, and `prewarm place` inputs (their checks are
# in tests/scheduler).
NOT_OBJECTS = ("kustomization.yaml",)
PLACEMENT_INPUTS = EXAMPLES / "placement"


def example_files() -> list[Path]:
    return sorted(
        p
        for p in EXAMPLES.rglob("*.yaml")
        if p.name not in NOT_OBJECTS and PLACEMENT_INPUTS not in p.parents
    )


def examples() -> list[Obj]:
    return [doc for path in example_files() for doc in load_docs(path)]


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in of_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def ident(obj: Obj) -> str:
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"


def pod_templates(obj: Obj) -> Iterator[tuple[str, Obj]]:
    """(where, PodTemplateSpec) for every pod template an object carries."""
    spec = obj.get("spec", {})
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield "spec.template", spec["template"]
    elif obj["kind"] == "LeaderWorkerSet":
        lwt = spec["leaderWorkerTemplate"]
        if "leaderTemplate" in lwt:
            yield "spec.leaderWorkerTemplate.leaderTemplate", lwt["leaderTemplate"]
        yield "spec.leaderWorkerTemplate.workerTemplate", lwt["workerTemplate"]
    elif obj["kind"] == "RayJob":
        cluster = spec.get("rayClusterSpec", {})
        if "headGroupSpec" in cluster:
            yield "spec.rayClusterSpec.headGroupSpec.template", cluster["headGroupSpec"]["template"]
        for i, group in enumerate(cluster.get("workerGroupSpecs", [])):
            yield f"spec.rayClusterSpec.workerGroupSpecs[{i}].template", group["template"]
        if "submitterPodTemplate" in spec:
            yield "spec.submitterPodTemplate", spec["submitterPodTemplate"]


def _k8s_errors(obj: Obj, version: str) -> list[str]:
    if kubernetes_validate is None:
        missing("kubernetes-validate is not installed (pip install -e '.[dev]')")
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [exc.message]
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "<root>"
        return [f"{where}: {exc.message}"]
    return []


def validation_errors(obj: Obj, version: str = OLDEST_K8S) -> list[str]:
    """Every schema problem of one object; [] when valid.

    Built-in kinds: the Kubernetes OpenAPI schema (strict: unknown fields are errors).
    Custom resources: tests/deploy/crd_schemas.py, plus the real Kubernetes schema for the
    Kubernetes types they embed (LeaderWorkerSet pod templates, the HPA behavior inside a
    ScaledObject).
    """
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    if key not in CRD_SCHEMAS or jsonschema is None:
        return _k8s_errors(obj, version)
    validator = jsonschema.Draft202012Validator(CRD_SCHEMAS[key])
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(obj)
    ]
    if errors:
        return errors
    for where, template in pod_templates(obj):
        wrapped = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "embedded"},
            "template": template,
        }
        errors += [f"{where}: {e}" for e in _k8s_errors(wrapped, version)]
    if obj["kind"] == "ScaledObject":
        hpa_config = obj["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {})
        if "behavior" in hpa_config:
            wrapped = {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "embedded"},
                "spec": {
                    "scaleTargetRef": {"kind": "Deployment", "name": "x"},
                    "maxReplicas": 1,
                    "behavior": hpa_config["behavior"],
                },
            }
            errors += [
                f"spec.advanced.horizontalPodAutoscalerConfig.behavior: {e}"
                for e in _k8s_errors(wrapped, version)
            ]
    return errors


def config_files(objects: list[Obj], directory: Path) -> Path:
    """Writes the built prewarm-config ConfigMap's files into `directory`; returns the
    path of prewarm.yaml, as the pod sees /etc/prewarm/prewarm.yaml."""
    configmap = one(objects, "ConfigMap")
    for key, text in configmap["data"].items():
        (directory / key).write_text(text)
    return directory / "prewarm.yaml"


def container(objects: list[Obj], deployment: str = "prewarm") -> Obj:
    pod = one(objects, "Deployment", deployment)["spec"]["template"]["spec"]
    (found,) = [c for c in pod["containers"] if c["name"] == deployment]
    return found


def resolve_port(port: int | str, ports: list[Obj]) -> int:
    """A probe's or Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    (found,) = [p["containerPort"] for p in ports if p.get("name") == port]
    return int(found)
