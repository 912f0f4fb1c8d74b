"""A registry over a fake source with a manual clock, for scaler tests."""

from __future__ import annotations

from autoscaler.clock import ManualClock
from autoscaler.decision import Decision
from autoscaler.engine import ModelEngine
from autoscaler.observation import Observation
from autoscaler.profile import ModelProfile
from autoscaler.scaler.metadata import ScalerTarget, parse_metadata
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.registry import ScalerRegistry
from tests.fakes import FailFn, FakeMetricSource, make_profile

START_S = 1_700_000_000.0


def steady(prompt_tokens_per_s: float, ready: int = 4) -> Observation:
    return Observation(
        t_s=START_S,
        prompt_tokens_per_s=prompt_tokens_per_s,
        generation_tokens_per_s=0.0,
        requests_running=10,
        requests_waiting=0,
        kv_cache_usage=0.1,
        ready_replicas=ready,
        requests_per_s=5.0,
    )


def make_registry(
    source: FakeMetricSource, **profile_overrides: object
) -> tuple[ScalerRegistry, ManualClock]:
    clock = ManualClock(START_S)
    profile = make_profile(**profile_overrides)
    book = ProfileBook({"default": profile})
    registry = ScalerRegistry(book, lambda url: source, clock, backfill=False)
    return registry, clock


def target(model: str = "llama", name: str = "chat", namespace: str = "serving") -> ScalerTarget:
    return parse_metadata(name, namespace, {"model": model})


class FailingEngine(ModelEngine):
    """A real engine whose `decide` first asks `fail` and raises what it returns: a
    forecaster's bug, or memory a profile cannot have, surfacing in the refresh."""

    def __init__(self, profile: ModelProfile, *, fail: FailFn) -> None:
        super().__init__(profile)
        self.fail = fail

    def decide(self, now_s: float) -> Decision:
        if (exc := self.fail()) is not None:
            raise exc
        return super().decide(now_s)
