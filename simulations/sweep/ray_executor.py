"""A sweep's replays as Ray tasks, for sweeps that outgrow one machine (`prewarm[ray]`).

`connect(address)` joins a running cluster (`auto`: the one this machine belongs to, or
`RAY_ADDRESS`; `ray://host:port`: a Ray Client server; `host:port`: its GCS). `RaySweepExecutor`
then implements `SweepExecutor`: each trace is loaded once here, checked against the digest
the plan took, and `ray.put` once into the object store; every task on it gets the object's
reference, so a week of requests (~270 MB) crosses the network once per node that runs its
tasks, not once per task, and a worker neither reads the file nor needs it on its disk.
Each replay is one task (`num_cpus=1`) running `replay.replay`, the code local workers run,
seeded from the task alone: the same sweep gives the same numbers on both.

Worked number: 100 replays of ~6 s on 10 nodes x 8 cores are 2 waves of 80 slots, ~12 s plus
the per-task overhead (`benchmarks/sweep_ray.py` measures it) and one trace upload per node.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator, Sequence
from typing import Any

from simulations.sweep.executor import SweepTaskError
from simulations.sweep.replay import check_digest, replay
from simulations.sweep.tasks import PointResult, SweepTask, TraceRef, trace_digest

INSTALL_HINT = "pip install 'prewarm[ray]'"
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[^:/\s]+):(?P<port>\d{1,5})$")


class RayUnavailable(RuntimeError):
    """Ray is not installed, the address is malformed or unreachable, or the cluster runs
    other simulation code than this machine. The message names which."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(
            f"--ray-address needs Ray, which is not installed ({INSTALL_HINT})"
        ) from exc
    return ray


def check_address(address: str) -> tuple[str, int] | None:
    """(host, port) to probe before connecting, None for `auto`; ValueError when malformed."""
    if address == "auto":
        return None
    rest = address.removeprefix("ray://")
    match = _HOST_PORT.match(rest)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"--ray-address {address!r}: expected auto, ray://host:port or host:port")
    return match["host"].strip("[]"), int(match["port"])


def _resolve(ray: Any, address: str) -> str:
    """`auto` as Ray reads it (RAY_ADDRESS, the latest local cluster, any running GCS), so
    that it can be probed: Ray's own connect retries a dead GCS without end."""
    if address != "auto":
        return address
    try:
        from ray._private.services import canonicalize_bootstrap_address

        found = canonicalize_bootstrap_address(address)
    except (ImportError, AttributeError):  # a Ray without this helper: let ray.init look
        return address
    except ConnectionError as exc:
        raise RayUnavailable(
            "--ray-address auto: no running Ray cluster found on this machine (start one "
            "with `ray start --head`, or set RAY_ADDRESS)"
        ) from exc
    return found or address


def _probe(address: str, timeout_s: float) -> None:
    """A TCP connect first: an unreachable address fails in `timeout_s`, with its name,
    instead of after Ray's own retries (minutes, or never for a GCS that is shutting down)."""
    try:
        target = check_address(address)
    except ValueError:
        return  # an address `auto` resolved to that we cannot parse: ray.init judges it
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            pass
    except OSError as exc:
        raise RayUnavailable(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}"
        ) from exc


def connect(address: str, timeout_s: float = 10.0) -> Any:
    """Joins the cluster at `address` (this process's Ray session, until `disconnect`);
    returns the `ray` module. RayUnavailable or ValueError name what is wrong."""
    check_address(address)
    ray = _import_ray()
    resolved = _resolve(ray, address)
    _probe(resolved, timeout_s)
    named = address if resolved == address else f"{address} ({resolved})"
    try:
        ray.init(
            address=resolved,
            logging_level="ERROR",
            log_to_driver=False,  # worker output stays in the cluster's logs
        )
    except Exception as exc:  # ConnectionError, RuntimeError, version mismatches, ...
        raise RayUnavailable(
            f"cannot connect to the Ray cluster at {named}: {type(exc).__name__}: {exc}"
        ) from exc
    return ray


def disconnect() -> None:
    ray = _import_ray()
    if ray.is_initialized():
        ray.shutdown()


