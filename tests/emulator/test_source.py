"""EmulatorSource: the MetricSource `prewarm serve --demo` reads."""

from __future__ import annotations

import inspect
from typing import get_type_hints

import pytest

from autoscaler.metrics.source import MetricSource, ModelQuery
from simulations.emulator import EmulatorSource
from tests.emulator.helpers import START_S, constant_trace, fleet


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


def protocol_mismatches(cls: type, protocol: type) -> list[str]:
    """Where `cls` departs from `protocol`'s methods: one missing, sync where the protocol's
    is async, other parameters (names, kinds, defaults) or other types. At runtime, because
    mypy does not check tests/: a `typed: MetricSource = ...` line here would check nothing."""
    members = [name for name in vars(protocol) if not name.startswith("_")]
    assert members, f"{protocol.__name__} declares no methods"
    found = []
    for name in members:
        want, got = getattr(protocol, name), getattr(cls, name, None)
        if got is None:
            found.append(f"{name}: missing")
            continue
        if inspect.iscoroutinefunction(got) != inspect.iscoroutinefunction(want):
            found.append(f"{name}: async differs")
        params = [
            [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]
            for f in (want, got)
        ]
        if params[0] != params[1]:
            found.append(f"{name}: parameters {params[1]}, protocol {params[0]}")
        if get_type_hints(got) != get_type_hints(want):
            found.append(f"{name}: types {get_type_hints(got)}, protocol {get_type_hints(want)}")
    return found


def test_it_satisfies_the_protocol() -> None:
    assert protocol_mismatches(EmulatorSource, MetricSource) == []
