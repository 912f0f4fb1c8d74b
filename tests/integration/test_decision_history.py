"""Prewarm's past answers read back from a real Prometheus after a restart.

Prometheus is back-filled (promtool) with what two Prewarm pods exported as
`prewarm_desired_replicas` before "now"; a fresh registry reading that Prometheus starts its
scale-down hold from the highest of those answers instead of from the replicas ready now.
"""

from __future__ import annotations

import time

from autoscaler.clock import ManualClock
from autoscaler.decision import PastAnswer
from autoscaler.metrics.prometheus_source import PrometheusSource
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.registry import ScalerRegistry
from tests.fakes import FakeMetricSource, make_profile, prompt_for_replicas
from tests.integration.prometheus_server import PrometheusFactory, Sample
from tests.scaler.scaler_helpers import steady, target

NOW_S = float(int(time.time()) // 60 * 60)  # whole minutes: the samples land on the steps


def exported(pod: str, replicas_by_age_s: dict[int, int], recommended: int) -> list[Sample]:
    """What one pod exported: its answers, and a forecast recommendation of `recommended`
    behind each (the reactive one below it)."""
    labels = {"scaled_object": "serving/chat", "model": "llama", "pod": pod}
    samples = []
    for age_s, replicas in replicas_by_age_s.items():
        t_s = NOW_S - age_s
        samples.append(Sample("prewarm_desired_replicas", labels, float(replicas), t_s))
        samples.append(Sample("prewarm_forecast_replicas", labels, float(recommended), t_s))
        samples.append(Sample("prewarm_reactive_replicas", labels, 1.0, t_s))
    return samples


class VllmFakeWithRealHistory(FakeMetricSource):
    """vLLM observations from a fake, Prewarm's own past answers from the real Prometheus."""

    def __init__(self, prometheus: PrometheusSource) -> None:
        super().__init__()
        self.prometheus = prometheus

    async def past_answers(
        self, scaled_object: str, start_s: float, end_s: float, step_s: float
    ) -> list[PastAnswer]:
        return await self.prometheus.past_answers(scaled_object, start_s, end_s, step_s)


async def test_a_restart_holds_the_answers_prometheus_kept(
    prometheus_factory: PrometheusFactory,
) -> None:
    # Pod a asked for 8 until a minute ago; pod b, older answers, 6; another ScaledObject 40.
    history = exported("a", {240: 6, 120: 8, 60: 8}, 8) + exported("b", {240: 6, 120: 6}, 6)
    history.append(
        Sample(
            "prewarm_desired_replicas",
            {"scaled_object": "serving/other", "model": "llama", "pod": "a"},
            40.0,
            NOW_S - 60,
        )
    )
    server = prometheus_factory(history=history)
    prometheus = PrometheusSource(server.url, timeout_s=5.0)
    try:
        answers = await prometheus.past_answers("serving/chat", NOW_S - 300, NOW_S, 60.0)
        by_time = {a.t_s: (a.replicas, a.recommended) for a in answers}
        # The highest pod at each step, its recommendation never above its answer.
        assert by_time[NOW_S - 240] == (6, 6) and by_time[NOW_S - 120] == (8, 8)
        assert by_time[NOW_S - 60] == (8, 8)
        assert 40 not in {r for r, _ in by_time.values()}  # its own ScaledObject only
        # A hold longer than one query's 11,000 points is read with a wider step, not refused.
        long = await prometheus.past_answers("serving/chat", NOW_S - 86_400, NOW_S, 1.0)
        assert long and long[-1].replicas == 8

        source = VllmFakeWithRealHistory(prometheus)
        profile = make_profile(
            model="llama",
            scaling={"scale_down_delay_s": 300.0},
            replicas={"min": 1, "max": 64},
        )
        registry = ScalerRegistry(
            ProfileBook({"default": profile}), lambda url: source, ManualClock(NOW_S)
        )
        # 5 ready (3 more starting), demand for 5: without the read-back the answer is 5.
        source.latest_by_model["llama"] = steady(prompt_for_replicas(5), ready=5)
        tracked = registry.track(target())
        await registry.backfill_history(tracked)
        decision = await registry.refresh_once(tracked)
        assert decision.replicas == 8, decision.reason
        await registry.close()
    finally:
        prometheus.close()