def _replay_remote(task: SweepTask, trace: Any) -> PointResult:
    """The remote function: `trace` arrives resolved from its object reference (numpy
    arrays mapped read-only from the node's object store, not copied)."""
    return replay(task, trace)


def _fingerprint_remote() -> str:
    from simulations.sweep.cache import code_fingerprint

    return code_fingerprint()


class RaySweepExecutor:
    """Runs each task as a Ray task on the cluster `connect` joined.

    At most `2 x the cluster's CPUs` tasks are in flight (at least 2), as the process pool
    does, so an interrupted sweep cancels what is queued instead of draining it. `code`,
    when given, is compared with the cluster's code fingerprint before anything runs: a
    worker image with other simulation code would give other numbers under the same keys.
    """

    def __init__(self, ray: Any, code: str | None = None, keep_traces: bool = False) -> None:
        self._ray = ray
        self._code = code
        # `prewarm tune` runs a few replays per batch: with keep_traces each trace is loaded
        # and put once for the whole search, not once per batch (dropped by `close`).
        self._keep_traces = keep_traces
        self._kept: dict[TraceRef, Any] = {}
        self._digests: dict[TraceRef, str] = {}
        self._code_checked = False
        # A replay is pure (seeded from its task): rerunning it where a node was lost gives
        # the same numbers. A replay's own exception is not retried (Ray's default).
        self._remote = ray.remote(num_cpus=1, max_retries=2)(_replay_remote)

    @property
    def cpus(self) -> int:
        return int(self._ray.cluster_resources().get("CPU", 0))

    def close(self) -> None:
        """Releases the traces kept between runs (`keep_traces`)."""
        self._kept.clear()

    def check_code(self) -> None:
        if self._code is None or self._code_checked:
            return
        remote = self._ray.remote(num_cpus=0)(_fingerprint_remote)
        theirs = self._ray.get(remote.remote())
        if theirs != self._code:
            raise RayUnavailable(
                f"the Ray cluster runs other simulation code than this machine (code "
                f"fingerprint {theirs[:12]} there, {self._code[:12]} here): run the same "
                "Prewarm version on both"
            )
        self._code_checked = True

    def put_trace(self, ref: TraceRef, tasks: Sequence[SweepTask]) -> Any:
        """Loads `ref` here, checks it against the plan's digest, puts it in the object
        store; returns the object reference. The local copy is dropped on return."""
        trace = ref.load()
        digest = trace_digest(trace)
        for task in tasks:
            check_digest(task, digest)
        self._digests[ref] = digest
        return self._ray.put(trace)

    def run(self, tasks: Sequence[SweepTask]) -> Iterator[tuple[SweepTask, PointResult]]:
        if not tasks:
            return
        ray = self._ray
        self.check_code()
        by_trace: dict[TraceRef, list[SweepTask]] = {}
        for task in tasks:
            by_trace.setdefault(task.trace, []).append(task)
        pending = list(reversed(tasks))  # popped from the end: submitted in the given order
        limit = max(2, 2 * self.cpus)
        objects: dict[TraceRef, Any] = self._kept if self._keep_traces else {}
        in_flight: dict[Any, SweepTask] = {}
        try:
            while pending or in_flight:
                while pending and len(in_flight) < limit:
                    task = pending.pop()
                    if task.trace not in objects:
                        try:
                            objects[task.trace] = self.put_trace(task.trace, by_trace[task.trace])
                        except Exception as exc:
                            raise SweepTaskError(task, exc) from exc
                    elif self._keep_traces:
                        try:  # kept from an earlier run: the same requests still expected?
                            check_digest(task, self._digests[task.trace])
                        except Exception as exc:
                            raise SweepTaskError(task, exc) from exc
                    in_flight[self._remote.remote(task, objects[task.trace])] = task
                    by_trace[task.trace].remove(task)
                    if not by_trace[task.trace]:
                        del by_trace[task.trace]  # every task holds the reference it needs
                        if not self._keep_traces:
                            del objects[task.trace]
                done, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in done:
                    task = in_flight.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as exc:
                        raise SweepTaskError(task, _cause(exc)) from exc
                    yield task, result
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)


def _cause(exc: BaseException) -> BaseException:
    """A task's own exception rather than Ray's wrapper, when Ray kept it."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc
