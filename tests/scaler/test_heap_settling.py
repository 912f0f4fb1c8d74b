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


def test_new_fits_restart_the_quiet_period_like_new_scaled_objects() -> None:
    watch = SettlingWatch(quiet_s=120.0)
    assert not watch.settled(0.0, (1000, 0))  # tracked, back-filling
    assert not watch.settled(100.0, (1000, 1200))  # first fits arriving
    assert not watch.settled(200.0, (1000, 2000))
    assert not watch.settled(310.0, (1000, 2000))
    assert watch.settled(320.0, (1000, 2000))


async def test_a_failing_freeze_is_logged_and_the_watch_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    states = iter([1, 1, 2, 2, 2])
    clock = iter(float(10 * i) for i in range(100))
    calls: list[int] = []

    class ScriptEnded(Exception):
        pass

    def state() -> int:
        value = next(states, None)
        if value is None:
            raise ScriptEnded
        return value

    def freeze() -> None:
        calls.append(1)
        raise RuntimeError("boom")

    with pytest.raises(ScriptEnded):
        await freeze_when_settled(
            state, SettlingWatch(quiet_s=10.0), check_every_s=0, now_s=lambda: next(clock),
            freeze=freeze,
        )  # fmt: skip
    assert len(calls) == 2  # it kept watching after the first failure
    assert "heap freeze failed" in caplog.text
