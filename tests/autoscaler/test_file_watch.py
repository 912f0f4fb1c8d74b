"""FileWatch / Reloading / poll: the one "reload when the file changes" piece."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from autoscaler.clock import ManualClock
from autoscaler.file_watch import FileWatch, Reloading, poll, stamp_of

log = logging.getLogger("prewarm.test")


def bump(path: Path, text: str, t_ns: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(t_ns, t_ns))  # a different mtime even on coarse-clock filesystems


def test_a_change_is_taken_once_and_a_missing_file_is_a_state_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    bump(path, "one", 10**18)
    watch = FileWatch([path])
    assert watch.take() and not watch.take()  # the first look is a change, then nothing
    bump(path, "two", 2 * 10**18)
    assert watch.changed() and watch.take() and not watch.changed()
    path.unlink()
    assert watch.take() and not watch.take()
    bump(path, "two", 2 * 10**18)  # back, with the very stamp it had
    assert watch.take()


def test_a_swapped_symlink_is_a_change_even_with_the_same_size_and_mtime(tmp_path: Path) -> None:
    old, new, link = tmp_path / "old", tmp_path / "new", tmp_path / "plan.json"
    bump(old, "same", 10**18)
    bump(new, "same", 10**18)
    link.symlink_to(old)
    watch = FileWatch([link])
    watch.take()
    tmp = tmp_path / "tmp"
    tmp.symlink_to(new)
    os.replace(tmp, link)  # as the kubelet swaps a ConfigMap volume
    assert watch.take()


def test_the_paths_may_be_a_callable_read_on_every_look(tmp_path: Path) -> None:
    files = [tmp_path / "a"]
    watch = FileWatch(lambda: files)
    watch.take()
    files.append(tmp_path / "b")
    assert watch.take() and [p for p, *_ in watch.stamp()] == [str(f) for f in files]
    assert stamp_of([tmp_path / "gone"]) == ((str(tmp_path / "gone"), -1, -1, -1),)


def test_a_bad_file_keeps_the_last_good_value_and_is_tried_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "n.txt"
    bump(path, "1", 10**18)
    loads: list[str] = []

    def load() -> int:
        text = path.read_text()
        loads.append(text)
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{path}: not a number") from None

    value = Reloading([path], load, what="number", log=log, details=lambda n: {"number": n})
    assert (value.value, value.generation, value.last_error) == (1, 1, None)
    bump(path, "x", 2 * 10**18)
    with caplog.at_level(logging.INFO, logger="prewarm.test"):
        assert not value.refresh() and not value.refresh()  # not re-parsed every poll
    assert value.value == 1 and value.last_error == f"{path}: not a number" and loads == ["1", "x"]
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert str(path) in warning.getMessage() and "keeping the old ones" in warning.getMessage()
    bump(path, "2", 3 * 10**18)
    with caplog.at_level(logging.INFO, logger="prewarm.test"):
        assert value.refresh()
    assert (value.value, value.generation, value.last_error) == (2, 2, None)
    assert caplog.messages[-1] == "number reloaded"
    assert (caplog.records[-1].generation, caplog.records[-1].number) == (2, 2)


def test_a_loader_bug_is_kept_out_and_named_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "n.txt"
    bump(path, "1", 10**18)
    calls = iter([1, KeyError("boom")])

    def load() -> int:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    value = Reloading([path], load, what="number", log=log, expected=(ValueError,))
    bump(path, "2", 2 * 10**18)
    assert not value.refresh()
    assert value.value == 1 and value.last_error == f"{path}: KeyError: 'boom'"


def test_without_load_now_the_first_refresh_loads(tmp_path: Path) -> None:
    path = tmp_path / "missing"
    value = Reloading([path], path.read_text, what="text", log=log, load_now=False,
                      expected=(OSError,))  # fmt: skip
    assert value.value is None and not value.refresh() and value.last_error
    bump(path, "here", 10**18)
    assert value.refresh() and value.value == "here" and value.generation == 1


async def test_poll_checks_every_interval_on_the_clock_and_outlives_a_failure() -> None:
    clock = ManualClock()
    calls: list[float] = []

    async def check() -> None:
        calls.append(clock.now_s())
        if len(calls) == 2:
            raise RuntimeError("one bad check")

    task = asyncio.create_task(poll(clock, 5.0, check, log=log, what="test"))
    await clock.sleeping(1)
    assert calls == []  # the first check waits an interval...
    for _ in range(3):
        await clock.tick(5.0)
        await clock.sleeping(1)
    assert calls == [5.0, 10.0, 15.0]  # ...and the failure at 10 s did not end the loop
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    first = asyncio.create_task(poll(clock, 5.0, check, log=log, what="test", first_now=True))
    await clock.sleeping(1)
    assert calls[-1] == 15.0 and len(calls) == 4  # ...unless told to check at once
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
