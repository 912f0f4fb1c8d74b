"""GPU names both ways, MIG slice geometry, and DNS-safe names."""

from __future__ import annotations

import pytest

from scheduler.kubernetes.dns_names import dns_label, is_dns_label, is_label_value, label_value
from scheduler.kubernetes.gpu_catalog import (
    GPU_MODELS,
    from_product_name,
    gpu_model,
    mig_span,
)

CATALOG = [
    "A100-40GB",
    "A100-80GB",
    "H100-80GB",
    "H100-94GB",
    "H200-141GB",
    "B200-180GB",
    "A30-24GB",
]


def test_every_catalog_model_has_one_product_name_and_back() -> None:
    assert [m.catalog_name for m in GPU_MODELS] == CATALOG
    for name in CATALOG:
        model = gpu_model(name)
        assert from_product_name(model.product_name) is model
    assert len({m.product_name for m in GPU_MODELS}) == len(GPU_MODELS)


@pytest.mark.parametrize(
    ("text", "catalog"),
    [
        ("NVIDIA H100 80GB HBM3", "H100-80GB"),
        ("NVIDIA H100 NVL", "H100-94GB"),
        ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA-A100-SXM4-40GB", "A100-40GB"),  # GFD label: spaces -> '-'
        ("NVIDIA-H100-80GB-HBM3-MIG-3g.40gb", "H100-80GB"),  # GFD, MIG "single" strategy
        ("NVIDIA H100 PCIe", None),  # fewer SMs than the SXM part: not silently an H100-80GB
        ("Tesla T4", None),
    ],
)
def test_product_name_lookup(text: str, catalog: str | None) -> None:
    found = from_product_name(text)
    assert (found.catalog_name if found else None) == catalog


@pytest.mark.parametrize(
    ("gpu", "profile", "size", "starts"),
    [
        ("H100-80GB", "1g.10gb", 1, (0, 1, 2, 3, 4, 5, 6)),
        ("H100-80GB", "1g.10gb+me", 1, (0, 1, 2, 3, 4, 5, 6)),
        ("H100-80GB", "1g.20gb", 2, (0, 2, 4, 6)),
        ("H100-80GB", "2g.20gb", 2, (0, 2, 4)),
        ("H100-80GB", "3g.40gb", 4, (0, 4)),
        ("H100-80GB", "4g.40gb", 4, (0,)),
        ("H100-80GB", "7g.80gb", 8, (0,)),
        ("A100-40GB", "1g.5gb", 1, (0, 1, 2, 3, 4, 5, 6)),
        ("A100-40GB", "3g.20gb", 4, (0, 4)),
        ("H100-94GB", "3g.47gb", 4, (0, 4)),
        ("H200-141GB", "1g.18gb", 1, (0, 1, 2, 3, 4, 5, 6)),
        ("H200-141GB", "1g.35gb", 2, (0, 2, 4, 6)),
        ("B200-180GB", "2g.45gb", 2, (0, 2, 4)),
        ("B200-180GB", "7g.180gb", 8, (0,)),
        ("A30-24GB", "1g.6gb", 1, (0, 1, 2, 3)),
        ("A30-24GB", "2g.12gb", 2, (0, 2)),
        ("A30-24GB", "4g.24gb", 4, (0,)),
    ],
)
def test_mig_span_matches_nvidia_placements(
    gpu: str, profile: str, size: int, starts: tuple[int, ...]
) -> None:
    assert mig_span(gpu_model(gpu), profile) == (size, starts)


def test_unknown_gpu_model_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="H100-80GB"):
        gpu_model("L4-24GB")


@pytest.mark.parametrize(
    ("text", "label", "value"),
    [
        ("meta-llama/Llama-3.1-8B", "meta-llama-llama-3-1-8b", "meta-llama-Llama-3.1-8B"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen-qwen2-5-7b-instruct", "Qwen-Qwen2.5-7B-Instruct"),
        ("--weird__", "weird", "weird"),
        ("///", None, None),
    ],
)
def test_dns_label_and_label_value(text: str, label: str | None, value: str | None) -> None:
    got_label, got_value = dns_label(text), label_value(text)
    assert is_dns_label(got_label) and is_label_value(got_value)
    if label is not None:
        assert got_label == label
    if value is not None:
        assert got_value == value


def test_long_names_are_cut_with_a_hash_that_keeps_them_apart() -> None:
    a = dns_label("org/" + "x" * 80 + "-a")
    b = dns_label("org/" + "x" * 80 + "-b")
    assert a != b and len(a) == len(b) == 63 and is_dns_label(a)
