"""ManualClock: the only time the timeline tests know."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from autoscaler.clock import ManualClock


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(100.0)
    assert clock.now_s() == 100.0
    assert clock.advance(15.0) == 115.0
    clock.set(200.0)
    assert clock.now_s() == 200.0


@pytest.mark.parametrize(
    "move",
    [lambda c: c.advance(-1.0), lambda c: c.set(99.0)],
    ids=["advance-negative", "set-earlier"],
)
def test_manual_clock_never_goes_backwards(move: Callable[[ManualClock], object]) -> None:
    clock = ManualClock(100.0)
    with pytest.raises(ValueError, match="backwards"):
        move(clock)
    assert clock.now_s() == 100.0
