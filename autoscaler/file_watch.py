"""Files re-read when they change: one fingerprint, one keep-the-last-good rule, one poll loop.

Profiles (scaler/profile_reloader.py), the scaler's and the webhook's TLS pairs
(scaler/tls.py, scheduler/kubernetes/reloading_tls.py) and the webhook's plan
(scheduler/kubernetes/plan_store.py) all follow files an operator or the kubelet may replace:

- `FileWatch` notices a change by the (inode, mtime_ns, size) of each file a path resolves to.
  A mounted ConfigMap or Secret is updated by swapping a symlink, which changes the inode even
  when the new file has the old size and a coarse mtime. A missing file counts as a state of
  its own, so its return is a change too.
- `Reloading` holds the value loaded from the files. A change is tried once: a file that does
  not load is logged, its error kept for health pages, and the last good value stays in force
  until the next change (a half-written renewal must not take the server off the air, nor be
  re-parsed on every poll).
- `poll` runs a check every interval on the injected clock, outliving any one failure.

Checks are cheap (a stat per file), so the TLS pairs check on every handshake and need no loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Generic, TypeVar

from autoscaler.clock import Clock

T = TypeVar("T")

Stamp = tuple[tuple[str, int, int, int], ...]  # (path, inode, mtime_ns, size) per file
Paths = Callable[[], Iterable[Path]]


def stamp_of(paths: Iterable[Path]) -> Stamp:
    out = []
    for path in paths:
        try:
            st = path.stat()  # follows symlinks: the file the kubelet swapped in
        except OSError:
            out.append((str(path), -1, -1, -1))
        else:
            out.append((str(path), st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)


class FileWatch:
    """Notices that any of some files changed since the last look (thread-safe: TLS handshakes
    run on server threads)."""

    def __init__(self, paths: Paths | Iterable[Path]) -> None:
        if callable(paths):
            self._paths: Paths = paths
        else:
            fixed = tuple(paths)
            self._paths = lambda: fixed
        self._lock = threading.Lock()
        self._seen: Stamp | None = None  # None: never looked, so the first look is a change

    def stamp(self) -> Stamp:
        return stamp_of(self._paths())

    def mark(self, stamp: Stamp) -> None:
        """Remembers `stamp` as tried: the files count as changed only when they differ."""
        with self._lock:
            self._seen = stamp

    def changed(self) -> bool:
        return self.stamp() != self._seen

    def take(self) -> bool:
        """True once per change: the new state is marked as tried before the caller loads it
        (a change made during the load is seen by the next look)."""
        stamp = self.stamp()
        with self._lock:
            if stamp == self._seen:
                return False
            self._seen = stamp
            return True


class Reloading(Generic[T]):
    """A value loaded from files, reloaded when they change; a bad file keeps the last good one.

    `load` raises one of `expected` (its message naming the file) for a file it rejects; any
    other exception is a loader bug, logged with its traceback and kept out all the same.
    With `load_now`, the first load happens here and its error propagates: a bad file at
    start is a wrong flag, not a reload to wait out.
    """

    def __init__(
        self,
        paths: Paths | Iterable[Path],
        load: Callable[[], T],
        *,
        what: str,
        log: logging.Logger,
        expected: tuple[type[Exception], ...] = (ValueError,),
        load_now: bool = True,
        details: Callable[[T], Mapping[str, object]] = lambda value: {},
    ) -> None:
        self.watch = FileWatch(paths)
        self.load = load
        self.what = what  # "TLS certificate", "plan": the subject of the log lines
        self.log = log
        self.expected = expected
        self.details = details  # what the "loaded" log line says about a value
        self.value: T | None = None
        self.generation = 0  # +1 per value adopted
        self.last_error: str | None = None
        if load_now:
            self.watch.take()
            self._adopt(load(), quiet=True)

    def refresh(self) -> bool:
        """Loads the files if they changed since the last try; True when a new value took over."""
        if not self.watch.take():
            return False
        try:
            value = self.load()
        except self.expected as exc:
            self.last_error = str(exc)
        except Exception as exc:
            self.log.exception("%s: the loader failed on a file it should have rejected", self.what)
            files = ", ".join(path for path, *_ in self.watch.stamp())
            self.last_error = f"{files}: {type(exc).__name__}: {exc}"
        else:
            self._adopt(value)
            return True
        self.log.warning(
            "%s files changed but cannot be used; keeping the old ones: %s",
            self.what,
            self.last_error,
            extra={"error": self.last_error, "kept_generation": self.generation or None},
        )
        return False

    def _adopt(self, value: T, *, quiet: bool = False) -> None:
        self.value = value
        self.generation += 1
        self.last_error = None
        if not quiet:
            done = "loaded" if self.generation == 1 else "reloaded"
            extra = {"generation": self.generation, **self.details(value)}
            self.log.info(f"{self.what} {done}", extra=extra)


async def poll(
    clock: Clock,
    every_s: float,
    check: Callable[[], Awaitable[object]],
    *,
    log: logging.Logger,
    what: str,
    first_now: bool = False,
) -> None:
    """Runs `check` every `every_s` on `clock` until cancelled; one failure is logged, and the
    next interval tries again."""
    if not first_now:
        await clock.sleep(every_s)
    while True:
        try:
            await check()
        except Exception:  # the watcher must outlive any one bad reload
            log.exception("%s watch failed", what)
        await clock.sleep(every_s)
