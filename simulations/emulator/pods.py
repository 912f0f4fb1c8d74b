"""Per-pod counters without per-pod work: every ready engine gets an equal share.

Routing is least-loaded over identical replicas, so each of the r x E engines serves
1/(r x E) of every second. Rather than add to every engine's counters each second, one
running "share" vector accumulates what a single engine has served since the fleet began;
an engine's counters are that vector minus its value when the engine (re)started. A
second of replay therefore costs the same for 1 pod or 64.

Pods get fresh names on scale-up (`demo-0`, `demo-1`, ... never reused), as a Deployment's
pods do, so each series is monotonic from its first scrape; scale-down removes the newest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from simulations.emulator.histogram import TTFT_BUCKETS_S, cumulative
from simulations.emulator.snapshot import SeriesSample

# Positions in the share vector.
PROMPT, GENERATION, STOPPED, ABORTED, TTFT_SUM, BUCKETS = range(6)
SHARE_SIZE = BUCKETS + len(TTFT_BUCKETS_S)


@dataclass
class _Pod:
    name: str
    born: list[float]  # the share vector when this pod's counters were last 0
    created_s: float


def pod_prefix(model_name: str) -> str:
    """A Kubernetes-style pod name prefix from a model name:
    `meta-llama/Llama-3.1-8B` -> `meta-llama-llama-3-1-8b`."""
    slug = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-")
    return slug or "vllm"


class PodLedger:
    def __init__(self, model_name: str, engines_per_replica: int) -> None:
        self._prefix = pod_prefix(model_name)
        self._engines = engines_per_replica
        self._share = [0.0] * SHARE_SIZE
        self._pods: list[_Pod] = []
        self._next_id = 0

    @property
    def ready(self) -> int:
        return len(self._pods)

    def resize(self, replicas: int, now_s: float) -> None:
        """New pods start at 0; scale-down removes the newest pods first."""
        while len(self._pods) < replicas:
            name = f"{self._prefix}-{self._next_id}"
            self._next_id += 1
            self._pods.append(_Pod(name, list(self._share), now_s))
        del self._pods[replicas:]

    def add(
        self,
        prompt: float,
        generation: float,
        stopped: float,
        aborted: float,
        ttft_s: float,
        bucket: int,
    ) -> None:
        """Spreads one second's fleet-wide amounts evenly over the ready engines."""
        if not self._pods:
            return
        share = 1.0 / (len(self._pods) * self._engines)
        vec = self._share
        vec[PROMPT] += prompt * share
        vec[GENERATION] += generation * share
        vec[STOPPED] += stopped * share
        vec[ABORTED] += aborted * share
        if stopped > 0:
            vec[TTFT_SUM] += stopped * ttft_s * share
            vec[BUCKETS + bucket] += stopped * share

    def restart(self, now_s: float) -> None:
        """Every engine restarts: its counters start from 0 again."""
        for pod in self._pods:
            pod.born = list(self._share)
            pod.created_s = now_s

    def samples(
        self, *, running: float, waiting: float, kv_cache_usage: float
    ) -> tuple[SeriesSample, ...]:
        """One sample per (pod, engine); fleet-wide gauges split evenly like the work."""
        engines = len(self._pods) * self._engines
        if not engines:
            return ()
        out = []
        for pod in self._pods:
            own = [now - born for now, born in zip(self._share, pod.born, strict=True)]
            buckets = cumulative(own[BUCKETS:])
            for engine in range(self._engines):
                out.append(
                    SeriesSample(
                        pod=pod.name,
                        engine=str(engine),
                        prompt_tokens=own[PROMPT],
                        generation_tokens=own[GENERATION],
                        requests_stopped=own[STOPPED],
                        requests_aborted=own[ABORTED],
                        requests_running=running / engines,
                        requests_waiting=waiting / engines,
                        kv_cache_usage=kv_cache_usage,
                        ttft_buckets=buckets,
                        ttft_sum_s=own[TTFT_SUM],
                        created_s=pod.created_s,
                    )
                )
        return tuple(out)
