"""From results to frontiers, references and sweep.json, on constructed numbers (a fake
executor answers instead of the simulator)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from simulations.sweep.cache import ResultCache
from simulations.sweep.plot import plot_frontier
from simulations.sweep.report import frontier_table, needed_table, sweep_json
from simulations.sweep.results import collect
from simulations.sweep.run import run_sweep
from simulations.sweep.tasks import PointResult, SweepTask
from tests.simulations.sweep_helpers import small_plan, write_rate_trace

# (family, target_utilisation) -> (SLO attainment, GPU-hours); 0.8 is the profile's value.
NUMBERS = {
    ("predictive", 0.6): (0.995, 130.0),
    ("predictive", 0.8): (0.990, 100.0),
    ("reactive-tokens", 0.6): (0.992, 140.0),
    ("reactive-tokens", 0.7): (0.985, 110.0),
    ("reactive-tokens", 0.8): (0.980, 95.0),
    ("reactive-tokens", 0.9): (0.975, 120.0),  # dominated by 0.8: dearer and worse
    ("oracle", 0.6): (0.999, 120.0),
    ("oracle", 0.8): (0.998, 80.0),
}


class FakeExecutor:
    def run(self, tasks: Sequence[SweepTask]) -> Iterator[tuple[SweepTask, PointResult]]:
        for task in tasks:
            slo, gpu = NUMBERS[(task.family, task.profile["target_utilisation"])]
            metrics = {
                "slo_attainment": slo,
                "ttft_p50_s": 0.3,
                "ttft_p95_s": 0.9,
                "ttft_p99_s": 1.5,
                "gpu_hours": gpu,
                "mean_replicas": gpu / 4,
                "peak_replicas": int(gpu / 2),
                "replica_changes": 10,
                "dropped_requests": 0,
            }
            yield task, PointResult(metrics, requests=1000)


@pytest.fixture()
def outcome(tmp_path: Path):  # type: ignore[no-untyped-def]
    trace = write_rate_trace(tmp_path, hours=2.0)
    sets = ["target_utilisation=0.6,0.7,0.8,0.9"]
    plan = small_plan(trace, sets)
    # predictive and oracle only at 0.6 and 0.8 in NUMBERS: drop their other points.
    keep = {k for k in NUMBERS}
    tasks = tuple(t for t in plan.tasks if (t.family, t.profile["target_utilisation"]) in keep)
    points = tuple(p for p in plan.points if any(t.key == p.key for t in tasks))
    plan = type(plan)(**{**plan.__dict__, "tasks": tasks, "points": points})
    return run_sweep(plan, FakeExecutor(), ResultCache(tmp_path / "cache"))


def test_frontiers_references_and_needed(outcome) -> None:  # type: ignore[no-untyped-def]
    (results,) = collect(outcome)
    front = results.fronts["reactive-tokens"]
    assert [r.gpu_hours for r in front] == [95.0, 110.0, 140.0]
    assert results.oracle is not None and results.oracle.gpu_hours == 80.0
    assert results.reference is not None and results.reference.slo_attainment == 0.990
    # reactive-tokens reaches 99.0 % between 98.5 % (110) and 99.2 % (140): 5/7 of the way.
    need = results.needed["reactive-tokens"]
    assert need.how == "interpolated"
    assert need.gpu_hours == pytest.approx(110 + 30 * 5 / 7)
    assert results.needed["oracle"].how == "at most"
    assert "predictive" not in results.needed


def test_sweep_json_marks_frontier_profile_and_oracle_ratio(outcome) -> None:  # type: ignore[no-untyped-def]
    per_trace = collect(outcome)
    data = sweep_json(outcome, per_trace)
    points = {(p["family"], p["overrides"].get("target_utilisation")): p for p in data["points"]}
    dominated = points[("reactive-tokens", 0.9)]
    assert dominated["on_frontier"] is False and dominated["gpu_hours_vs_oracle"] == 1.5
    assert points[("reactive-tokens", 0.8)]["at_profile"] is True
    assert points[("oracle", 0.8)]["gpu_hours_vs_oracle"] == 1.0
    needed = data["traces"][0]["needed_for_predictive_slo"]["reactive-tokens"]
    assert needed["how"] == "interpolated"
    assert needed["vs_predictive"] == pytest.approx((110 + 30 * 5 / 7) / 100, rel=1e-3)
    assert data["replays"]["distinct"] == len(outcome.plan.tasks)


def test_tables_and_plot_render(outcome, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console

    (results,) = collect(outcome)
    console = Console(width=80, record=True)
    console.print(frontier_table(results, "reactive-tokens", ["target_utilisation"]))
    console.print(frontier_table(results, "oracle", ["target_utilisation"]))
    table = needed_table(results)
    assert table is not None
    console.print(table)
    text = console.export_text()
    assert "off frontier" not in text  # the profile's point of each family is on its frontier
    assert "oracle ref." in text
    assert "131.4 GPU-h (1.31x)" in text
    assert "<= 80.0 GPU-h (0.80x)" in text
    png = plot_frontier(collect(outcome), tmp_path / "frontier.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
