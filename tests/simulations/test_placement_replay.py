"""`simulate --inventory`: replicas placed on an inventory, new nodes in the cold start, and a
shortage as replicas that never start (and an SLO cost)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scheduler.demand import ReplicaNeed
from scheduler.inventory import inventory_from_dict
from simulations.fleet.offered_load import OfferedLoad
from simulations.fleet.physics import FleetPhysics
from simulations.fleet.placed_replicas import PlacedReplicaSet
from simulations.fleet.placement import Placer, SimPlacement
from simulations.fleet.replay import replay
from simulations.report import build_summary, write_report
from simulations.report.table import placement_table
from simulations.runner import simulate
from tests.simulations.fleet_helpers import FixedPolicy, constant_trace, profile
from tests.simulations.test_cli_simulate import prewarm, write_azure

H100 = "H100-80GB"


def _inventory(nodes: int = 1, available: int = 0, gpus: int = 8) -> dict[str, object]:
    return {
        "nodes": [
            {
                "name": f"n{k}",
                "zone": "z1",
                "instance_type": "p5.48xlarge",
                "gpus": [{"model": H100} for _ in range(gpus)],
            }
            for k in range(nodes)
        ],
        "instance_types": [
            {
                "name": "p5.48xlarge",
                "zone": "z1",
                "gpu_model": H100,
                "gpus": 8,
                "price_per_hour": 98.3,
                "available": available,
            }
        ],
    }


def _placement(need: dict[str, object], **inventory: int) -> SimPlacement:
    return SimPlacement(inventory_from_dict(_inventory(**inventory)), ReplicaNeed(**need))


def _fleet(placement: SimPlacement, initial: int = 0, provision_s: float = 120.0):
    return PlacedReplicaSet(
        initial_ready=initial,
        cold_start_s=300.0,
        jitter=0.0,
        rng=np.random.default_rng(0),
        placer=Placer(placement, provision_s),
    )


def test_the_docstrings_worked_number_existing_then_new_node_then_none() -> None:
    # One idle 8-GPU node, one more available, 4 GPUs a replica: 2 + 2 placed, 1 left out.
    fleet = _fleet(_placement({"gpus_per_replica": 4}, available=1))
    assert fleet.scale_to(5, now_s=10.0)
    assert (fleet.ready, fleet.requested, fleet.unplaced) == (0, 4, 1)
    fleet.advance_to(309.9)
    assert fleet.ready == 0
    fleet.advance_to(310.0)  # the two on the existing node: the plain cold start
    assert fleet.ready == 2
    fleet.advance_to(429.9)
    assert fleet.ready == 2
    fleet.advance_to(430.0)  # the two on the new node: 120 s of provisioning first
    assert fleet.ready == 4
    totals = fleet.totals()
    assert (totals.nodes_provisioned, totals.replicas_waited_for_nodes) == (1, 2)
    assert totals.replicas_never_started == 1  # still pending


def test_scale_down_releases_pending_first_then_the_highest_index() -> None:
    fleet = _fleet(_placement({"gpus_per_replica": 4}, available=1))
    fleet.scale_to(5, now_s=0.0)
    fleet.advance_to(500.0)
    assert (fleet.ready, fleet.unplaced) == (4, 1)
    fleet.scale_to(3, now_s=500.0)  # the pending one, then the newest placed
    assert (fleet.ready, fleet.requested, fleet.unplaced) == (3, 3, 0)
    assert fleet.totals().replicas_never_started == 1
    # The freed slot is on the provisioned node, which stays: no second provisioning wait.
    fleet.scale_to(4, now_s=600.0)
    assert (fleet.requested, fleet.unplaced) == (4, 0)
    fleet.advance_to(900.0)
    assert fleet.ready == 4
    assert fleet.totals().nodes_provisioned == 1


def test_cancelling_a_start_takes_it_out_of_the_starting_list() -> None:
    fleet = _fleet(_placement({"gpus_per_replica": 2}), initial=1)
    assert (fleet.ready, fleet.requested) == (1, 1)  # the warm fleet serves at t = 0
    fleet.scale_to(3, now_s=0.0)
    fleet.scale_to(2, now_s=100.0)
    fleet.advance_to(300.0)
    assert (fleet.ready, fleet.requested) == (2, 2)
    fleet.scale_to(0, now_s=400.0)
    assert (fleet.ready, fleet.requested, fleet.unplaced) == (0, 0, 0)
    fleet.scale_to(4, now_s=500.0)  # every GPU is free again
    assert (fleet.requested, fleet.unplaced) == (4, 0)


def test_mig_slices_fill_a_gpu_and_come_back_when_released() -> None:
    # One H100 holds two 3g.40gb instances; a third replica finds no room.
    placement = _placement({"mig_profile": "3g.40gb"}, gpus=1)
    placer = Placer(placement, 120.0)
    first = placer.place(3, 0.0)
    assert len(first) == 2
    assert sorted(s[3] for p in first for s in p.slots) == [0, 4]
    placer.release(first[1].slots)
    again = placer.place(2, 10.0)
    assert len(again) == 1 and again[0].slots == first[1].slots


def test_mig_slices_on_a_provisioned_node_wait_for_it() -> None:
    placement = _placement({"mig_profile": "3g.40gb"}, nodes=0, available=1)
    placer = Placer(placement, 90.0)
    placed = placer.place(16, 50.0)
    assert len(placed) == 16  # 8 GPUs x 2 on the one new node
    assert {p.node_ready_s for p in placed} == {140.0}
    slots = [s for p in placed for s in p.slots]
    assert len(set(slots)) == 16 and {s[0] for s in slots} == {"sim-p5.48xlarge-z1-0"}
    assert placer.place(1, 60.0) == [] and placer.nodes_provisioned == 1


def test_what_the_file_shows_in_use_stays_and_idle_slices_are_reused() -> None:
    data = _inventory(gpus=1)
    data["nodes"][0]["gpus"][0]["mig"] = [  # type: ignore[index]
        {"profile": "3g.40gb", "start": 0, "in_use": True, "model": "other"},
        {"profile": "3g.40gb", "start": 4, "in_use": False},
    ]
    placer = Placer(SimPlacement(inventory_from_dict(data), ReplicaNeed(mig_profile="3g.40gb")), 0)
    placed = placer.place(2, 0.0)
    assert [p.slots for p in placed] == [(("n0", 0, "3g.40gb", 4),)]


def _shortage_runs(placement: SimPlacement | None):
    # 60 req/s x 0.099 replica-s each = ~6 replicas of work; replicas start after 100 s.
    trace = constant_trace(rps=60, duration_s=1800)
    physics = FleetPhysics.from_profile(profile(), cold_start_jitter=0.0)
    offered = OfferedLoad.from_trace(trace, physics)
    policy = FixedPolicy([(0.0, 8)], interval_s=10.0)
    return replay(
        trace,
        offered,
        policy,
        physics,
        initial_replicas=1,
        slo_ttft_s=2.0,
        seed=1,
        placement=placement,
    )


def test_a_shortage_costs_slo_and_shows_as_unplaced_replicas() -> None:
    free = _shortage_runs(None)
    # Room for 3 replicas of 2 GPUs on a 6-GPU node and nothing to provision.
    short = _shortage_runs(_placement({"gpus_per_replica": 2}, gpus=6))
    assert free.unplaced_replicas is None and free.placement is None
    assert short.requested_replicas.max() == 3 and short.ready_replicas.max() == 3
    assert short.unplaced_replicas is not None and short.unplaced_replicas.max() == 5
    assert short.placement is not None and short.placement.replicas_never_started == 5
    assert short.gpu_hours < free.gpu_hours  # a pending pod costs nothing
    met = lambda run: np.mean(~run.dropped & (run.ttft_s <= run.slo_ttft_s))  # noqa: E731
    assert met(short) < met(free) - 0.2


def test_a_new_node_delays_the_replica_by_the_provisioning_time() -> None:
    trace = constant_trace(rps=1, duration_s=1200)
    physics = FleetPhysics.from_profile(profile(), cold_start_jitter=0.0, node_provision_s=250.0)
    offered = OfferedLoad.from_trace(trace, physics)
    runs = {}
    for name, inventory in {"room": {"nodes": 1}, "new": {"nodes": 0, "available": 1}}.items():
        placement = _placement({"gpus_per_replica": 1}, **inventory)
        runs[name] = replay(
            trace,
            offered,
            FixedPolicy([(0.0, 2)], interval_s=10.0),
            physics,
            initial_replicas=0,
            slo_ttft_s=2.0,
            placement=placement,
        )
    # Asked for at 10 s: 100 s cold start alone, or 250 s of provisioning first.
    assert np.argmax(runs["room"].ready_replicas == 2) == 110
    assert np.argmax(runs["new"].ready_replicas == 2) == 360
    assert runs["new"].placement.nodes_provisioned == 1  # type: ignore[union-attr]
    assert runs["new"].placement.replicas_waited_for_nodes == 2  # type: ignore[union-attr]


def test_summary_and_report_carry_the_placement_numbers(tmp_path: Path) -> None:
    trace = constant_trace(rps=60, duration_s=1800)
    physics = FleetPhysics.from_profile(profile(), cold_start_jitter=0.0)
    placement = _placement({"gpus_per_replica": 2}, gpus=6)
    runs = simulate(trace, profile(), physics, ["static", "oracle"], placement=placement)
    summary = build_summary(trace.describe(), trace.n_requests, 1800.0, runs)
    numbers = summary["policies"]["static"]
    assert numbers["peak_unplaced_replicas"] > 0 and numbers["unplaced_replica_seconds"] > 0
    assert json.loads(json.dumps(summary)) == summary
    summary["placement"] = {"inventory": "inv.yaml", "need": {"gpus_per_replica": 2}}
    assert placement_table(summary) is not None
    report = write_report(tmp_path, summary, runs)["report"].read_text()
    assert "## Placement" in report and "gpus_per_replica: 2" in report
    plain = simulate(trace, profile(), physics, ["static"])
    without = build_summary(trace.describe(), trace.n_requests, 1800.0, plain)
    assert "peak_unplaced_replicas" not in without["policies"]["static"]
    assert placement_table(without) is None


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cli_reports_placement_and_a_shortage(tmp_path: Path) -> None:
    inventory = _write(tmp_path, "inv.yaml", json.dumps(_inventory(gpus=1)))
    need = _write(tmp_path, "need.yaml", "mig_profile: 1g.10gb\n")
    base = ["simulate", "--trace", str(write_azure(tmp_path)), "--policies", "static", "--json"]
    result = prewarm(*base, "--out", str(tmp_path / "a"), "--inventory", str(inventory))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["placement"]["need"] == {"gpus_per_replica": 1}
    assert summary["placement"]["node_provision_s"] == 120.0
    assert summary["policies"]["static"]["nodes_provisioned"] == 0
    result = prewarm(
        *base,
        "--out",
        str(tmp_path / "b"),
        "--inventory",
        str(inventory),
        "--placement",
        str(need),
        "--node-provision-s",
        "30",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["placement"]["need"] == {"mig_profile": "1g.10gb"}
    assert summary["placement"]["node_provision_s"] == 30.0


@pytest.mark.parametrize(
    ("files", "flags", "message"),
    [
        ({"inv.yaml": "nodes: [{name: a, gpus: [{model: B200-999GB}]}]\n"}, [], "unknown GPU"),
        ({"inv.yaml": "nodes: []\nextra: 1\n"}, [], "extra: unknown key"),
        ({}, ["--inventory", "missing.yaml"], "missing.yaml"),
        (
            {"inv.yaml": "nodes: []\n", "need.yaml": "mig_profile: 3g.40gb\nmemory_gib: 4\n"},
            ["--placement", "need.yaml"],
            "exactly one of",
        ),
        (
            {"inv.yaml": "nodes: []\n", "need.yaml": "mig_profile: 9g.99gb\n"},
            ["--placement", "need.yaml"],
            "mig_profile: '9g.99gb' exists on no catalog GPU",
        ),
        ({}, ["--placement", "need.yaml"], "--placement goes with --inventory"),
        ({}, ["--node-provision-s", "5"], "--node-provision-s goes with --inventory"),
    ],
    ids=[
        "unknown-gpu",
        "unknown-key",
        "missing-file",
        "two-needs",
        "no-such-profile",
        "placement-alone",
        "provision-alone",
    ],
)
def test_bad_placement_input_exits_2_naming_it(
    tmp_path: Path, files: dict[str, str], flags: list[str], message: str
) -> None:
    for name, text in files.items():
        _write(tmp_path, name, text)
    args = [f if not f.endswith(".yaml") else str(tmp_path / f) for f in flags]
    if "inv.yaml" in files:
        args += ["--inventory", str(tmp_path / "inv.yaml")]
    result = prewarm("simulate", "--out", str(tmp_path / "out"), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr + result.stdout


def test_a_two_node_replica_provisions_both_nodes_and_waits_for_them() -> None:
    placement = _placement({"gpus_per_replica": 8, "nodes_per_replica": 2}, nodes=1, available=2)
    placer = Placer(placement, 120.0)
    placed = placer.place(2, 30.0)
    assert len(placed) == 1  # the idle node and one new one are one replica; none is left
    assert {s[0] for s in placed[0].slots} == {"n0", "sim-p5.48xlarge-z1-0"}
    assert len(placed[0].slots) == 16 and placed[0].node_ready_s == 150.0
    assert placer.nodes_provisioned == 1
