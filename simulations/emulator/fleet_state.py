"""An emulated vLLM fleet replaying a trace in (scaled) real time: the emulator's state.

Time: trace time = (clock.now_s() - start_s) x speed, wrapping around the trace when
`loop` is set. The fleet advances in whole trace seconds, each one step of a fluid queue
(`simulations/fleet/replay.py`, kept simple): the ready replicas serve the backlog plus the
second's new work up to their capacity, the excess waits, and work older than the request
timeout is abandoned (counted as `finished_reason="abort"`). Counters count *served* tokens,
so they flatten when the fleet is starved while `waiting` grows. Reading state first
replays the seconds elapsed since the last read: O(new seconds), never O(trace).

Rates and speed: Prewarm reads Prometheus, and Prometheus' `rate()` divides by wall time.
With speed X, X trace seconds pass per wall second, so every rate (tokens/s, requests/s)
is X times the trace's rate. Gauges (running, waiting, KV usage, replicas) are states, not
rates, and read as in the trace. `observation()` reports exactly that: what
`rate(x[1m])` over the scraped series would show, the minute being one of wall time.
"""

from __future__ import annotations

import math
import threading

from autoscaler.clock import Clock
from autoscaler.observation import Observation
from autoscaler.profile import ModelProfile
from simulations.emulator.histogram import bucket_index
from simulations.emulator.history import offered_history
from simulations.emulator.pods import PodLedger
from simulations.emulator.rate_window import RateWindow
from simulations.emulator.snapshot import FleetSnapshot
from simulations.emulator.trace_seconds import TraceSeconds
from simulations.fleet.physics import FleetPhysics
from simulations.traces.request_trace import RequestTrace

_EPS_S = 1e-9  # (t - start) x speed = 2.9999999999999996 is trace second 3


class EmulatedFleet:
    """A whole fleet of one model: its pods, their queue and counters, at the clock's now.

    `replicas=None` sizes the fleet to the demand (see `trace_seconds.auto_replicas`); a
    number fixes it (change it with `set_replicas`), which is how a test starves it.
    Replica changes take effect at once: the emulator has no cold start.
    Thread-safe: the HTTP server's threads and an asyncio source may read it together.
    """

    def __init__(
        self,
        trace: RequestTrace,
        profile: ModelProfile,
        *,
        model_name: str = "demo",
        engines_per_replica: int = 1,
        speed: float = 1.0,
        clock: Clock,
        replicas: int | None = None,
        loop: bool = True,
        physics: FleetPhysics | None = None,
    ) -> None:
        if not speed > 0 or math.isinf(speed):
            raise ValueError(f"speed must be a finite number > 0, got {speed}")
        if engines_per_replica < 1:
            raise ValueError(f"engines_per_replica must be >= 1, got {engines_per_replica}")
        _check_replicas(replicas)
        self.model_name = model_name
        self.speed = float(speed)
        self.loop = loop
        self.engines_per_replica = engines_per_replica
        self._clock = clock
        self._physics = physics or FleetPhysics.from_profile(profile)
        self._profile = profile
        self._seconds = TraceSeconds.build(trace, self._physics, profile, loop=loop)
        self._fixed = replicas
        self._window_s = max(1, math.ceil(self._physics.rate_window_s * self.speed))
        self._lock = threading.Lock()
        self.start_s = clock.now_s()
        self._reset_state()

    def _reset_state(self) -> None:
        self._k = 0  # trace seconds replayed since start
        self._backlog = [0.0, 0.0, 0.0, 0.0]  # work, prompt, generation, requests waiting
        self._life = [0.0, 0.0, 0.0, 0.0]  # served prompt, generation, stopped, aborted
        self._offset = [0.0, 0.0, 0.0, 0.0]  # `_life` at the last restart()
        self._kv_usage = 0.0
        self._pods = PodLedger(self.model_name, self.engines_per_replica)
        self._window = RateWindow(self._window_s)
        self._window.record(0.0, 0.0, 0.0, 0, 0.0)  # the baseline at start
        self._pods.resize(self._replicas_at(0), self.start_s)

    # --- control ------------------------------------------------------------------------

    def set_replicas(self, replicas: int | None) -> None:
        """Fix the ready replica count from now on (None: back to auto-sizing)."""
        _check_replicas(replicas)
        with self._lock:
            self._advance(self._clock.now_s())  # the past was served by the old count
            self._fixed = replicas
            self._pods.resize(self._replicas_at(self._k), self._clock.now_s())

    def restart(self) -> None:
        """Every vLLM process restarts: all counters drop to 0 (traffic and queue go on)."""
        with self._lock:
            now_s = self._clock.now_s()
            self._advance(now_s)
            self._offset = list(self._life)
            self._pods.restart(now_s)

    # --- reading ------------------------------------------------------------------------

    def snapshot(self) -> FleetSnapshot:
        """Everything a scrape at the clock's now would return."""
        with self._lock:
            now_s = self._clock.now_s()
            self._advance(now_s)
            running = self._running()
            prompt, generation, stopped, aborted = (
                life - off for life, off in zip(self._life, self._offset, strict=True)
            )
            return FleetSnapshot(
                model_name=self.model_name,
                t_s=now_s,
                trace_s=self._k,
                trace_position_s=self._k % self._seconds.n_s if self.loop else self._k,
                ready_replicas=self._pods.ready,
                prompt_tokens_total=prompt,
                generation_tokens_total=generation,
                requests_finished_total=stopped,
                requests_aborted_total=aborted,
                requests_running=running,
                requests_waiting=self._backlog[3],
                kv_cache_usage=self._kv_usage,
                series=self._pods.samples(
                    running=running, waiting=self._backlog[3], kv_cache_usage=self._kv_usage
                ),
            )

    def observation(self, now_s: float | None = None) -> Observation:
        """What Prometheus would report at `now_s` (default: the clock's now), summed over
        pods and engines; rates per wall second over the last minute of wall time.

        Worked number: at speed 10 a trace second with 2,000 prompt tok/s reads as 20,000.
        `requests_per_s` counts served requests (`finished_reason="stop"`), not aborts: the
        planner divides served work by it. The fleet cannot go back: a `now_s` earlier than
        what was already replayed reads the present.
        """
        with self._lock:
            if now_s is None:
                now_s = self._clock.now_s()
            self._advance(now_s)
            wall_s = self._window.span_s / self.speed
            prompt, generation, finished = self._window.increases()
            per_s = 1.0 / wall_s if wall_s > 0 else 0.0
            return Observation(
                t_s=now_s,
                prompt_tokens_per_s=prompt * per_s,
                generation_tokens_per_s=generation * per_s,
                requests_running=self._running(),
                requests_waiting=self._backlog[3],
                kv_cache_usage=self._kv_usage,
                ready_replicas=self._pods.ready,
                requests_per_s=finished * per_s,
                ttft_p95_s=self._window.ttft_quantile(0.95),
            )

    def history(self, start_s: float, end_s: float, step_s: float) -> list[Observation]:
        """Observations every `step_s` in [start_s, end_s] computed from the trace alone, as
        if the fleet had always kept up (see `history.offered_history`)."""
        return offered_history(
            self._seconds,
            self._physics,
            start_s=start_s,
            end_s=end_s,
            step_s=step_s,
            fleet_start_s=self.start_s,
            speed=self.speed,
            loop=self.loop,
            window_s=self._window_s,
            fixed_replicas=self._fixed,
            engines_per_replica=self.engines_per_replica,
        )

    # --- the replay ---------------------------------------------------------------------

    def _running(self) -> float:
        """Little's law: served requests per trace second x mean decode time, capped by the
        batch limit. Concurrency is a state, so it does not scale with speed."""
        span = self._window.span_s
        rate = self._window.increases()[2] / span if span else 0.0
        cap = self._pods.ready * self.engines_per_replica * self._physics.max_num_seqs
        return min(rate * self._seconds.decode_s, cap)

    def _index(self, k: int) -> int:
        """Row of the per-second arrays for trace second k; -1 past the end without loop."""
        if self.loop:
            return k % self._seconds.n_s
        return k if k < self._seconds.n_s else -1

    def _replicas_at(self, k: int) -> int:
        if self._fixed is not None:
            return self._fixed
        i = self._index(k)
        return int(self._seconds.auto_replicas[i]) if i >= 0 else self._seconds.idle_replicas

    def _advance(self, now_s: float) -> None:
        target = math.floor((now_s - self.start_s) * self.speed + _EPS_S)
        while self._k < target:
            if self._index(self._k) < 0 and self._backlog[0] == 0.0:
                self._idle_until(target)
                return
            self._step(now_s)

    def _idle_until(self, target: int) -> None:
        """Past the end of a non-looping trace with nothing queued, seconds are all alike:
        record only as many as the rate window holds."""
        self._pods.resize(self._replicas_at(self._k), self._clock.now_s())
        self._kv_usage = 0.0
        for _ in range(min(target - self._k, self._window_s + 1)):
            self._window.record(self._life[0], self._life[1], self._life[2], 0, 0.0)
        self._k = target

    def _step(self, now_s: float) -> None:
        """One trace second of the fluid queue."""
        s, phys = self._seconds, self._physics
        i = self._index(self._k)
        replicas = self._replicas_at(self._k)
        if replicas != self._pods.ready:
            self._pods.resize(replicas, now_s)
        if i >= 0:
            new = (
                float(s.work[i]),
                float(s.prompt_tokens[i]),
                float(s.generation_tokens[i]),
                float(s.requests[i]),
            )
            kv_held, kv_share, recent, mean_work = (
                float(s.kv_tokens_in_flight[i]),
                float(s.kv_capacity_share[i]),
                float(s.recent_work[i]),
                float(s.mean_work_60s[i]),
            )
        else:
            # Past the end of a non-looping trace nothing arrives; what still waits is given
            # up at once (recent work is 0), which keeps the idle fast path reachable.
            new = (0.0, 0.0, 0.0, 0.0)
            kv_held, kv_share, recent, mean_work = 0.0, 1.0, 0.0, 0.0
        # A mix holding more KV per unit of work than a replica's budget serves less of it
        # (offered_load._kv_capacity_share); a queue holds none.
        budget = replicas * phys.kv_cache_tokens
        effective = replicas * kv_share
        waited_work = self._backlog[0]
        total = [b + n for b, n in zip(self._backlog, new, strict=True)]
        served_work = min(total[0], effective)
        # FIFO fluid: the served share of work is the served share of tokens and requests.
        share = served_work / total[0] if total[0] > 0 else 1.0
        served = [t * share for t in total]
        self._backlog = [t - v for t, v in zip(total, served, strict=True)]
        aborted = 0.0
        if self._backlog[0] > recent:
            # Clients give up after the request timeout: the backlog never holds older work.
            keep = recent / self._backlog[0]
            aborted = self._backlog[3] * (1.0 - keep)
            self._backlog = [b * keep for b in self._backlog]
        ttft_s, bucket = 0.0, 0
        if served[3] > 0:
            ttft_s = self._ttft_s(served[1] / served[3], mean_work, effective, waited_work)
            bucket = bucket_index(ttft_s)
        life = self._life
        life[0] += served[1]
        life[1] += served[2]
        life[2] += served[3]
        life[3] += aborted
        self._pods.add(served[1], served[2], served[3], aborted, ttft_s, bucket)
        self._window.record(life[0], life[1], life[2], bucket, served[3])
        self._kv_usage = min(1.0, kv_held / budget) if budget > 0 else 0.0
        self._k += 1

    def _ttft_s(
        self, mean_prompt: float, mean_work: float, effective: float, waited_work: float
    ) -> float:
        """One TTFT for all requests served in a second (as `simulations/fleet/ttft.py`):
        overhead + own prefill + M/M/1 queueing at the trailing-minute utilisation + time
        to drain the backlog found waiting. Worked number: 2,000-token prompts at 16,000
        tok/s prefill, 50 % utilisation, no backlog: 0.05 + 0.125 + 0.125 x 1 = 0.3 s."""
        phys = self._physics
        util = min(mean_work / effective, phys.max_queue_wait_factor)
        queueing = self._seconds.mean_service_s * util / (1.0 - util)
        ttft = (
            phys.overhead_s
            + mean_prompt / phys.prefill_tokens_per_s
            + queueing
            + waited_work / effective
        )
        return min(ttft, phys.request_timeout_s)


def _check_replicas(replicas: int | None) -> None:
    if replicas is not None and replicas < 0:
        raise ValueError(f"replicas must be >= 0, got {replicas}")
