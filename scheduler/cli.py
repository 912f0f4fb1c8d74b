"""`prewarm place`: read an inventory and a demand, plan placement, print and write the plan.

Writes DIR/plan.json (`Plan.to_json()`, what the admission webhook and manifest renderer
read) and DIR/manifests/ (ResourceClaimTemplates, placement ConfigMaps, kustomization.yaml).
Bad input exits 2 with every problem listed; a plan the manifest renderer rejects exits 1 and
writes nothing, so DIR keeps the previous plan.json and manifests/ together.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from scheduler.demand import PlacementOptions, load_demand
from scheduler.input_errors import PlacementInputError
from scheduler.inventory import load_inventory
from scheduler.place import plan_placement
from scheduler.plan import Plan


def place_command(
    inventory: Annotated[Path, typer.Option(help="inventory YAML (nodes, instance_types)")],
    demand: Annotated[Path, typer.Option(help="demand YAML (models and their replicas)")],
    out: Annotated[Path, typer.Option(help="directory for plan.json and manifests/")] = Path(
        "out/place"
    ),
    json_out: Annotated[
        bool, typer.Option("--json", help="print plan.json to stdout instead of a table")
    ] = False,
    allow_defragment: Annotated[
        bool | None,
        typer.Option(
            help="let running slices move when that frees GPUs (either flag overrides the "
            "demand's allow_defragment; without one, the demand decides)",
            show_default=False,
            metavar="",  # a flag pair, not a value
        ),
    ] = None,
    exact_max_replicas: Annotated[
        int, typer.Option(min=0, help="new slice replicas up to which the exact ILP is tried")
    ] = 50,
    time_limit_s: Annotated[
        float, typer.Option(min=0.1, help="time limit of the exact solver (s)")
    ] = 10.0,
) -> None:
    """Plan which GPU, MIG slice, instance type and zone each replica gets."""
    console = Console(stderr=json_out)
    try:
        inv = load_inventory(inventory)
        dem = load_demand(demand)
    except PlacementInputError as exc:
        # soft_wrap: long paths stay on one line, so the message can be grepped.
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    options = PlacementOptions(
        allow_defragment=allow_defragment,
        exact_max_replicas=exact_max_replicas,
        exact_time_limit_s=time_limit_s,
    )
    with console.status("planning placement"):
        plan = plan_placement(inv, dem, options)

    # Kubernetes manifests for the plan: the Kubernetes side renders them from the same Plan
    # (scheduler/kubernetes/manifests.py), so `kubectl apply -k DIR/manifests` applies it.
    from scheduler.kubernetes.manifests import render_manifests, write_manifests

    try:
        render_manifests(plan)  # check first: a rejected plan must not replace plan.json
    except ValueError as exc:  # PlanError: a plan the claims cannot express
        console.print(f"[red]error:[/red] manifests: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    out.mkdir(parents=True, exist_ok=True)
    write_manifests(plan, out / "manifests")
    # plan.json last: the webhook reloads it on change, and its claims are in the manifests.
    plan_path = out / "plan.json"
    partial = out / "plan.json.tmp"  # renamed into place: the webhook never reads half a file
    partial.write_text(json.dumps(plan.to_json(), indent=2) + "\n")
    partial.replace(plan_path)

    if json_out:
        json.dump(plan.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    console.print(node_table(plan))
    console.print(plan_table(plan))
    for reason in plan.reasons:
        console.print(f"  - {reason}", highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"GPUs used [bold]{plan.gpus_used}[/bold] (lower bound {plan.lower_bound_gpus}), "
        f"cost ${plan.cost_per_hour:,.2f}/h, moves {plan.moves}, solver {plan.solver or '-'}, "
        f"unplaced {len(plan.unplaced)}"
    )
    console.print(f"Plan: [bold]{plan_path}[/bold]  Manifests: {out / 'manifests'}")


def node_table(plan: Plan) -> Table:
    """One row per node the plan uses: its type and zone once, not on every replica row."""
    table = Table(title="Nodes", box=box.SIMPLE_HEAD)
    for column in ("node", "instance type", "zone", "GPUs", "replicas"):
        table.add_column(column, justify="right" if column in ("GPUs", "replicas") else "left")
    nodes: dict[str, tuple[str, str, set[str], set[str]]] = {}
    for a in plan.assignments:
        _, _, gpus, replicas = nodes.setdefault(a.node, (a.instance_type, a.zone, set(), set()))
        gpus.add(a.gpu or f"{a.replica}/{len(gpus)}")  # new nodes' GPUs have no uuid yet
        replicas.add(a.replica)
    for node, (instance_type, zone, gpus, replicas) in nodes.items():
        table.add_row(short_node(node), instance_type, zone, str(len(gpus)), str(len(replicas)))
    return table


def plan_table(plan: Plan) -> Table:
    """One row per replica and node: a multi-node replica's GPUs on one node are one row.
    Narrow enough for an 80-column terminal; plan.json (or --json) has every field."""
    table = Table(title="Placement plan", box=box.SIMPLE_HEAD)
    for column in ("replica", "node", "GPU", "slice", "state"):
        table.add_column(column, overflow="fold")
    rows: dict[tuple[str, str], list[str]] = {}
    for a in plan.assignments:
        key = (a.replica, a.node)
        where = a.profile if a.start is None else f"{a.profile}@{a.start}"
        if key in rows:
            rows[key][-2] = _count(rows[key][-2], where)
            continue
        state = "kept" if a.kept else "new"
        gpu = a.gpu[-12:] if a.gpu else "(new node)"
        rows[key] = [a.replica, short_node(a.node), gpu, where, state]
    for row in rows.values():
        table.add_row(*row)
    for u in plan.unplaced:
        table.add_row(u.replica, "-", "-", "-", f"unplaced: {u.reason}")
    return table


def short_node(name: str) -> str:
    """'ip-10-0-77-89.ec2.internal' -> 'ip-10-0-77-89'; planned nodes ('new:...') as they are."""
    return name if name.startswith("new:") else name.split(".", 1)[0]


def _count(cell: str, where: str) -> str:
    """'whole' -> 'whole x2' -> 'whole x3': a row per node, not per GPU."""
    base, _, n = cell.partition(" x")
    return f"{base} x{int(n or 1) + 1}" if base == where else f"{cell}, {where}"
