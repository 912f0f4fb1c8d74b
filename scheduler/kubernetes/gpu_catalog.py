"""GPU model names: the catalog's spelling, NVIDIA's `productName`, Karpenter's gpu name, and
the MIG memory-slice geometry needed to read slices back from the cluster.

Where the productName strings come from: NVML's `nvmlDeviceGetName`, which NVIDIA's DRA driver
(`gpu.nvidia.com`, cmd/gpu-kubelet-plugin/deviceinfo.go) publishes unchanged as the
`productName` device attribute, for whole GPUs and (as the parent's name) for MIG devices.
The same strings appear in `nvidia-smi -L` and, with spaces turned into '-', in GPU feature
discovery's `nvidia.com/gpu.product` node label. This table is the only place they live:
the manifest renderer reads it forwards, the inventory reader backwards, so a GPU the reader
reports is always one a claim can select.

Each catalog model maps to exactly one productName on purpose: a PCIe H100 ("NVIDIA H100
PCIe") has fewer SMs than the SXM5 part the catalog's H100-80GB profiles were measured on, so
it is not silently counted as one; an unknown name is reported and skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuModel:
    catalog_name: str  # as the inventory YAML and Assignment.gpu_model spell it
    product_name: str  # the DRA driver's productName attribute
    karpenter_gpu_name: str  # karpenter.k8s.aws/instance-gpu-name (lower-case EC2 GPU name)
    memory_gb: int  # nominal, as in the MIG profile names
    memory_slices: int  # MIG memory slices per GPU (the placement axis)


GPU_MODELS: tuple[GpuModel, ...] = (
    GpuModel("A100-40GB", "NVIDIA A100-SXM4-40GB", "a100", 40, 8),
    GpuModel("A100-80GB", "NVIDIA A100-SXM4-80GB", "a100", 80, 8),
    GpuModel("H100-80GB", "NVIDIA H100 80GB HBM3", "h100", 80, 8),
    GpuModel("H100-94GB", "NVIDIA H100 NVL", "h100", 94, 8),
    GpuModel("H200-141GB", "NVIDIA H200", "h200", 141, 8),
    GpuModel("B200-180GB", "NVIDIA B200", "b200", 180, 8),
    GpuModel("A30-24GB", "NVIDIA A30", "a30", 24, 4),
)

BY_CATALOG_NAME = {m.catalog_name: m for m in GPU_MODELS}
BY_PRODUCT_NAME = {m.product_name: m for m in GPU_MODELS}

WHOLE = "whole"  # Assignment.profile for a full GPU
_PROFILE = re.compile(r"^(?P<compute>[1-7])g\.(?P<memory>\d+)gb(?P<me>\+me)?$")


class UnknownGpuModel(ValueError):
    pass


def gpu_model(catalog_name: str) -> GpuModel:
    try:
        return BY_CATALOG_NAME[catalog_name]
    except KeyError:
        known = ", ".join(BY_CATALOG_NAME)
        raise UnknownGpuModel(f"unknown GPU model {catalog_name!r} (known: {known})") from None


def from_product_name(product_name: str) -> GpuModel | None:
    """The catalog model for a productName (or a GFD `nvidia.com/gpu.product` label value,
    which has '-' for spaces and, with the MIG "single" strategy, a "-MIG-<profile>" suffix)."""
    if product_name in BY_PRODUCT_NAME:
        return BY_PRODUCT_NAME[product_name]
    label = re.sub(r"-MIG-.*$", "", product_name)
    for model in GPU_MODELS:
        if model.product_name.replace(" ", "-") == label:
            return model
    return None


def is_mig_profile(profile: str) -> bool:
    return _PROFILE.match(profile) is not None


def mig_span(model: GpuModel, profile: str) -> tuple[int, tuple[int, ...]]:
    """(memory slices the instance occupies, start indices it may be placed at).

    The size follows from the memory in the profile name: H100-80GB has 8 slices of 10 GB,
    so 3g.40gb covers round(40 / 10) = 4 slices and may start at 0 or 4; 1g.20gb covers 2
    (the double-memory 1g, starts 0, 2, 4, 6). On 8-slice GPUs 2g starts at 0, 2, 4 and 4g only
    at 0 (NVIDIA's MIG user guide placement tables); everything else starts on a multiple of
    its size.
    """
    match = _PROFILE.match(profile)
    if match is None:
        raise ValueError(f"not a MIG profile: {profile!r}")
    compute = int(match["compute"])
    per_slice_gb = model.memory_gb / model.memory_slices
    size = max(1, min(model.memory_slices, round(int(match["memory"]) / per_slice_gb)))
    if compute == 7 or size == model.memory_slices:
        return model.memory_slices, (0,)
    if model.memory_slices == 8 and compute == 4:
        return size, (0,)
    if size == 1:
        last = model.memory_slices - 2 if model.memory_slices == 8 else model.memory_slices - 1
        return 1, tuple(range(0, last + 1))
    starts = tuple(range(0, model.memory_slices - size + 1, size))
    if model.memory_slices == 8 and compute == 2:
        starts = tuple(s for s in starts if s <= 4)
    return size, starts
