"""What the queue says about demand: the work a waiting request brings, and the demand that
arrives beyond what is served.

vLLM's token counters count tokens *served*. They flatten while the fleet saturates and
overshoot while it drains a backlog, so demand is served load plus the queue's change:
a queue growing by 20 requests/s of 0.2 replica-seconds each is 4 replicas of load arriving
unserved; one shrinking that fast is 4 replicas of the served load that arrived earlier.
"""

from __future__ import annotations

from autoscaler.capacity import token_load_replicas
from autoscaler.observation import Observation
from autoscaler.profile import ModelProfile

# Completions per second below which served work / completions is too noisy to size a
# request (under 60 in a one-minute rate window, or none): the profile's typical request.
MIN_COMPLETIONS_PER_S = 1.0
# A fleet's mean request stays within this factor of the typical one either way; beyond it
# the ratio measures completion lag (long decodes still in flight), not request size.
REQUEST_WORK_RANGE = 8.0


def request_work(served: float, requests_per_s: float, profile: ModelProfile) -> float:
    """Replica-seconds of work one waiting request brings.

    Measured as served load / completions, which is 0/0 when nothing finishes and explodes
    when few do (the work of requests still decoding is counted, their completions not yet),
    exactly when a queue builds. So below `MIN_COMPLETIONS_PER_S` the profile's typical
    request is used, and the measurement is kept within `REQUEST_WORK_RANGE` of it.
    Worked number: 2,048 prompt / 8,000 + 256 output / 2,500 = 0.36 replica-seconds.
    """
    typical = token_load_replicas(
        profile.typical_request.prompt_tokens,
        profile.typical_request.output_tokens,
        profile.capacity,
    )
    if requests_per_s < MIN_COMPLETIONS_PER_S:
        return typical
    return min(
        max(served / requests_per_s, typical / REQUEST_WORK_RANGE), typical * REQUEST_WORK_RANGE
    )


def served_load(obs: Observation, profile: ModelProfile) -> float:
    """Replicas of load the fleet served (token work at 100 % of capacity)."""
    return token_load_replicas(
        obs.prompt_tokens_per_s, obs.generation_tokens_per_s, profile.capacity
    )


def queue_change_load(
    latest: Observation, previous: Observation | None, per_request: float, min_span_s: float
) -> float:
    """Replicas of load by which the queue grew (> 0) or shrank (< 0) since `previous`;
    0 without an earlier sample.

    The change is read over at least `min_span_s` (the decision interval): the queue gauge
    moves only when Prometheus scrapes it, so two samples 0.5 s apart (the first refresh
    after a start and the next at the target's phase; a back-fill's last point and the
    first live one) that straddle a scrape would put 15 s of growth over 0.5 s, 30x it.
    """
    if previous is None or latest.t_s <= previous.t_s:
        return 0.0
    change = latest.requests_waiting - previous.requests_waiting
    return change * per_request / max(latest.t_s - previous.t_s, min_span_s)


def arrived_token_rates(
    latest: Observation, previous: Observation | None, profile: ModelProfile
) -> tuple[float, float]:
    """(prompt, generation) tokens/s that arrived, as the forecasters should see demand:
    the served rates scaled by (served + queue change) / served.

    Worked number: 6.0 replicas of load served while the queue shrinks by 10 requests/s of
    0.2 replica-seconds: 2.0 replicas of it drained earlier arrivals, so the arrivals were
    4.0 replicas, 2/3 of the served token rates. Without this, the forecaster learns a
    burst's backlog drain as a second, later burst and holds capacity for it.
    """
    served = served_load(latest, profile)
    if served <= 0 or latest.ready_replicas == 0:
        return latest.prompt_tokens_per_s, latest.generation_tokens_per_s
    per_request = request_work(served, latest.requests_per_s, profile)
    change = queue_change_load(latest, previous, per_request, profile.decision_interval_s)
    share = max(0.0, served + change) / served
    return latest.prompt_tokens_per_s * share, latest.generation_tokens_per_s * share
