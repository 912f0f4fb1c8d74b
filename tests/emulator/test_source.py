"""EmulatorSource: the MetricSource `prewarm serve --demo` reads."""

from __future__ import annotations

import pytest

from autoscaler.metrics.source import MetricSource, ModelQuery
from simulations.emulator import EmulatorSource
from tests.emulator.helpers import START_S, constant_trace, fleet
from tests.protocols import protocol_mismatches


def source() -> tuple[EmulatorSource, object]:
    emulated, clock = fleet(constant_trace(), replicas=4, model_name="llama")
    clock.advance(120.0)
    return EmulatorSource(emulated), emulated


async def test_latest_is_the_fleets_observation_for_its_model() -> None:
    src, _ = source()
    obs = await src.latest(ModelQuery("llama"), START_S + 120.0)
    assert obs is not None
    assert obs.t_s == START_S + 120.0
    assert obs.prompt_tokens_per_s == pytest.approx(20_000)
    assert obs.ready_replicas == 4


@pytest.mark.parametrize(
    "query",
    [ModelQuery("other"), ModelQuery("Llama"), ModelQuery("other", "ns")],
    ids=["other-model", "case-differs", "other-model-namespaced"],
)
async def test_an_unknown_model_has_no_data(query: ModelQuery) -> None:
    src, _ = source()
    assert await src.latest(query, START_S + 120.0) is None
    assert await src.history(query, START_S, START_S + 120.0, 15.0) == []


async def test_the_namespace_is_ignored() -> None:
    src, _ = source()
    assert await src.latest(ModelQuery("llama", "prod"), START_S + 120.0) is not None


async def test_history_backfills_offered_demand() -> None:
    src, _ = source()
    past = await src.history(ModelQuery("llama"), START_S, START_S + 120.0, 15.0)
    assert len(past) == 9
    assert past[-1].prompt_tokens_per_s == pytest.approx(20_000)


def test_it_satisfies_the_protocol() -> None:
    assert protocol_mismatches(EmulatorSource, MetricSource) == []
