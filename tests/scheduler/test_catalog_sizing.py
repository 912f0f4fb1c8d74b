"""The catalog as shipped, and sizing from memory to slices."""

from __future__ import annotations

import pytest

from scheduler.catalog import WHOLE, load_catalog
from scheduler.sizing import kv_cache_gib, replica_memory_gib, smallest_profile

CATALOG = load_catalog()


@pytest.mark.parametrize(
    ("gpu", "profiles", "memory_slices"),
    [
        (
            "A100-40GB",
            ["1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"],
            8,
        ),
        (
            "A100-80GB",
            ["1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"],
            8,
        ),
        (
            "H100-80GB",
            ["1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"],
            8,
        ),
        (
            "H100-94GB",
            ["1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb"],
            8,
        ),
        (
            "H200-141GB",
            ["1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"],
            8,
        ),
        (
            "B200-180GB",
            ["1g.23gb", "1g.23gb+me", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"],
            8,
        ),
        ("A30-24GB", ["1g.6gb", "1g.6gb+me", "2g.12gb", "2g.12gb+me", "4g.24gb"], 4),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_every_gpu_model_has_its_profiles(
    gpu: str, profiles: list[str], memory_slices: int
) -> None:
    spec = CATALOG.gpu(gpu)
    assert [p.name for p in spec.profiles] == profiles
    assert spec.memory_slices == memory_slices


@pytest.mark.parametrize(
    ("gpu", "profile", "size", "compute", "starts", "max_count"),
    [
        ("H100-80GB", "1g.10gb", 1, 1, (0, 1, 2, 3, 4, 5, 6), 7),
        ("H100-80GB", "1g.10gb+me", 1, 1, (0, 1, 2, 3, 4, 5, 6), 1),
        ("H100-80GB", "1g.20gb", 2, 1, (0, 2, 4, 6), 4),
        ("H100-80GB", "2g.20gb", 2, 2, (0, 2, 4), 3),
        ("H100-80GB", "3g.40gb", 4, 3, (0, 4), 2),
        ("H100-80GB", "4g.40gb", 4, 4, (0,), 1),
        ("H100-80GB", "7g.80gb", 8, 7, (0,), 1),
        ("A30-24GB", "2g.12gb", 2, 2, (0, 2), 2),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_profile_geometry(
    gpu: str, profile: str, size: int, compute: int, starts: tuple[int, ...], max_count: int
) -> None:
    p = CATALOG.gpu(gpu).profile(profile)
    assert (p.memory_slices, p.compute_slices, p.starts, p.max_count) == (
        size,
        compute,
        starts,
        max_count,
    )
    assert p.media_extensions == profile.endswith("+me")


def test_verified_flags_follow_the_json() -> None:
    assert CATALOG.gpu("H100-80GB").profile("3g.40gb").verified
    assert not CATALOG.gpu("H200-141GB").profile("3g.71gb").verified  # "consistent" only


def test_missing_reported_memory_is_estimated_conservatively() -> None:
    # B200 3g.90gb has no reported GiB: scaled by the worst ratio in the table (16.0 / 18).
    usable = CATALOG.gpu("B200-180GB").profile("3g.90gb").usable_gib
    assert usable == pytest.approx(90 * 16.0 / 18)


@pytest.mark.parametrize(
    ("gpu", "memory_gib", "expected"),
    [
        ("H100-80GB", 5.0, "1g.10gb"),
        ("H100-80GB", 15.0, "1g.20gb"),  # same memory as 2g.20gb, fewer compute slices
        ("H100-80GB", 35.6, "3g.40gb"),
        ("H100-80GB", 75.0, WHOLE),
        ("H100-80GB", 90.0, None),
        ("H200-141GB", 35.6, "3g.71gb"),  # 1g.35gb has 32.25 GiB usable, not 35
        ("A30-24GB", 10.0, "2g.12gb"),
    ],
    ids=lambda v: str(v),
)
def test_smallest_profile(gpu: str, memory_gib: float, expected: str | None) -> None:
    assert smallest_profile(CATALOG.gpu(gpu), memory_gib) == expected


def test_memory_helpers_match_their_worked_numbers() -> None:
    kv = kv_cache_gib(layers=32, kv_heads=8, head_dim=128, tokens=16 * 8192)
    assert kv == pytest.approx(16.0)
    assert replica_memory_gib(15, kv) == pytest.approx(35.56, abs=0.01)
    assert replica_memory_gib(131, 40, tensor_parallel=4) == pytest.approx(48.61, abs=0.01)
    with pytest.raises(ValueError):
        replica_memory_gib(1, 1, tensor_parallel=0)
