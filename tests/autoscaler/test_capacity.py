"""Token demand -> replicas, checked against the worked numbers in capacity.py."""

from __future__ import annotations

import pytest

from autoscaler.capacity import (
    kv_replicas_for_generation,
    kv_tokens_in_use,
    replicas_for,
    token_load_replicas,
)
from tests.fakes import make_profile

CAP = make_profile().capacity  # 8,000 prompt / 2,500 gen tok/s, 400,000 KV tokens


@pytest.mark.parametrize(
    ("prompt", "generation", "expected"),
    [
        (40_000, 1_250, 5.5),  # docstring: 5.0 + 0.5
        (8_000, 0, 1.0),
        (0, 2_500, 1.0),
        (4_000, 1_250, 1.0),  # half a replica of each adds to one
        (0, 0, 0.0),
    ],
    ids=["docstring", "prompt-only", "generation-only", "halves-add", "idle"],
)
def test_token_load_adds_prefill_and_decode(
    prompt: float, generation: float, expected: float
) -> None:
    assert token_load_replicas(prompt, generation, CAP) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("load", "target", "expected"),
    [
        (5.5, 0.8, 7),  # docstring: ceil(6.875)
        (4.0, 0.8, 5),  # exact multiple: 5.0 -> 5, not 6
        (2.4, 0.8, 3),  # 2.4 / 0.8 is 2.9999999999999996 in floats
        (3 * 0.8, 0.8, 3),  # 2.4000000000000004 / 0.8 is 3.0000000000000004 in floats
        (3.0, 1.0, 3),
        (3.01, 1.0, 4),
        (0.001, 0.8, 1),  # any work at all needs a replica
        (0.0, 0.8, 0),
        (-1.0, 0.8, 0),
    ],
    ids=[
        "docstring-5.5",
        "exact-multiple",
        "float-below",
        "float-above",
        "full-utilisation",
        "just-over",
        "tiny-load",
        "zero-load",
        "negative-load",
    ],
)
def test_replicas_for_is_smallest_count_within_target(
    load: float, target: float, expected: int
) -> None:
    assert replicas_for(load, target) == expected


def test_docstring_worked_number_end_to_end() -> None:
    assert replicas_for(token_load_replicas(40_000, 1_250, CAP), 0.8) == 7


def test_kv_replicas_for_generation_worked_number() -> None:
    # 300,000 KV tokens at 1,000 gen tok/s is 300 s; at 2,000 gen tok/s: 600,000 tokens = 1.5.
    ratio_s = 300_000 / 1_000
    assert kv_replicas_for_generation(2_000, ratio_s, CAP) == pytest.approx(1.5)
    assert kv_replicas_for_generation(1_000, ratio_s, CAP) == pytest.approx(0.75)


def test_kv_tokens_in_use() -> None:
    # 75 % of 2 replicas' 400,000-token budgets.
    assert kv_tokens_in_use(0.75, 2, CAP) == pytest.approx(600_000)
