"""DRA ResourceClaimTemplates (resource.k8s.io/v1) for NVIDIA's DRA driver, from a ClaimTemplate.

One request named "gpu". A choice becomes a CEL selector on attributes the driver publishes
(`productName`, and for MIG `profile` and `parentUUID`; whole GPUs are pinned by `uuid`), never
on `index` or `minor`, which the driver removed. Example, one 3g.40gb on a chosen H100:

    device.attributes['gpu.nvidia.com'].productName == "NVIDIA H100 80GB HBM3" &&
    device.attributes['gpu.nvidia.com'].profile == "3g.40gb" &&
    device.attributes['gpu.nvidia.com'].parentUUID == "GPU-5d1c..."

A choice pinned to several GPUs (all the parents a model's slices were planned on, or the GPUs
of a multi-GPU pod) ends `parentUUID in ["GPU-5d1c...", "GPU-8e2f..."]` (`uuid in` for whole
GPUs): the scheduler takes `count` matching devices of the node it picks.

A template with one choice is an `exactly` request; with several, an ordered `firstAvailable`
list (subrequests "p0", "p1", ...), tried in order by the scheduler.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from scheduler.kubernetes.gpu_catalog import gpu_model
from scheduler.kubernetes.placement import ClaimTemplate, DeviceChoice

DRIVER = "gpu.nvidia.com"
GPU_CLASS = "gpu.nvidia.com"  # DeviceClass for whole GPUs
MIG_CLASS = "mig.nvidia.com"  # DeviceClass for MIG devices
REQUEST_NAME = "gpu"
_ATTR = f"device.attributes['{DRIVER}']"


def cel_string(text: str) -> str:
    """A CEL string literal. JSON's escaping is a subset of CEL's, and uuids and product names
    are plain ASCII anyway; this only guards against a quote in a malformed plan."""
    return json.dumps(text)


def selector(choice: DeviceChoice) -> str:
    product = gpu_model(choice.gpu_model).product_name
    terms = [f"{_ATTR}.productName == {cel_string(product)}"]
    if choice.is_mig:
        terms.append(f"{_ATTR}.profile == {cel_string(choice.profile)}")
    if choice.gpus:
        attribute = "parentUUID" if choice.is_mig else "uuid"
        distinct = sorted(set(choice.gpus))
        if len(distinct) == 1:
            terms.append(f"{_ATTR}.{attribute} == {cel_string(distinct[0])}")
        else:
            listed = ", ".join(cel_string(g) for g in distinct)
            terms.append(f"{_ATTR}.{attribute} in [{listed}]")
    return " && ".join(terms)


def _device_fields(choice: DeviceChoice) -> dict[str, Any]:
    return {
        "deviceClassName": MIG_CLASS if choice.is_mig else GPU_CLASS,
        "allocationMode": "ExactCount",
        "count": choice.count,
        "selectors": [{"cel": {"expression": selector(choice)}}],
    }


def device_request(template: ClaimTemplate) -> dict[str, Any]:
    if len(template.alternatives) == 1:
        return {"name": REQUEST_NAME, "exactly": _device_fields(template.alternatives[0])}
    return {
        "name": REQUEST_NAME,
        "firstAvailable": [
            {"name": f"p{i}", **_device_fields(choice)}
            for i, choice in enumerate(template.alternatives)
        ],
    }


def resource_claim_template(
    template: ClaimTemplate,
    namespace: str,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The template, and the same labels and annotations in `spec.metadata`: Kubernetes
    copies those onto every ResourceClaim it generates, which is how `prewarm inventory`
    later tells which model a running slice serves."""
    meta = {"labels": dict(labels), **({"annotations": dict(annotations)} if annotations else {})}
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": template.name, "namespace": namespace, **meta},
        # A copy: one object in two places would be written as a YAML anchor and alias.
        "spec": {
            "metadata": copy.deepcopy(meta),
            "spec": {"devices": {"requests": [device_request(template)]}},
        },
    }
