"""The exact packer: an integer program solved by HiGHS (scipy.optimize.milp).

Variables, over candidate GPUs g (those holding running slices, plus enough empty ones of each
GPU model for every replica to get its own, taken in `GpuOpener` order, whole nodes):
- y[g, p, s] in {0, 1}: an instance of profile p at start s on g (only placements that miss
  the running slices of g are variables at all);
- u[g], v[n] in {0, 1}: GPU g is used, node n is paid for;
- z[k, c] >= 0 integer: replicas of group k (same model, same choices) on choice c; q[k] >= 0
  of them left unplaced.
Constraints: each memory slice of g covered at most once; compute and per-profile max counts of
g respected (after running slices); y <= u[g] <= v[n]; per (GPU model, profile) the instances
equal the replicas assigned to them; sum_c z[k, c] + q[k] = replicas of k.
Objective, lexicographic: phase 1 minimises unplaced replicas, then GPUs used, then moves (a
running replica not left at home; only with defragmentation) with integer weights; phase 2
keeps those no worse and minimises node cost (cents). The combinatorial lower bound per GPU
model (`bounds.py`) is added as a cut, so a plan that meets it is proven at once. It holds only
for plans that place every replica pinned to that model; when the model has fewer empty GPUs
than replicas, an unplaced pinned replica lifts it (sum u + B * sum q_pinned >= B), so the ILP
stays feasible and still maximises the replicas placed.

With W_gpu = moves_max + 1, one GPU saved outweighs every possible move, so the solver moves a
slice only if that lowers the GPU count. Empty GPUs of one model on a node, and idle nodes of one
kind (type, zone, price, and candidate GPUs per model), are interchangeable: they are used in
order (u[g_i] >= u[g_i+1], v[n_i] >= v[n_i+1]) to cut the symmetric search.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from scheduler.catalog import load_catalog
from scheduler.packing.bounds import model_bounds
from scheduler.packing.geometry import Geometry, geometry
from scheduler.packing.opener import GpuOpener
from scheduler.packing.problem import GpuSlot, Item, PackResult, Placed, Problem
from scheduler.sizing import SliceChoice


@dataclass
class _Model:
    """The integer program under construction: columns with costs and bounds, sparse rows."""

    cost: list[float]  # phase 1: unplaced, GPUs, moves (integers, so bounds round up)
    cost2: list[float]  # phase 2: node cost in cents
    lower: list[float]
    upper: list[float]
    rows: list[tuple[dict[int, float], float, float]]

    def var(
        self, cost: float = 0.0, lower: float = 0.0, upper: float = 1.0, cost2: float = 0.0
    ) -> int:
        self.cost.append(cost)
        self.cost2.append(cost2)
        self.lower.append(lower)
        self.upper.append(upper)
        return len(self.cost) - 1

    def row(self, coefs: dict[int, float], lower: float, upper: float) -> None:
        if coefs:
            self.rows.append((coefs, lower, upper))


def pack_exact(problem: Problem, time_limit_s: float = 10.0) -> PackResult | None:
    """The optimal packing, or the best found within the time limit (`proven_optimal` False),
    or None if HiGHS found no solution at all."""
    result = try_pack_exact(problem, time_limit_s)
    return result if isinstance(result, PackResult) else None


def try_pack_exact(problem: Problem, time_limit_s: float = 10.0) -> PackResult | str:
    """As `pack_exact`, but instead of None says why HiGHS gave no plan (time limit or an
    infeasible model), so the caller's reason does not guess."""
    catalog = load_catalog()
    models = sorted({c.gpu_model for it in problem.items for c in it.choices})
    geos = {m: geometry(catalog.gpu(m)) for m in models}
    homes = {it.home[0] for it in problem.items if it.home is not None}
    closed = {i for i, g in enumerate(problem.gpus) if not g.busy and i not in homes}
    opener = GpuOpener(problem, closed)
    wanted = {(c.gpu_model, c.profile) for it in problem.items for c in it.choices}
    candidates: list[int] = []
    full: dict[str, int] = defaultdict(int)  # running GPUs with no room for any wanted slice
    for i, slot in enumerate(problem.gpus):
        if slot.gpu_model not in geos or i in closed:
            continue
        state = geos[slot.gpu_model].state_of(slot.fixed)
        if i in homes or any(geos[m].starts(state, p) for m, p in wanted if m == slot.gpu_model):
            candidates.append(i)
        else:  # used whatever the plan: leaving it out keeps the ILP small on big fleets
            full[slot.gpu_model] += 1
    short: set[str] = set()  # GPU models with fewer empty GPUs than replicas that may use them
    for m in models:
        need = sum(1 for it in problem.items if any(c.gpu_model == m for c in it.choices))
        empty = opener.peek_nodes(m, need)
        candidates += empty
        if len(empty) < need:
            short.add(m)
    gpus = opener.gpus

    groups: dict[tuple[str, tuple[SliceChoice, ...]], list[Item]] = defaultdict(list)
    for it in problem.items:
        groups[(it.model, it.choices)].append(it)
    n_home = sum(1 for it in problem.items if it.home is not None)
    w_gpu = n_home + 1.0
    w_unplaced = w_gpu * (len(candidates) + 1)
    node_price = {gpus[g].node: gpus[g].node_price_per_hour for g in candidates}

    lp = _Model([], [], [], [], [])
    profiles: dict[str, set[str]] = defaultdict(set)
    for it in problem.items:
        for c in it.choices:
            profiles[c.gpu_model].add(c.profile)
    y: dict[tuple[int, str, int], int] = {}
    u: dict[int, int] = {}
    v: dict[str, int] = {}
    for node, price in node_price.items():
        paid = node in problem.used_nodes
        cents = 0.0 if paid else round(price * 100)
        v[node] = lp.var(cost2=cents, lower=1.0 if paid else 0.0)
    for g in candidates:
        slot = gpus[g]
        geo = geos[slot.gpu_model]
        u[g] = lp.var(cost=w_gpu, lower=1.0 if slot.busy else 0.0)
        lp.row({u[g]: 1.0, v[slot.node]: -1.0}, -np.inf, 0.0)
        _gpu_rows(lp, geo, slot, g, sorted(profiles[slot.gpu_model]), y, u[g])
    stays = {y[it.home]: 1.0 for it in problem.items if it.home is not None and it.home in y}
    for col in stays:
        lp.cost[col] -= 1.0  # staying home saves one move
    # Empty GPUs (idle or to be provisioned) are interchangeable within a node.
    blank = {g for g in candidates if g in closed or g >= len(problem.gpus)}
    _symmetry_rows(lp, gpus, candidates, blank, u, v, problem.used_nodes)

    assigned: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    z: dict[tuple[int, SliceChoice], int] = {}
    q: dict[int, int] = {}
    for k, ((_, choices), members) in enumerate(groups.items()):
        q[k] = lp.var(cost=w_unplaced, upper=len(members))
        coefs = {q[k]: 1.0}
        for c in choices:
            z[(k, c)] = lp.var(upper=len(members))
            coefs[z[(k, c)]] = 1.0
            assigned[(c.gpu_model, c.profile)][z[(k, c)]] = 1.0
        lp.row(coefs, len(members), len(members))
    by_model = model_bounds(problem)
    for m in models:  # valid cuts: HiGHS stops as soon as it meets them
        need = by_model.get(m, 0) - full[m]
        if need <= 0:
            continue
        cut = {u[g]: 1.0 for g in candidates if gpus[g].gpu_model == m}
        # The bound counts replicas whose one choice is m. With an empty GPU for each replica
        # all of them fit; if m is short, one may stay unplaced, and then the cut is lifted.
        for k, (_, choices) in enumerate(groups):
            if m in short and len(choices) == 1 and choices[0].gpu_model == m:
                cut[q[k]] = float(need)
        lp.row(cut, float(need), np.inf)
    for (model, profile), coefs in assigned.items():
        for (g, p, _), col in y.items():
            if p == profile and gpus[g].gpu_model == model:
                coefs[col] = -1.0
        lp.row(coefs, 0.0, 0.0)

    started = time.perf_counter()
    solution = _solve(lp, lp.cost, time_limit_s)
    if isinstance(solution, str):
        return solution
    x, proven = solution
    notes = []
    if proven:
        # Phase 2: the same GPUs, unplaced and moves (no worse), at the lowest node cost.
        lp.row({u[g]: 1.0 for g in candidates}, -np.inf, sum(x[u[g]] for g in candidates))
        lp.row({col: 1.0 for col in q.values()}, -np.inf, sum(x[col] for col in q.values()))
        lp.row(stays, sum(x[col] for col in stays), np.inf)
        left = max(1.0, time_limit_s - (time.perf_counter() - started))
        cheaper = _solve(lp, lp.cost2, left)
        if isinstance(cheaper, str):
            notes.append(f"node cost not minimised: {cheaper}")
        else:
            x = cheaper[0]
            if not cheaper[1]:
                notes.append("node cost not proven minimal within the time limit")
    return _result(gpus, groups, x, y, z, proven, tuple(notes))


