"""The heap is re-frozen once per settling of the tracked ScaledObjects, never while they change."""

from __future__ import annotations

import asyncio

import pytest

from autoscaler.scaler.heap_settling import SettlingWatch, freeze_when_settled


def test_settles_after_the_quiet_period_once_per_count() -> None:
    watch = SettlingWatch(quiet_s=120.0)
    assert not watch.settled(0.0, 5)  # first sight: the count just "changed"
    assert not watch.settled(119.0, 5)
    assert watch.settled(120.0, 5)
    assert not watch.settled(500.0, 5)  # frozen at this count already


def test_a_change_restarts_the_quiet_period_and_allows_another_freeze() -> None:
    watch = SettlingWatch(quiet_s=120.0)
    watch.settled(0.0, 5)
    assert watch.settled(130.0, 5)
    assert not watch.settled(140.0, 1000)  # a thousand ScaledObjects arrive
    assert not watch.settled(200.0, 1000)
    assert not watch.settled(250.0, 1001)  # still arriving
    assert watch.settled(370.0, 1001)
    assert not watch.settled(380.0, 1001)


def test_a_count_that_keeps_changing_never_freezes() -> None:
    watch = SettlingWatch(quiet_s=120.0)
    assert not any(watch.settled(t * 60.0, t) for t in range(20))


async def test_the_runner_freezes_when_settled_and_only_then() -> None:
    counts = iter([3, 3, 3, 4, 4, 4, 4, 4, 4])
    clock = iter(float(10 * i) for i in range(100))
    freezes: list[int] = []
    current = 0

    class ScriptEnded(Exception):
        pass

    def count() -> int:
        nonlocal current
        current = next(counts, -1)
        if current < 0:
            raise ScriptEnded
        return current

    task = asyncio.create_task(
        freeze_when_settled(
            count,
            SettlingWatch(quiet_s=20.0),
            check_every_s=0,
            now_s=lambda: next(clock),
            freeze=lambda: freezes.append(current),
        )
    )
    with pytest.raises(ScriptEnded):  # the scripted counts ran out: the loop kept checking
        await task
    assert freezes == [3, 4]
