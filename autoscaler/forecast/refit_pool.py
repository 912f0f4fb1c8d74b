"""Refit many models' parameters in parallel, off the decision path.

Forecasters that refit on a cadence (holt-winters, sarimax, mstl, kalman, also as ensemble
members) split their work into `fit_on(history, end_s)`, pure and picklable, and
`install(state)`; `refit_due` says when a refit is due. This pool runs `fit_on` for many
series in worker processes (`fit`, blocking, safe to call from a thread) and the caller
installs the results where it owns the forecasters (`install_outcomes`); the next `predict`
then only advances the state, O(1) per new bucket. `refit` does both for a batch job.
A forecaster with `inline_refits` on (the default) still refits itself when a job failed,
so there the pool is an optimisation; the live scaler turns inline refits off so its
decision thread never fits (autoscaler/scaler/background_refits.py).

Workers are spawned, not forked: the live scaler's process runs gRPC's threads, and a fork
of a process with running threads can inherit a held lock.

Processes, not threads: statsmodels' optimisers spend most of a fit in Python (scipy's
L-BFGS driver, model construction), so threads serialise on the GIL; the benchmark
(benchmarks/forecast_refit.py --executor thread) measures it. Each worker limits OpenBLAS
to one thread: two workers each spinning up a BLAS thread per core on the same two cores
made the sarimax refit 20x slower (79 s against 3.8 s for 100 models) in that benchmark.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Refittable(Protocol):
    settings: Any
    inline_refits: bool  # False: `predict` never fits, it waits for `install`

    def refit_due(self, history: np.ndarray, end_s: float) -> bool: ...

    def fit_on(self, history: np.ndarray, end_s: float) -> Any: ...

    def install(self, state: Any) -> None: ...

    def fit_failed(self, end_s: float) -> None: ...


@dataclass(frozen=True)
class RefitJob:
    target: Refittable  # stays in this process; only its settings travel
    history: np.ndarray
    end_s: float


Outcome = tuple[str, Any]  # ("ok", state or None) | ("failed", message)


@dataclass(frozen=True)
class RefitReport:
    fitted: int  # states installed
    skipped: int  # history too short or flat: nothing to fit (the forecaster falls back)
    failed: int  # the job raised; the forecaster will retry inline when due
    wall_s: float


def refittables(forecaster: Any) -> list[Refittable]:
    """The parts of a forecaster with parameters to fit: itself, or an ensemble's members."""
    if isinstance(forecaster, Refittable):
        return [forecaster]
    members = getattr(forecaster, "members", None)
    if members is None:
        inner = getattr(forecaster, "forecaster", None)  # ConformalUpper wraps one
        return refittables(inner) if inner is not None else []
    return [part for member in members for part in refittables(member)]


_BLAS_THREAD_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


def _one_blas_thread() -> None:
    """Worker initialiser: one OpenBLAS thread per worker process (Linux; else a no-op).

    scipy carries its own OpenBLAS (statsmodels' Kalman filter calls it), so it is loaded
    first: a library loaded after this runs would start with a thread per core."""
    import scipy.linalg  # noqa: F401

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_THREAD_SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter(1)
                break


# How often a worker checks that the process that started it is still there.
_PARENT_CHECK_S = 1.0


def _init_worker(parent_pid: int) -> None:
    """Worker initialiser: an exit when the parent process dies, and one BLAS thread."""
    _exit_with_parent(parent_pid)
    _one_blas_thread()


def _exit_with_parent(parent_pid: int) -> None:
    """Ends this worker once its parent is gone, however it went.

    A parent stopped by SIGTERM shuts the pool down, but one killed outright (kill -9, the
    OOM killer) never does, and a worker blocked on its job queue would then live on, holding
    its memory (183 MB measured) until someone kills it. The kernel re-parents an orphan, so
    a changed parent pid means the parent is gone. (PR_SET_PDEATHSIG would fire when the
    *thread* that spawned the worker ends, which for this pool is a short-lived one.) The
    parent passes its pid: one that died while this worker was still starting would
    otherwise be missed, the worker reading its new parent as its first.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="prewarm-parent-watch", daemon=True).start()


def _fit_job(job: tuple[Any, np.ndarray, float]) -> tuple[str, Any]:
    """Runs in a worker: a fresh forecaster of the same settings fits the history."""
    from autoscaler.forecast.registry import build_forecaster

    settings, history, end_s = job
    forecaster: Any = build_forecaster(settings)  # only Refittable kinds are sent here
    try:
        return "ok", forecaster.fit_on(history, end_s)
    except Exception as exc:  # reported, never raised: one bad series must not stop the rest
        return "failed", f"{type(exc).__name__}: {exc}"


class RefitPool:
    """`with RefitPool(workers=2) as pool: pool.refit([(forecaster, history, end_s), ...])`."""

    def __init__(
        self, workers: int = 2, executor: Literal["process", "thread"] = "process"
    ) -> None:
        if workers < 1:
            raise ValueError(f"RefitPool needs at least one worker, got {workers}")
        self.workers = workers
        self._executor: Executor = (
            ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(os.getpid(),),
            )
            if executor == "process"
            else ThreadPoolExecutor(max_workers=workers)
        )

    def fit(self, jobs: Sequence[RefitJob]) -> list[Outcome]:
        """Each job's outcome, in order. Blocks until all are done; installs nothing."""
        payload = [(job.target.settings, np.asarray(job.history, dtype=float), job.end_s)
                   for job in jobs]  # fmt: skip
        chunk = max(1, len(payload) // (8 * self.workers))  # amortise pickling, keep balance
        return list(self._executor.map(_fit_job, payload, chunksize=chunk))

    def refit(self, work: Iterable[tuple[Any, np.ndarray, float]]) -> RefitReport:
        """Fits and installs at once: for batch jobs that own their forecasters."""
        start = time.perf_counter()
        jobs = [
            RefitJob(part, np.asarray(history, dtype=float), end_s)
            for forecaster, history, end_s in work
            for part in refittables(forecaster)
        ]
        return install_outcomes(jobs, self.fit(jobs), start)

    def close(self) -> None:
        self._executor.shutdown(cancel_futures=True)

    def __enter__(self) -> RefitPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def install_outcomes(
    jobs: Sequence[RefitJob], outcomes: Sequence[Outcome], started: float
) -> RefitReport:
    """Installs each fitted state in its forecaster; a failed job keeps the old parameters
    until the next cadence. `started` is the perf_counter reading the work began at."""
    fitted = skipped = failed = 0
    for job, (status, state) in zip(jobs, outcomes, strict=True):
        if status != "ok":
            job.target.fit_failed(job.end_s)
            failed += 1
        elif state is None:
            skipped += 1
        else:
            job.target.install(state)
            fitted += 1
    return RefitReport(fitted, skipped, failed, time.perf_counter() - started)
