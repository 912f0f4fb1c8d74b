"""ManualClock: the only time the timeline tests know, and the sleeps the loops park on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from autoscaler.clock import ManualClock, SystemClock, sleep_or_wake


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


async def test_a_sleep_returns_when_the_clock_passes_its_deadline_not_before() -> None:
    clock = ManualClock(100.0)
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(30.0)
        woke.append(clock.now_s())

    task = asyncio.create_task(sleeper())
    await clock.sleeping(1)
    await clock.tick(29.0)
    assert not woke and clock.sleepers == 1 and clock.next_wake_s() == 130.0
    await clock.tick(1.0)
    assert woke == [130.0] and clock.sleepers == 0 and clock.next_wake_s() is None
    await task


async def test_one_advance_wakes_each_due_sleep_once_in_deadline_order() -> None:
    clock = ManualClock()
    order: list[str] = []

    async def loop(name: str, every_s: float) -> None:
        while True:
            await clock.sleep(every_s)
            order.append(f"{name}@{clock.now_s():.0f}")

    tasks = [asyncio.create_task(loop("slow", 10.0)), asyncio.create_task(loop("fast", 5.0))]
    await clock.sleeping(2)
    await clock.tick(60.0)  # both due: the earlier deadline first, each once
    assert order == ["fast@60", "slow@60"]
    await clock.sleeping(2)
    assert clock.next_wake_s() == 65.0  # the next sleep counts from the new now
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert clock.sleepers == 0  # a cancelled sleep leaves nothing parked


async def test_set_wakes_due_sleeps_and_a_zero_sleep_only_yields() -> None:
    clock = ManualClock(0.0)
    task = asyncio.create_task(clock.sleep(10.0))
    await clock.sleeping(1)
    clock.set(10.0)
    await asyncio.wait_for(task, 1.0)
    await asyncio.wait_for(clock.sleep(0.0), 1.0)  # nothing to wait for
    assert clock.now_s() == 10.0


async def test_sleeping_fails_rather_than_hangs_when_no_loop_parks() -> None:
    with pytest.raises(TimeoutError, match="0 sleep"):
        await ManualClock().sleeping(1, within_s=0.01)


@pytest.mark.parametrize("wake_first", [True, False], ids=["woken", "slept-out"])
async def test_sleep_or_wake_ends_on_whichever_comes_first(wake_first: bool) -> None:
    clock, wake = ManualClock(), asyncio.Event()
    task = asyncio.create_task(sleep_or_wake(clock, 60.0, wake))
    await clock.sleeping(1)
    if wake_first:
        wake.set()
    else:
        clock.advance(60.0)
    assert await asyncio.wait_for(task, 1.0) is wake_first
    assert clock.sleepers == 0


async def test_the_system_clock_sleeps_in_real_time() -> None:
    clock = SystemClock()
    before = time.monotonic()
    await clock.sleep(0.01)
    await clock.sleep(-1.0)  # a deadline already past returns at once
    assert time.monotonic() - before >= 0.009
