"""From what a replica needs to the slices that can hold it, per GPU model.

A replica given as `memory_gib` gets, on each allowed GPU model, the smallest MIG profile with
enough usable memory (fewest memory slices, then fewest compute slices; "+me" profiles are
left out: media engines do nothing for LLM serving and only one fits per GPU), or the whole
GPU when only the full-size profile is big enough. A `mig_profile` replica gets that profile on
every allowed GPU model that has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.catalog import WHOLE, Catalog, GpuSpec
from scheduler.demand import ModelDemand


@dataclass(frozen=True)
class SliceChoice:
    """One way to hold a single-GPU replica: a profile (or WHOLE) on a GPU model."""

    gpu_model: str
    profile: str


def smallest_profile(spec: GpuSpec, memory_gib: float) -> str | None:
    """The profile name to use on `spec` for `memory_gib`, WHOLE, or None if it cannot fit.

    35.6 GiB on H100-80GB: 1g.10gb (9.75), 1g.20gb (19.62), 2g.20gb (19.62) are too small;
    3g.40gb and 4g.40gb both have 39.5 GiB on 4 memory slices; 3g.40gb uses fewer compute
    slices, so "3g.40gb". 75 GiB: only 7g.80gb (79.25) fits, which is the whole GPU: WHOLE.
    """
    fitting = [p for p in spec.profiles if p.usable_gib >= memory_gib and not p.media_extensions]
    if not fitting:
        return None
    best = min(fitting, key=lambda p: (p.memory_slices, p.compute_slices, p.usable_gib))
    return WHOLE if best.memory_slices == spec.memory_slices else best.name


def slice_choices(
    model: ModelDemand, catalog: Catalog, gpu_models: Sequence[str]
) -> tuple[SliceChoice, ...]:
    """The choices for a single-GPU model, in preference order.

    `gpu_models` is the default order (used when the model names none): the caller puts GPU
    models the cluster already has first.
    """
    allowed = model.gpu_models or tuple(gpu_models)
    out = []
    for gpu_model in allowed:
        spec = catalog.gpu(gpu_model)
        if model.mig_profile is not None:
            if spec.has_profile(model.mig_profile):
                out.append(SliceChoice(gpu_model, model.mig_profile))
        elif model.memory_gib is not None:
            profile = smallest_profile(spec, model.memory_gib)
            if profile is not None:
                out.append(SliceChoice(gpu_model, profile))
    return tuple(out)


def kv_cache_gib(
    layers: int, kv_heads: int, head_dim: int, tokens: int, bytes_per_value: int = 2
) -> float:
    """KV cache for `tokens` tokens in flight: 2 (K and V) x layers x kv_heads x head_dim x bytes.

    Llama-3.1-8B (32 layers, 8 KV heads, head dim 128, fp16) keeps 128 KiB per token; 16
    concurrent requests of 8,192 tokens = 131,072 tokens -> 16.0 GiB.
    """
    return 2 * layers * kv_heads * head_dim * bytes_per_value * tokens / 2**30


def replica_memory_gib(
    weights_gib: float,
    kv_cache_gib: float,
    tensor_parallel: int = 1,
    overhead_gib: float = 1.0,
    memory_utilization: float = 0.9,
) -> float:
    """Memory each GPU (or slice) of a replica must have.

    Weights and KV cache split evenly over the tensor-parallel ranks; every rank adds CUDA
    context and activations (`overhead_gib`); vLLM then claims only `memory_utilization` of the
    device (its gpu_memory_utilization, 0.9 by default), so the device must be larger by 1/0.9.
    Llama-3.1-8B fp16: ((15 + 16) / 1 + 1) / 0.9 = 35.6 GiB -> 3g.40gb on H100-80GB.
    Llama-3.1-70B fp16 on TP 4: ((131 + 40) / 4 + 1) / 0.9 = 48.6 GiB per GPU -> whole H100s.
    """
    if tensor_parallel < 1:
        raise ValueError("tensor_parallel must be >= 1")
    if not 0 < memory_utilization <= 1:
        raise ValueError("memory_utilization must be in (0, 1]")
    per_rank = (weights_gib + kv_cache_gib) / tensor_parallel + overhead_gib
    return per_rank / memory_utilization