def _gpu_rows(
    lp: _Model,
    geo: Geometry,
    slot: GpuSlot,
    g: int,
    profiles: list[str],
    y: dict[tuple[int, str, int], int],
    used: int,
) -> None:
    mask, compute, _ = geo.state_of(slot.fixed)
    fixed_counts: dict[str, int] = defaultdict(int)
    for p, _ in slot.fixed:
        fixed_counts[p] += 1
    by_slice: dict[int, dict[int, float]] = defaultdict(dict)
    compute_row: dict[int, float] = {}
    for p in profiles:
        shape = geo.shape(p)
        count_row: dict[int, float] = {}
        for s in shape.starts:
            if mask & shape.mask(s) or compute + shape.compute_slices > geo.compute_slices:
                continue
            col = y[(g, p, s)] = lp.var()
            lp.row({col: 1.0, used: -1.0}, -np.inf, 0.0)
            for i in range(s, s + shape.memory_slices):
                by_slice[i][col] = 1.0
            compute_row[col] = shape.compute_slices
            count_row[col] = 1.0
        lp.row(count_row, -np.inf, max(0, shape.max_count - fixed_counts[p]))
    for coefs in by_slice.values():
        lp.row(coefs, -np.inf, 1.0)
    lp.row(compute_row, -np.inf, geo.compute_slices - compute)


