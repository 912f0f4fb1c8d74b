"""Which answer a ScaledObject gets when several Prewarm replicas decide it.

KEDA reaches whichever replica its connection lands on, and each replica decides on its own
state: its window, its fitted forecasters, its conformal errors and its scale-down hold. Two
replicas started at different moments hold different state, so they can disagree, and the
HPA would then see two desired replica counts. A replica restarted after hours, back-filled
from Prometheus, still lacks the errors its forecasters made and the decisions it held.
Making every replica's state a pure function of Prometheus history would forbid any state
built from the decisions themselves; instead the replicas agree on whose decision counts.

The rule: for each ScaledObject, the decision of the replica that has tracked it longest
(the smallest `tracked_since_s`, ties broken by instance name) is every replica's answer,
among the valid decisions if any is valid: a senior whose data went stale (its Prometheus
unreachable, say) yields to a junior that still has fresh data, rather than take KEDA to its
fallback for both. Decisions a replica has not renewed lately are not candidates at all
(the registry filters them), so a peer whose deciding is stuck cannot hold the answer.
Every replica applies the same rule to the same candidates, so they agree as soon as they
have heard from each other, which the exchange does at least once per decision interval.
The senior replica is also the best informed: the longest history, the most calibrated
errors, the hold it decided itself. A restarted replica is junior to the one that kept
running, so a restart changes nothing KEDA sees; when the senior goes away, the next oldest
takes over with a hold that already includes the senior's answers (`ModelEngine.follow`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from autoscaler.decision import Decision


@dataclass(frozen=True, slots=True)
class PeerDecision:
    """One replica's own decision for one ScaledObject, as replicas exchange them."""

    instance: str  # the replica that decided (its pod name, or host:port)
    tracked_since_s: float  # when that replica started tracking the ScaledObject
    t_s: float  # when it decided
    replicas: int
    valid: bool
    reason: str
    forecast_replicas: int = 0  # what IsActive reads besides `replicas`
    # The deciding replica's scale-down hold: its recent recommendations as far as they were
    # honoured, (t_s, replicas). A replica that follows takes it over as it is, so if the
    # decider goes away it carries on exactly where that one was (not from the held answers,
    # which would hold a peak for up to twice the delay).
    hold: tuple[tuple[float, int], ...] = ()

    @property
    def seniority(self) -> tuple[float, str]:
        """Smaller is more senior."""
        return (self.tracked_since_s, self.instance)


def senior(candidates: Iterable[PeerDecision]) -> PeerDecision | None:
    """The decision every replica answers with: the most senior replica's valid one, or the
    most senior replica's when none is valid."""
    return min(candidates, key=lambda d: (not d.valid, d.seniority), default=None)


def as_peer_decision(decision: Decision, instance: str, tracked_since_s: float) -> PeerDecision:
    return PeerDecision(
        instance=instance,
        tracked_since_s=tracked_since_s,
        t_s=decision.t_s,
        replicas=decision.replicas,
        valid=decision.valid,
        reason=decision.reason,
        forecast_replicas=decision.forecast_replicas,
    )


def agreed(
    own: Decision | None,
    instance: str,
    tracked_since_s: float,
    others: Iterable[PeerDecision],
) -> Decision | None:
    """The decision to answer with: this replica's own, unless a more senior replica's."""
    candidates = list(others)
    if own is not None:
        candidates.append(as_peer_decision(own, instance, tracked_since_s))
    chosen = senior(candidates)
    if chosen is None or chosen.instance == instance:
        return own
    return Decision(
        t_s=chosen.t_s,
        replicas=chosen.replicas,
        reason=f"{chosen.reason} [decided by the senior replica {chosen.instance}]",
        valid=chosen.valid,
        forecast_replicas=chosen.forecast_replicas,
        reactive_replicas=own.reactive_replicas if own else 0,
        data_age_s=own.data_age_s if own else 0.0,
    )
