"""The cluster's GPUs in the inventory shape the packer reads, from raw API JSON. Pure.

    {"nodes": [{"name", "zone", "instance_type",
                "gpus": [{"uuid", "model", "in_use", "mig": [{"profile", "start", "in_use"}]}]}]}

Inputs are the API server's JSON as listed: a NodeList, a ResourceSliceList (resource.k8s.io/v1)
and optionally a ResourceClaimList, whose allocations say which devices are in use, and a
PodList of the pods that opted into placement.

What NVIDIA's DRA driver (`gpu.nvidia.com`) publishes, and how it is read:
- a whole GPU: device `gpu-<minor>`, attributes type=gpu, uuid, productName;
- a MIG device: `gpu-<minor>-mig-<profile>-<GI profile id>-<start>`, attributes type=mig,
  profile, parentUUID, productName, uuid (static MIG). The memory slices it covers are published
  as capacities `memorySlice<i>` (static MIG) or, with DynamicMIG, as counters
  `memory-slice-<i>` it consumes. The start is read from those, else from the device name, else
  derived from the profile (the lowest allowed start that is still free).
- With DynamicMIG (devices consume shared counters) every possible partition is published, not
  just the ones that exist: only allocated partitions are real instances and are listed.
`gpu.nvidia.com/` prefixes on attribute names are accepted and dropped.

A claim generated from a template `prewarm place` wrote carries the model it serves (the
`prewarm.dev/model` annotation, else the label, copied from the template's spec.metadata):
its devices get `model` (MIG instances) or `served_model` (whole GPUs), so `place` counts
them as running replicas of that model. Claims of other workloads leave them unlabelled.
With the PodList of opted-in pods, a device also gets `replica`: the `prewarm.dev/replica`
annotation the placement webhook gave the pod that owns the claim (matched by uid). That is
what lets `place` keep a running multi-node replica, whose GPUs must stay together.

A node without ResourceSlices but with GPU feature discovery labels (`nvidia.com/gpu.product`,
`nvidia.com/gpu.count`) gets that many GPUs with uuid "" (unknown: claims cannot pin them).
Unless the labels show MIG devices: then the node is left out with a warning naming it, because
the labels say neither where the instances sit nor which are in use. GFD (NVIDIA
k8s-device-plugin, docs/gfd_labels.md and internal/lm/mig-strategy.go) shows them two ways:
- strategy "single" with MIG enabled: `gpu.product` gets "-MIG-<profile>" (or "-MIG-INVALID")
  appended and `gpu.count` counts MIG devices, not GPUs (8 GPUs of 7 x 1g.5gb: 56);
- strategy "mixed": `gpu.count` counts GPUs, MIG-enabled ones included, and each MIG profile
  present gets `nvidia.com/mig-<profile>.count`.
`nvidia.com/mig.strategy=single` alone is no sign: with MIG off on every GPU the labels are the
plain whole-GPU ones.
GPUs whose productName is not in gpu_catalog are left out and logged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from scheduler.kubernetes.gpu_catalog import GpuModel, from_product_name, mig_span
from scheduler.kubernetes.manifests import MODEL_LABEL
from scheduler.kubernetes.placement import REPLICA_ANNOTATION

log = logging.getLogger("prewarm.inventory")

DRIVER = "gpu.nvidia.com"
ZONE_LABEL = "topology.kubernetes.io/zone"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
GFD_PRODUCT = "nvidia.com/gpu.product"
GFD_COUNT = "nvidia.com/gpu.count"

_GFD_MIG_COUNT = re.compile(r"^nvidia\.com/mig-.+\.count$")  # mixed strategy, per profile
_MIG_NAME = re.compile(r"^gpu-\d+-mig-.+-\d+-(?P<start>\d+)$")
_STATIC_SLICE = re.compile(r"^memorySlice(?P<i>\d+)$")
_COUNTER_SLICE = re.compile(r"^memory-slice-(?P<i>\d+)$")

Json = dict[str, Any]


@dataclass
class _Mig:
    profile: str
    start: int | None
    in_use: bool
    model: str | None = None
    replica: str | None = None


@dataclass
class _Gpu:
    uuid: str
    model: GpuModel
    in_use: bool = False
    served_model: str | None = None
    replica: str | None = None
    mig: list[_Mig] = field(default_factory=list)


@dataclass(frozen=True)
class _Served:
    """Whose replica holds a device, as far as its claim (and the claim's pod) tell."""

    model: str | None
    replica: str | None


def inventory_from_api(
    node_list: Json, slice_list: Json, claim_list: Json | None = None, pod_list: Json | None = None
) -> dict[str, Any]:
    allocated = _allocated(claim_list or {}, _replicas_by_pod_uid(pod_list or {}))
    slices_by_node: dict[str, list[Json]] = {}
    for s in _current_slices(slice_list.get("items") or []):
        slices_by_node.setdefault(s["spec"].get("nodeName", ""), []).append(s)
    nodes = []
    for node in node_list.get("items") or []:
        meta = node.get("metadata") or {}
        name = meta.get("name", "")
        labels = meta.get("labels") or {}
        if name in slices_by_node:
            gpus = _gpus_from_slices(slices_by_node[name], allocated)
        else:
            gpus = _gpus_from_labels(name, labels)
        if not gpus:
            continue
        nodes.append(
            {
                "name": name,
                "zone": labels.get(ZONE_LABEL, ""),
                "instance_type": labels.get(INSTANCE_TYPE_LABEL, ""),
                "gpus": [_gpu_json(g) for g in gpus],
            }
        )
    return {"nodes": nodes}


def _current_slices(items: list[Json]) -> list[Json]:
    """Our driver's slices, newest pool generation only: while a driver republishes, slices of
    the old generation linger and must be ignored (resource.k8s.io ResourcePool semantics)."""
    ours = [s for s in items if (s.get("spec") or {}).get("driver") == DRIVER]
    newest: dict[str, int] = {}
    for s in ours:
        pool = s["spec"].get("pool") or {}
        key = pool.get("name", "")
        newest[key] = max(newest.get(key, 0), int(pool.get("generation", 0)))
    return [
        s
        for s in ours
        if int((s["spec"].get("pool") or {}).get("generation", 0))
        == newest[(s["spec"].get("pool") or {}).get("name", "")]
    ]


Allocated = dict[tuple[str, str], _Served]  # (pool, device) -> whose replica holds it


def _replicas_by_pod_uid(pod_list: Json) -> dict[str, str]:
    out = {}
    for pod in pod_list.get("items") or []:
        meta = pod.get("metadata") or {}
        replica = (meta.get("annotations") or {}).get(REPLICA_ANNOTATION)
        if replica and meta.get("uid"):
            out[meta["uid"]] = replica
    return out


def _allocated(claim_list: Json, replicas_by_pod_uid: dict[str, str]) -> Allocated:
    """(pool, device) of every device a ResourceClaim holds from our driver, with the model
    the claim says it serves (None for claims Prewarm did not template) and the replica its
    pod was given (None when unknown)."""
    out: Allocated = {}
    for claim in claim_list.get("items") or []:
        meta = claim.get("metadata") or {}
        model = (meta.get("annotations") or {}).get(MODEL_LABEL) or (meta.get("labels") or {}).get(
            MODEL_LABEL
        )
        status = claim.get("status") or {}
        # A claim generated for a pod is owned by it; a shared claim lists its pods as users.
        pod_uids = [
            r.get("uid") for r in meta.get("ownerReferences") or [] if r.get("kind") == "Pod"
        ]
        pod_uids += [
            r.get("uid") for r in status.get("reservedFor") or [] if r.get("resource") == "pods"
        ]
        replicas = {replicas_by_pod_uid[u] for u in pod_uids if u in replicas_by_pod_uid}
        # Pods of different replicas sharing one claim: no single owner, so no replica (the
        # device then stays fixed rather than being kept or freed under a wrong name).
        replica = replicas.pop() if len(replicas) == 1 else None
        served = _Served(model, replica if model else None)
        allocation = status.get("allocation") or {}
        for result in (allocation.get("devices") or {}).get("results") or []:
            if result.get("driver") == DRIVER:
                out[(result.get("pool", ""), result.get("device", ""))] = served
    return out


def _attributes(device: Json) -> dict[str, Any]:
    out = {}
    for key, value in (device.get("attributes") or {}).items():
        name = key.removeprefix(f"{DRIVER}/")
        out[name] = next(iter(value.values()), None) if isinstance(value, dict) else value
    return out


def _published_start(device: Json) -> int | None:
    indices = [
        int(m["i"]) for key in (device.get("capacity") or {}) if (m := _STATIC_SLICE.match(key))
    ]
    for consumption in device.get("consumesCounters") or []:
        indices += [
            int(m["i"])
            for key in (consumption.get("counters") or {})
            if (m := _COUNTER_SLICE.match(key))
        ]
    if indices:
        return min(indices)
    match = _MIG_NAME.match(device.get("name", ""))
    return int(match["start"]) if match else None


def _gpus_from_slices(slices: list[Json], allocated: Allocated) -> list[_Gpu]:
    gpus: dict[str, _Gpu] = {}
    for s in slices:
        pool = (s["spec"].get("pool") or {}).get("name", "")
        for device in s["spec"].get("devices") or []:
            attrs = _attributes(device)
            kind = attrs.get("type") or ("mig" if "profile" in attrs else "gpu")
            key = (pool, device.get("name", ""))
            in_use = key in allocated
            served = allocated.get(key, _Served(None, None))
            # DynamicMIG publishes every possible partition; only allocated ones exist.
            partitionable = bool(device.get("consumesCounters"))
            uuid = attrs.get("parentUUID") if kind == "mig" else attrs.get("uuid")
            if kind not in ("gpu", "mig") or not uuid:
                continue
            model = from_product_name(str(attrs.get("productName", "")))
            if model is None:
                log.warning(
                    "GPU model not in the catalog; left out",
                    extra={"product_name": attrs.get("productName"), "device": device.get("name")},
                )
                continue
            gpu = gpus.setdefault(uuid, _Gpu(uuid, model))
            if kind == "gpu":
                gpu.in_use = gpu.in_use or in_use
                gpu.served_model = gpu.served_model or served.model
                gpu.replica = gpu.replica or served.replica
            elif in_use or not partitionable:
                start = _published_start(device)
                gpu.mig.append(
                    _Mig(str(attrs["profile"]), start, in_use, served.model, served.replica)
                )
    for gpu in gpus.values():
        _derive_starts(gpu)
    return list(gpus.values())


def _derive_starts(gpu: _Gpu) -> None:
    """Starts nobody published: the lowest allowed start not overlapping a known instance."""
    taken: set[int] = set()
    for m in gpu.mig:
        if m.start is not None:
            size, _ = mig_span(gpu.model, m.profile)
            taken.update(range(m.start, m.start + size))
    for m in gpu.mig:
        if m.start is None:
            size, starts = mig_span(gpu.model, m.profile)
            free = [s for s in starts if not taken & set(range(s, s + size))]
            m.start = free[0] if free else starts[0]
            taken.update(range(m.start, m.start + size))
    gpu.mig.sort(key=lambda m: (m.start if m.start is not None else -1, m.profile))


def _gpus_from_labels(node: str, labels: dict[str, str]) -> list[_Gpu]:
    product = labels.get(GFD_PRODUCT)
    count = labels.get(GFD_COUNT, "0")
    if not product or not count.isdigit():
        return []
    mig = [f"{k}={v}" for k, v in labels.items() if _GFD_MIG_COUNT.match(k) and v not in ("", "0")]
    if "-MIG-" in product:
        mig.insert(0, f"{GFD_PRODUCT}={product}")
    if mig:
        log.warning(
            "node %s left out: its GPU feature discovery labels show MIG devices (%s) but not "
            "where they sit or which are in use; install NVIDIA's DRA driver to read them",
            node,
            ", ".join(mig),
            extra={"node": node},
        )
        return []
    model = from_product_name(product)
    if model is None:
        log.warning(
            "GPU model not in the catalog; left out", extra={"node": node, "product": product}
        )
        return []
    return [_Gpu("", model) for _ in range(int(count))]


def _gpu_json(gpu: _Gpu) -> dict[str, Any]:
    out: dict[str, Any] = {"uuid": gpu.uuid, "model": gpu.model.catalog_name, "in_use": gpu.in_use}
    if gpu.served_model:
        out["served_model"] = gpu.served_model
    if gpu.replica:
        out["replica"] = gpu.replica
    out["mig"] = [_mig_json(m) for m in gpu.mig]
    return out


def _mig_json(mig: _Mig) -> dict[str, Any]:
    out: dict[str, Any] = {"profile": mig.profile, "start": mig.start, "in_use": mig.in_use}
    if mig.model:
        out["model"] = mig.model
    if mig.replica:
        out["replica"] = mig.replica
    return out
