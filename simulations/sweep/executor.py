"""Where a sweep's replays run: a seam with a local process pool behind it.

`SweepExecutor.run(tasks)` yields `(task, result)` as each replay finishes, in any order.
Tasks and results are plain picklable values (`simulations.sweep.tasks`), so another
backend only has to implement `run`: `ray_executor.RaySweepExecutor` sends each task to a
Ray cluster. Results do not depend on the executor or the number of workers: each replay
is seeded from its task alone.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Protocol

from simulations.sweep.grid import describe
from simulations.sweep.replay import run_task
from simulations.sweep.tasks import PointResult, SweepTask

RunOne = Callable[[SweepTask], PointResult]


class SweepTaskError(RuntimeError):
    """A replay failed; names the task (family, overrides, trace) and the cause."""

    def __init__(self, task: SweepTask, cause: BaseException) -> None:
        super().__init__(
            f"{task.family} on {task.trace.label} ({describe(task.overrides)}) failed: "
            f"{type(cause).__name__}: {cause}"
        )
        self.task = task


class SweepExecutor(Protocol):
    def run(self, tasks: Sequence[SweepTask]) -> Iterator[tuple[SweepTask, PointResult]]:
        """Runs every task once; yields each with its result as it completes."""
        ...


def default_workers() -> int:
    return os.cpu_count() or 1


class InlineExecutor:
    """Runs tasks one after another in this process: one worker, no start-up cost."""

    def __init__(self, run_one: RunOne = run_task) -> None:
        self._run_one = run_one

    def run(self, tasks: Sequence[SweepTask]) -> Iterator[tuple[SweepTask, PointResult]]:
        for task in tasks:
            try:
                result = self._run_one(task)
            except Exception as exc:
                raise SweepTaskError(task, exc) from exc
            yield task, result


# A replay's statsmodels fits are many small matrices: with BLAS threads per core, workers
# that already fill every core fight each other (an ARIMA fit took 38 s instead of 1-2 s on
# a loaded 2-core machine). Each worker gets one thread unless the user set a number.
ONE_BLAS_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextmanager
def one_blas_thread_for_children() -> Iterator[None]:
    """While processes are started: the environment they inherit asks BLAS for one thread
    (read when the child imports numpy), without changing this process's own BLAS."""
    unset = [name for name in ONE_BLAS_THREAD if name not in os.environ]
    os.environ.update({name: ONE_BLAS_THREAD[name] for name in unset})
    try:
        yield
    finally:
        for name in unset:
            os.environ.pop(name, None)


class ProcessPoolSweepExecutor:
    """`workers` processes on this machine. Spawned, not forked: a worker starts from a clean
    interpreter as a remote one would (nothing inherited from the CLI's threads or the
    traces it checked), and loads its traces itself from their references.

    Workers run BLAS on one thread each (ONE_BLAS_THREAD). At most `2 x workers` tasks are
    in flight, so an interrupted sweep stops within a
    couple of replays instead of draining a queue of hundreds.

    With `keep_pool` the workers outlive a `run` (until `close`), each keeping the trace it
    loaded: `prewarm tune` runs a batch of a few replays at a time, and a fresh pool per
    batch would spawn interpreters and load a week of requests again each time.
    """

    def __init__(self, workers: int, run_one: RunOne = run_task, keep_pool: bool = False) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._run_one = run_one
        self._keep_pool = keep_pool
        self._pool: ProcessPoolExecutor | None = None

    def _start(self, workers: int) -> ProcessPoolExecutor:
        if self._pool is not None:
            return self._pool
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        if self._keep_pool:
            self._pool = pool
        return pool

    def close(self) -> None:
        """Stops a kept pool's workers (a no-op without `keep_pool`)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, tasks: Sequence[SweepTask]) -> Iterator[tuple[SweepTask, PointResult]]:
        if not tasks:
            return
        pending = list(reversed(tasks))  # popped from the end: submitted in the given order
        workers = self.workers if self._keep_pool else min(self.workers, len(tasks))
        pool = self._start(workers)
        in_flight: dict[Future[PointResult], SweepTask] = {}
        finished = False
        try:
            while pending or in_flight:
                while pending and len(in_flight) < 2 * workers:
                    task = pending.pop()
                    # submit starts a worker when none is idle (spawn start method).
                    with one_blas_thread_for_children():
                        in_flight[pool.submit(self._run_one, task)] = task
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    task = in_flight.pop(future)
                    try:
                        result = future.result()
                    except Exception as exc:
                        raise SweepTaskError(task, exc) from exc
                    yield task, result
            finished = True
        finally:
            if not (finished and pool is self._pool):  # a failed run drops a kept pool too
                pool.shutdown(wait=True, cancel_futures=True)
                if pool is self._pool:
                    self._pool = None


def local_executor(
    workers: int, run_one: RunOne = run_task, keep_pool: bool = False
) -> SweepExecutor:
    """The default backend: inline for one worker, a process pool otherwise (kept between
    runs with `keep_pool`: close it with `close_executor`)."""
    if workers == 1:
        return InlineExecutor(run_one)
    return ProcessPoolSweepExecutor(workers, run_one, keep_pool=keep_pool)


def close_executor(executor: object) -> None:
    """Stops what an executor keeps between runs (a kept pool), if it keeps anything."""
    close = getattr(executor, "close", None)
    if callable(close):
        close()