def _symmetry_rows(
    lp: _Model,
    gpus: list[GpuSlot],
    candidates: list[int],
    blank: set[int],
    u: dict[int, int],
    v: dict[str, int],
    paid: frozenset[str],
) -> None:
    by_node: dict[str, list[int]] = defaultdict(list)
    for g in candidates:
        by_node[gpus[g].node].append(g)
    kinds: dict[tuple[object, ...], list[str]] = defaultdict(list)
    for node, members in by_node.items():
        # Only empty GPUs of one model are interchangeable: on a node with two models, using
        # its H100 must not force its A100 to count as used.
        by_model: dict[str, list[int]] = defaultdict(list)
        for g in members:
            if g in blank:
                by_model[gpus[g].gpu_model].append(g)
        for empty in by_model.values():
            for a, b in zip(empty, empty[1:], strict=False):
                lp.row({u[a]: 1.0, u[b]: -1.0}, 0.0, np.inf)
        if node not in paid and sum(map(len, by_model.values())) == len(members):
            s = gpus[members[0]]
            counts = tuple(sorted((m, len(gs)) for m, gs in by_model.items()))
            kind = (s.instance_type, s.zone, s.node_price_per_hour, counts, s.existing)
            kinds[kind].append(node)
    for nodes in kinds.values():
        for first, second in zip(nodes, nodes[1:], strict=False):
            lp.row({v[first]: 1.0, v[second]: -1.0}, 0.0, np.inf)


def _solve(lp: _Model, cost: list[float], time_limit_s: float) -> tuple[np.ndarray, bool] | str:
    """(solution, proven optimal), or why HiGHS returned none."""
    n = len(lp.cost)
    rows, cols, vals, lower, upper = [], [], [], [], []
    for r, (coefs, lo, hi) in enumerate(lp.rows):
        for c, val in coefs.items():
            rows.append(r)
            cols.append(c)
            vals.append(val)
        lower.append(lo)
        upper.append(hi)
    matrix = coo_matrix((vals, (rows, cols)), shape=(len(lp.rows), n)).tocsr()
    res = milp(
        c=np.array(cost),
        integrality=np.ones(n),
        bounds=Bounds(np.array(lp.lower), np.array(lp.upper)),
        constraints=LinearConstraint(matrix, np.array(lower), np.array(upper)),
        # Both objectives are integers, so HiGHS rounds its bound up; a gap this small is exact.
        options={"time_limit": time_limit_s, "mip_rel_gap": 1e-9, "presolve": True},
    )
    if res.x is not None:
        return np.round(res.x), res.status == 0
    if res.status == 1:
        return f"exact solver hit its time limit ({time_limit_s:g} s) before finding a plan"
    if res.status == 2:  # a bug: leaving every replica unplaced is always feasible
        return f"exact solver found its model infeasible ({res.message})"
    return f"exact solver failed (HiGHS status {res.status}: {res.message})"


def _result(
    gpus: list[GpuSlot],
    groups: dict[tuple[str, tuple[SliceChoice, ...]], list[Item]],
    x: np.ndarray,
    y: dict[tuple[int, str, int], int],
    z: dict[tuple[int, SliceChoice], int],
    proven: bool,
    notes: tuple[str, ...],
) -> PackResult:
    pools: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for (g, p, s), col in y.items():
        if x[col] > 0.5:
            pools[(gpus[g].gpu_model, p)].append((g, s))
    placed: list[Placed] = []
    unplaced: list[tuple[Item, str]] = []
    for k, ((_, choices), members) in enumerate(groups.items()):
        quota = {c: int(x[z[(k, c)]]) for c in choices}
        waiting = list(members)
        for it in members:  # running replicas whose home survived stay there
            if it.home is None:
                continue
            g, p, s = it.home
            c = SliceChoice(gpus[g].gpu_model, p)
            pool = pools.get((c.gpu_model, p), [])
            if quota.get(c, 0) > 0 and (g, s) in pool:
                pool.remove((g, s))
                quota[c] -= 1
                placed.append(Placed(it, g, p, s, kept=True))
                waiting.remove(it)
        for c in choices:
            pool = pools[(c.gpu_model, c.profile)]
            for _ in range(quota[c]):
                it = waiting.pop(0)
                g, s = pool.pop(0)
                placed.append(Placed(it, g, c.profile, s))
        for it in waiting:
            names = ", ".join(f"{c.profile} on {c.gpu_model}" for c in it.choices)
            unplaced.append((it, f"no free GPU or provisionable node for {names}"))
    return PackResult(
        gpus=tuple(gpus),
        placed=tuple(placed),
        unplaced=tuple(unplaced),
        solver="exact" if proven else "heuristic",
        proven_optimal=proven,
        notes=notes,
    )
