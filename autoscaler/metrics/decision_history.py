"""What Prewarm itself answered for a ScaledObject in the recent past, read back after a restart.

Every replica exports its answer as `prewarm_desired_replicas{scaled_object, model}` on
/metrics, with the forecast and reactive recommendations behind it, and the ServiceMonitor
has Prometheus scrape them. A restarted scaler reads them back over its scale-down delay and
starts its hold from them: without them it would know only the replicas ready now, and could
shed a fleet it had just asked for (pods still starting) or step down past its rate limit.

The hold is made of recommendations, not answers: each answer is already the peak held over
the delay before it, so holding answers would hold a peak for up to twice the delay. The
recommendation as far as it was honoured is min(max(forecast, reactive), answer).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from autoscaler.decision import PastAnswer
from autoscaler.metrics.promql import quote

DESIRED = "prewarm_desired_replicas"
FORECAST = "prewarm_forecast_replicas"
REACTIVE = "prewarm_reactive_replicas"


@runtime_checkable
class DecisionHistory(Protocol):
    """A source that can also read back Prewarm's own past answers (Prometheus can)."""

    async def past_answers(
        self, scaled_object: str, start_s: float, end_s: float, step_s: float
    ) -> list[PastAnswer]:
        """Answers every `step_s` in [start_s, end_s], oldest first, the highest any Prewarm
        replica exported at each step; steps without an answer are left out."""
        ...


def past_answer_queries(scaled_object: str) -> dict[str, str]:
    """The highest of each series any replica exported for the ScaledObject
    ("<namespace>/<name>"), by signal: answer, forecast and reactive recommendations."""
    matcher = f"{{scaled_object={quote(scaled_object)}}}"
    return {
        "answer": f"max({DESIRED}{matcher})",
        "forecast": f"max({FORECAST}{matcher})",
        "reactive": f"max({REACTIVE}{matcher})",
    }


def past_answer(t_s: float, signals: dict[str, float]) -> PastAnswer | None:
    """One step's answer; None when it has no answer (or one that is not a replica count)."""
    answer = signals.get("answer")
    if answer is None or not 0 <= answer < 1e9:
        return None
    recommended = max(signals.get("forecast", 0.0), signals.get("reactive", 0.0))
    if not 0 <= recommended < 1e9:
        recommended = answer
    return PastAnswer(t_s, int(answer), int(min(recommended, answer)))
