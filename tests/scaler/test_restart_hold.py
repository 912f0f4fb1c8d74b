"""A restarted scaler starts its scale-down hold from what it answered before the restart.

Before: a restart knew only the replicas ready now. Asked for 8, with 5 ready (3 starting)
and demand for 5, it answered 5 at once: the HPA shed the 3 pods still starting, and the
step 8 -> 5 skipped the rate limit a running scaler would have applied. Now the answers read
back from Prometheus (`prewarm_desired_replicas`, decision_history.py) start the hold.
The read-back against a real Prometheus is in tests/integration/test_decision_history.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from autoscaler.decision import PastAnswer
from autoscaler.engine import ModelEngine
from autoscaler.metrics.decision_history import DecisionHistory
from tests.fakes import FakeMetricSource, make_profile, prompt_for_replicas
from tests.scaler.scaler_helpers import START_S, make_registry, steady, target

PROFILE = {
    "scaling": {"scale_down_delay_s": 300.0, "max_down_fraction": 0.5},
    "replicas": {"min": 1, "max": 64},
    "forecast": {"kind": "last-value", "bucket_s": 15.0, "history_s": 3600.0},
}


class SourceWithAnswers(FakeMetricSource):
    """A fake source that also keeps Prewarm's past answers, as Prometheus does."""

    def __init__(self, answers: list[PastAnswer], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answers = answers
        self.asked: list[tuple[str, float, float, float]] = []

    async def past_answers(
        self, scaled_object: str, start_s: float, end_s: float, step_s: float
    ) -> list[PastAnswer]:
        self.asked.append((scaled_object, start_s, end_s, step_s))
        return [a for a in self.answers if start_s <= a.t_s <= end_s]


def answered(age_s: float, replicas: int, recommended: int | None = None) -> PastAnswer:
    return PastAnswer(START_S - age_s, replicas, replicas if recommended is None else recommended)


def test_the_engine_holds_what_it_answered_before_the_restart() -> None:
    engine = ModelEngine(make_profile(**PROFILE))
    assert engine.restore_hold([answered(400, 12), answered(200, 8), answered(30, 8)], START_S)
    engine.observe(steady(prompt_for_replicas(5), ready=5))
    decision = engine.decide(START_S)
    assert decision.replicas == 8 and "scale-down delay holds 8" in decision.reason
    # The answer 400 s ago was past the 300 s delay: it holds nothing.
    assert max(r for _, r in engine.state.recent) == 8
    # Past every hold (the last, this decision's own at START_S, ends at START_S + 300),
    # demand for 1: down by the rate limit from 8 (at most half), not to 2 at once.
    for t_s in range(30, 302, 15):
        engine.observe(replace(steady(prompt_for_replicas(1), ready=8), t_s=START_S + t_s))
    later = engine.decide(START_S + 301)
    assert later.replicas == 4, later.reason


def test_answers_older_than_the_delay_restore_nothing() -> None:
    engine = ModelEngine(make_profile(**PROFILE))
    assert not engine.restore_hold([answered(301, 12)], START_S)
    engine.observe(steady(prompt_for_replicas(5), ready=5))
    assert engine.decide(START_S).replicas == 5


async def test_a_restarted_registry_reads_its_past_answers_and_holds_them() -> None:
    source = SourceWithAnswers([answered(60, 8), answered(15, 8)])
    assert isinstance(source, DecisionHistory)
    registry, _ = make_registry(source, **PROFILE)
    # 5 ready (3 more starting), demand for 5: a restart that knew only this answered 5.
    source.latest_by_model["llama"] = steady(prompt_for_replicas(5), ready=5)
    tracked = registry.track(target())
    await registry.backfill_history(tracked)
    (asked,) = source.asked
    assert asked[0] == "serving/chat" and asked[2] - asked[1] == 300.0
    decision = await registry.refresh_once(tracked)
    assert decision.replicas == 8, decision.reason


def test_the_hold_is_made_of_recommendations_not_of_held_answers() -> None:
    """An answer of 8 held from a recommendation of 8 made 250 s before: the hold ends with
    that recommendation's delay, not a whole delay after the answer."""
    engine = ModelEngine(make_profile(**PROFILE))
    engine.restore_hold([answered(250, 8), answered(30, 8, recommended=2)], START_S)
    for t_s in range(0, 62, 15):
        engine.observe(replace(steady(prompt_for_replicas(2), ready=8), t_s=START_S + t_s))
    assert engine.decide(START_S).replicas == 8  # held by the recommendation 250 s ago
    later = engine.decide(START_S + 61)  # past it: down by the rate limit (half of 8)
    assert later.replicas == 4, later.reason


def test_a_fleet_larger_than_the_last_answer_is_not_cut_at_once() -> None:
    """KEDA's fallback ran 20 while Prewarm answered UNAVAILABLE (and exported its held 8):
    after the restart the 20 ready replicas are the fleet, and it comes down by the rate
    limit, not to 8 in one step."""
    engine = ModelEngine(make_profile(**PROFILE))
    engine.restore_hold([answered(60, 8)], START_S)
    engine.observe(steady(prompt_for_replicas(8), ready=20))
    decision = engine.decide(START_S)
    assert decision.replicas >= 10, decision.reason  # at most half of 20 shed


async def test_without_past_answers_a_restart_learns_from_the_ready_replicas() -> None:
    source = SourceWithAnswers([])
    registry, _ = make_registry(source, **PROFILE)
    source.latest_by_model["llama"] = steady(prompt_for_replicas(5), ready=5)
    tracked = registry.track(target())
    await registry.backfill_history(tracked)
    assert (await registry.refresh_once(tracked)).replicas == 5
