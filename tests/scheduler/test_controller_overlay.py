"""The last plan laid over the inventory: planned replicas count as running where they were
planned, matched to what runs, and dropped with a reason when their slice is gone."""

from __future__ import annotations

from dataclasses import replace

from scheduler.controller.overlay import with_planned
from scheduler.inventory import Gpu, Inventory, MigInstance
from scheduler.plan import Assignment, Plan
from tests.scheduler.controller_cluster import node

M = "llama"


def mig(replica: str, gpu: str, profile: str, start: int, node_name: str = "n1") -> Assignment:
    return Assignment(
        replica, M, node_name, gpu, "H100-80GB", profile, start, "p5.48xlarge", "us-east-1a"
    )


def plan(*assignments: Assignment) -> Plan:
    return Plan(0, 0, 0.0, 0, assignments)


def inventory(*gpus: Gpu) -> Inventory:
    n = node("n1", gpus=len(gpus))
    return Inventory((replace(n, gpus=gpus),))


def gpu(i: int, *mig_: MigInstance, **kw: object) -> Gpu:
    return Gpu(f"GPU-n1-{i}", "H100-80GB", tuple(mig_), **kw)  # type: ignore[arg-type]


def test_planned_slices_not_running_yet_are_laid_in_use_and_idle_overlaps_cleared() -> None:
    idle = MigInstance("7g.80gb", 0)  # left from an earlier layout: free space, not a replica
    laid, reasons = with_planned(
        inventory(gpu(0, idle)), plan(mig("llama-0", "GPU-n1-0", "3g.40gb", 4)), [M]
    )
    assert reasons == ()
    assert laid.nodes[0].gpus[0].mig == (MigInstance("3g.40gb", 4, True, M, "llama-0"),)


def test_a_replica_the_dra_scheduler_put_at_another_start_stands_for_the_planned_one() -> None:
    # Planned at 4; the claim (pinned to the GPU and the profile, not the start) got 0.
    ran = MigInstance("3g.40gb", 0, True, M, None)
    laid, reasons = with_planned(
        inventory(gpu(0, ran)), plan(mig("llama-3", "GPU-n1-0", "3g.40gb", 4)), [M]
    )
    assert reasons == ()
    # Named after the plan, not doubled at start 4.
    assert laid.nodes[0].gpus[0].mig == (MigInstance("3g.40gb", 0, True, M, "llama-3"),)


def test_a_slice_taken_by_another_workload_or_a_gone_gpu_is_dropped_with_why() -> None:
    other = MigInstance("4g.40gb", 0, True, "someone-else", "x")
    planned = plan(
        mig("llama-0", "GPU-n1-0", "3g.40gb", 0),
        mig("llama-1", "GPU-n1-1", "3g.40gb", 0),
        mig("llama-2", "GPU-gone", "3g.40gb", 0),
    )
    whole_other = gpu(1, in_use=True, served_model="batch-job")
    laid, reasons = with_planned(inventory(gpu(0, other), whole_other), planned, [M])
    assert laid.nodes[0].gpus[0].mig == (other,)
    assert laid.nodes[0].gpus[1] == whole_other
    assert reasons == (
        "llama llama-0: 3g.40gb@0 on n1 GPU GPU-n1-0 is taken by another instance; placed anew",
        "llama llama-1: n1 GPU GPU-n1-1 is now held whole by batch-job; placed anew",
        "llama llama-2: GPU GPU-gone is no longer on n1; placed anew",
    )


def test_whole_gpus_and_models_no_longer_demanded() -> None:
    whole = replace(mig("llama-0", "GPU-n1-0", "whole", 0), start=None)
    gone = replace(mig("old-0", "GPU-n1-1", "3g.40gb", 0), model="old")
    laid, _ = with_planned(inventory(gpu(0), gpu(1)), plan(whole, gone), [M])
    assert laid.nodes[0].gpus[0] == gpu(0, in_use=True, served_model=M, replica="llama-0")
    assert laid.nodes[0].gpus[1] == gpu(1)  # "old" left the demand: nothing to keep for it
