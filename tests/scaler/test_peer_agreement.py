"""Replicas that exchange decisions answer the most senior replica's (peers/agreement.py).

Timeline tests on a ManualClock with a scripted view of the other replicas; the exchange
over real HTTP between real `prewarm serve` processes is in
tests/integration/test_two_replicas.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from autoscaler.decision import Decision
from autoscaler.scaler.peers.agreement import PeerDecision, agreed, senior
from autoscaler.scaler.peers.report import PeerReport, TargetKey, target_key
from tests.fakes import FakeMetricSource, prompt_for_replicas
from tests.scaler.scaler_helpers import START_S, make_registry, steady, target


def peer(instance: str, since_s: float, replicas: int, valid: bool = True) -> PeerDecision:
    """A peer's decision; its hold is the recommendation it honoured 30 s ago."""
    return PeerDecision(
        instance, since_s, START_S, replicas, valid, f"{instance} decided",
        hold=((START_S - 30, replicas),),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([peer("b", 5.0, 3), peer("a", 9.0, 4)], "b"),
        ([peer("b", 5.0, 3), peer("a", 5.0, 4)], "a"),  # a tie: the instance name decides
        ([], None),
    ],
    ids=["longest-tracking", "tie-by-name", "nobody"],
)
def test_the_senior_is_whoever_tracked_longest(
    candidates: list[PeerDecision], expected: str | None
) -> None:
    chosen = senior(candidates)
    assert (chosen.instance if chosen else None) == expected
    # The rule does not depend on the order heard: every replica picks the same one.
    chosen_reversed = senior(list(reversed(candidates)))
    assert (chosen_reversed.instance if chosen_reversed else None) == expected


def test_agreed_keeps_its_own_when_it_is_the_senior() -> None:
    own = Decision(START_S, 5, "own")
    assert agreed(own, "me", 1.0, [peer("other", 2.0, 9)]) is own
    taken = agreed(own, "me", 3.0, [peer("other", 2.0, 9)])
    assert taken is not None and (taken.replicas, taken.valid) == (9, True)
    assert "senior replica other" in taken.reason
    # A senior whose data went stale yields to a junior with fresh data...
    assert agreed(own, "me", 3.0, [peer("other", 2.0, 9, valid=False)]) is own
    # ...but when every decision is invalid, the senior's still counts (both say UNAVAILABLE).
    stale_own = Decision(START_S, 5, "own, stale", valid=False)
    taken = agreed(stale_own, "me", 3.0, [peer("other", 2.0, 9, valid=False)])
    assert taken is not None and (taken.replicas, taken.valid) == (9, False)
    # Before its own first decision, a junior replica answers the senior's at once.
    early = agreed(None, "me", 3.0, [peer("other", 2.0, 9)])
    assert early is not None and early.replicas == 9


@dataclass
class ScriptedPeers:
    """The other replicas as the registry sees them, set by the test."""

    instance: str = "me:8080"
    heard: dict[TargetKey, list[PeerDecision]] = field(default_factory=dict)

    def candidates(self, key: TargetKey) -> list[PeerDecision]:
        return list(self.heard.get(key, []))


async def test_a_restarted_replica_answers_the_senior_and_holds_it_when_the_senior_goes() -> None:
    source = FakeMetricSource()
    registry, clock = make_registry(
        source, scaling={"scale_down_delay_s": 300.0}, replicas={"min": 1, "max": 64}
    )
    peers = ScriptedPeers()
    registry.peers = peers
    key = target_key(target())
    # The senior replica has tracked it for an hour and asks for 9.
    peers.heard[key] = [peer("senior:8080", START_S - 3600, 9)]
    tracked = registry.track(target())
    assert tracked.decision is not None and tracked.decision.replicas == 9  # before any refresh
    source.latest_by_model["llama"] = steady(prompt_for_replicas(5), ready=9)
    decision = await registry.refresh_once(tracked)
    assert decision.replicas == 9 and "senior replica senior:8080" in decision.reason
    # Its own answer would be 5 from its data, but it follows the senior's 9 into its hold.
    own = tracked.own
    assert own is not None and own.reactive_replicas == 5 and own.replicas == 9
    assert "scale-down delay holds 9" in own.reason and "senior" not in own.reason
    report = registry.own_report()  # its own decision is what it tells the others
    assert [d.reason for d in report.decisions] == [own.reason]
    assert report.instance == "me:8080" and report.decisions[0].tracked_since_s == START_S

    # The senior goes away: this replica answers its own, from the senior's 9, which its
    # scale-down delay holds for 300 s instead of dropping at once.
    peers.heard.clear()
    clock.advance(30)
    registry.republish()
    decision = await registry.refresh_once(tracked)
    assert decision.replicas == 9 and "scale-down delay holds 9" in decision.reason
    clock.advance(301)
    assert (await registry.refresh_once(tracked)).replicas < 9


async def test_a_peer_whose_decisions_stopped_is_not_followed() -> None:
    source = FakeMetricSource()
    registry, clock = make_registry(source)
    peers = ScriptedPeers()
    registry.peers = peers
    # The senior's last decision is older than three decision intervals and the hold bound:
    # its HTTP face answers, but its deciding is stuck.
    stuck = PeerDecision("senior:8080", START_S - 3600, START_S - 1000, 30, True, "stuck")
    peers.heard[target_key(target())] = [stuck]
    tracked = registry.track(target())
    source.latest_by_model["llama"] = steady(prompt_for_replicas(5), ready=5)
    decision = await registry.refresh_once(tracked)
    assert decision is tracked.own and decision.replicas == 5


async def test_a_senior_replica_keeps_its_own_answer() -> None:
    source = FakeMetricSource()
    registry, _ = make_registry(source)
    peers = ScriptedPeers()
    registry.peers = peers
    tracked = registry.track(target())
    peers.heard[target_key(target())] = [peer("junior:8080", START_S + 60, 30)]
    source.latest_by_model["llama"] = steady(prompt_for_replicas(5), ready=5)
    decision = await registry.refresh_once(tracked)
    assert decision is tracked.own and decision.replicas == 5


async def test_a_change_heard_from_the_senior_is_answered_without_waiting_for_a_refresh() -> None:
    source = FakeMetricSource()
    registry, _ = make_registry(source)
    peers = ScriptedPeers()
    registry.peers = peers
    key = target_key(target())
    peers.heard[key] = [peer("senior:8080", START_S - 60, 4)]
    tracked = registry.track(target())
    source.latest_by_model["llama"] = steady(prompt_for_replicas(4), ready=4)
    await registry.refresh_once(tracked)
    peers.heard[key] = [peer("senior:8080", START_S - 60, 7)]
    registry.republish()
    assert tracked.decision is not None and tracked.decision.replicas == 7


def test_reports_round_trip_as_json() -> None:
    decisions = [
        {
            "target": list(target_key(target())),
            "tracked_since_s": 1.5,
            "t_s": 2.5,
            "replicas": 3,
            "valid": True,
            "reason": "r",
            "forecast_replicas": 4,
        }
    ]
    report = PeerReport.model_validate({"instance": "x:1", "decisions": decisions})
    again = PeerReport.model_validate_json(report.model_dump_json())
    (decision,) = again.by_target().values()
    assert (decision.instance, decision.replicas, decision.forecast_replicas) == ("x:1", 3, 4)
    with pytest.raises(ValueError, match="replicas"):
        PeerReport.model_validate(
            {"instance": "x:1", "decisions": [{**decisions[0], "replicas": -1}]}
        )
