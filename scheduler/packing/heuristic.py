"""Best-fit decreasing over GPU occupancy states: the packer for problems too big for the ILP.

1. Items go biggest first (memory slices of their first choice), so 7g/whole and 4g/3g slices
   claim GPUs before 1g slices fill the gaps.
2. Each item tries its choices in preference order. For a choice, every open GPU of that model
   whose state can take the profile is a candidate; the packer takes the one left with the
   fewest free memory slices (best fit), ties to the state with the most room left for other
   profiles (`Geometry.score`), at the start that keeps most room (`Geometry.best_start`).
   GPUs are bucketed by state, so one item costs one look per distinct state (tens), not one
   per GPU (thousands): 5,000 items over 2,000 GPUs take well under a second.
3. Only when no open GPU of any choice fits does it open an empty GPU (`GpuOpener`: paid
   nodes first, then idle existing nodes, then provisioning), for the first choice that can.
   One exception: memory slice 7 of an 8-slice GPU is out of reach of 1g and 2g slices, so a
   slice that can reach it (1g.20gb at 6) opens a GPU to sit there when the 1g/2g slices still
   to come will fill the rest anyway (`_keep_for_hard`). On the 5,000-replica benchmark this
   took the gap to the lower bound from 1.6 % to 0.0 %.
4. With defragmentation, items that run now start at home; afterwards each GPU holding nothing
   but movable slices is emptied if all its slices fit on other open GPUs (fewest slices first).
   A GPU is only emptied whole, so a move always frees a GPU.
5. Biggest first fills the GPUs before the small replicas come, so when capacity is short the
   replicas left out are the smallest: the most of them for the memory they would need. When
   that pass leaves any replica out, a second pass goes smallest first (which leaves out the
   biggest), and the plan that places more replicas wins, as in the exact solver's objective
   (ties: fewer GPUs, then fewer moves, then lower cost). One H100 and 1 x 7g.80gb + 7 x
   1g.10gb: biggest first places 1 replica, smallest first 7. 5,000 replicas on 2,000
   H100/A100 GPUs, 15 % short (a third pinned to each model, a third preferring H100): 388
   left out instead of 1,665, for a second pass (0.1 s) that only a short fleet pays.
"""

from __future__ import annotations

from collections import defaultdict

from scheduler.catalog import load_catalog
from scheduler.packing.geometry import Geometry, State, geometry
from scheduler.packing.opener import GpuOpener
from scheduler.packing.problem import Item, PackResult, Placed, Problem
from scheduler.sizing import SliceChoice


class _Packing:
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        homes = {it.home[0] for it in problem.items if it.home is not None}
        closed = {i for i, g in enumerate(problem.gpus) if not g.busy and i not in homes}
        self.opener = GpuOpener(problem, closed)
        self.opener.paid_nodes.update(problem.gpus[i].node for i in homes)
        self.geo: dict[str, Geometry] = {}
        self.state: dict[int, State] = {}
        self.buckets: dict[str, dict[State, list[int]]] = defaultdict(dict)
        self.contents: dict[int, list[Placed]] = defaultdict(list)
        # Memory slices still to place, per GPU model, of slices that cannot reach the hard
        # slice (see `_keep_for_hard`).
        self.soft_pending: dict[str, int] = defaultdict(int)
        # Memory slices still to place, per GPU model, of replicas allowed on that model only;
        # and empty GPUs per model not opened yet (closed ones plus nodes left to provision).
        self.pinned_pending: dict[str, int] = defaultdict(int)
        self.unopened: dict[str, int] = defaultdict(int)
        for i in closed:
            self.unopened[problem.gpus[i].gpu_model] += 1
        for prov in problem.provision:
            self.unopened[prov.instance_type.gpu_model] += (
                max(0, prov.remaining) * prov.instance_type.gpus
            )
        for i, g in enumerate(problem.gpus):
            if i not in closed:
                self._set(i, self._geo_of(i).state_of(g.fixed))

    def _geo_of(self, gpu: int) -> Geometry:
        model = self.opener.gpus[gpu].gpu_model
        if model not in self.geo:
            self.geo[model] = geometry(load_catalog().gpu(model))
        return self.geo[model]

    def _set(self, gpu: int, state: State) -> None:
        model = self.opener.gpus[gpu].gpu_model
        old = self.state.get(gpu)
        buckets = self.buckets[model]
        if old is not None:
            members = buckets[old]
            members.remove(gpu)
            if not members:
                del buckets[old]
        self.state[gpu] = state
        buckets.setdefault(state, []).append(gpu)

    def put(self, item: Item, gpu: int, profile: str, start: int, kept: bool = False) -> None:
        geo = self._geo_of(gpu)
        self._set(gpu, geo.place(self.state[gpu], profile, start))
        self.contents[gpu].append(Placed(item, gpu, profile, start, kept))

    def best_open(self, model: str, profile: str) -> tuple[int, int, bool] | None:
        geo = self.geo.get(model)
        if geo is None:
            return None
        best: tuple[tuple[int, int, int], int, int] | None = None
        for state, members in self.buckets[model].items():
            start = geo.best_start(state, profile)
            if start is None:
                continue
            after = geo.place(state, profile, start)
            # Spend a slice that can reach the hard slice (1g.20gb at 6) where it reaches it,
            # else the tightest fit; ties keep the most room.
            hard = 1 if geo.shape(profile).mask(start) & geo.hard_mask else 0
            key = (-hard, geo.free_slices(after), -geo.score(after))
            if best is None or key < best[0]:
                best = (key, members[-1], start)
        return None if best is None else (best[1], best[2], best[0][0] < 0)

    def place_item(self, item: Item) -> bool:
        for choice in self._choices(item):
            found = self.best_open(choice.gpu_model, choice.profile)
            if found is not None:
                gpu, start, hard = found
                if not hard and self._keep_for_hard(choice) and self._open(item, choice, True):
                    return True
                self.put(item, gpu, choice.profile, start)
                return True
        return any(self._open(item, choice, False) for choice in self._choices(item))

    def _choices(self, item: Item) -> list[SliceChoice]:
        """The item's choices in preference order, except that a replica allowed on several
        GPU models leaves last a model whose room it would take from replicas pinned to it
        (those still to place need more memory slices than would be left)."""
        choices = list(item.choices)
        if len({c.gpu_model for c in choices}) < 2:
            return choices
        scarce = [c for c in choices if self._takes_pinned_room(c)]
        return [c for c in choices if c not in scarce] + scarce

    def _takes_pinned_room(self, choice: SliceChoice) -> bool:
        model = choice.gpu_model
        pinned = self.pinned_pending[model]
        if pinned == 0:
            return False
        geo = self.geo.get(model) or geometry(load_catalog().gpu(model))
        room = self.unopened[model] * geo.memory_slices + sum(
            len(members) * geo.free_slices(state) for state, members in self.buckets[model].items()
        )
        return room - geo.shape(choice.profile).memory_slices < pinned

    def _open(self, item: Item, choice: SliceChoice, hard: bool) -> bool:
        gpu = self.opener.open(choice.gpu_model)
        if gpu is None:
            return False
        self.unopened[choice.gpu_model] -= 1
        geo = self._geo_of(gpu)
        self._set(gpu, geo.empty)
        start = geo.best_start(geo.empty, choice.profile)
        assert start is not None  # an empty GPU takes any of its own profiles
        if hard:
            shape = geo.shape(choice.profile)
            start = max(
                (s for s in shape.starts if shape.mask(s) & geo.hard_mask),
                key=lambda s: geo.score(geo.place(geo.empty, choice.profile, s)),
            )
        self.put(item, gpu, choice.profile, start)
        return True

    def _keep_for_hard(self, choice: SliceChoice) -> bool:
        """Open a GPU for this slice at the hard slice rather than fit it lower down?

        Yes when it can reach the hard slice and the smaller slices still to come (which never
        can) would fill every free low slice of the open GPUs and the rest of the new one: then
        the new GPU costs nothing, and the hard slice it fills would otherwise stay empty. This
        is what turns 4 x 1g.20gb + 7 x 1g.10gb (two GPUs, slice 7 wasted on the second) into
        1g.20gb@6 + six 1g.10gb, twice over.
        """
        geo = self.geo[choice.gpu_model]
        shape = geo.shape(choice.profile)
        if not any(shape.mask(s) & geo.hard_mask for s in shape.starts):
            return False
        soft = geo.full_mask & ~geo.hard_mask
        free_low = sum(
            len(members) * (soft & ~state[0]).bit_count()
            for state, members in self.buckets[choice.gpu_model].items()
        )
        room_left = geo.memory_slices - shape.memory_slices
        return self.soft_pending[choice.gpu_model] >= free_low + room_left

    def defragment(self) -> None:
        fixed_gpus = {i for i, g in enumerate(self.problem.gpus) if g.busy}
        candidates = [
            gpu
            for gpu, placed in self.contents.items()
            if gpu not in fixed_gpus and any(p.item.home is not None for p in placed)
        ]
        candidates.sort(key=lambda gpu: (-self._geo_of(gpu).free_slices(self.state[gpu]), gpu))
        for gpu in candidates:
            self._try_empty(gpu)

    def _try_empty(self, gpu: int) -> None:
        geo = self._geo_of(gpu)
        placed = sorted(self.contents[gpu], key=lambda p: -geo.shape(p.profile).memory_slices)
        saved_state, model = self.state[gpu], self.opener.gpus[gpu].gpu_model
        # Take the GPU out of the buckets while its slices look for other homes.
        self.buckets[model][saved_state].remove(gpu)
        if not self.buckets[model][saved_state]:
            del self.buckets[model][saved_state]
        del self.state[gpu]
        moved: list[Placed] = []
        for p in placed:
            found = self.best_open(model, p.profile)
            if found is None:
                break
            self.put(p.item, found[0], p.profile, found[1])
            moved.append(self.contents[found[0]][-1])
        if len(moved) == len(placed):
            self.contents.pop(gpu)
            return
        for p in moved:  # undo: the GPU cannot be emptied
            target = self.contents[p.gpu]
            target.remove(p)
            geo = self._geo_of(p.gpu)
            rest = [(q.profile, q.start) for q in target]
            self._set(p.gpu, geo.state_of((*self.opener.gpus[p.gpu].fixed, *rest)))
        self._set(gpu, saved_state)


def pack_heuristic(problem: Problem, defragment: bool = False) -> PackResult:
    biggest = _pack(problem, defragment, smallest_first=False)
    if not biggest.unplaced:
        return biggest
    smallest = _pack(problem, defragment, smallest_first=True)
    return min((biggest, smallest), key=lambda r: _rank(problem, r))


def _rank(problem: Problem, result: PackResult) -> tuple[int, int, int, float]:
    return (
        len(result.unplaced),
        result.gpus_used,
        result.moves,
        result.cost_per_hour(problem.used_nodes),
    )


def _pack(problem: Problem, defragment: bool, smallest_first: bool) -> PackResult:
    packing = _Packing(problem)
    homed = [it for it in problem.items if it.home is not None]
    for it in homed:
        assert it.home is not None
        packing.put(it, it.home[0], it.home[1], it.home[2], kept=True)
    loose = [it for it in problem.items if it.home is None]
    # Biggest first (or smallest first, see 5. above); within a size the least flexible (fewest
    # starts) first, so 2g.20gb (starts 0, 2, 4) takes the low slices before 1g.20gb (also 6)
    # needs them; then replicas with fewer choices first, so a pinned replica gets a scarce GPU
    # before a flexible one.
    size = -1 if smallest_first else 1
    loose.sort(
        key=lambda it: (
            size * _shape_key(it)[0],
            _shape_key(it)[1],
            len(it.choices),
            it.model,
            it.key,
        )
    )
    for it in loose:
        packing.soft_pending[_first_model(it)] += _soft_volume(it)
        for model, volume in _pinned_volume(it):
            packing.pinned_pending[model] += volume
    unplaced = []
    for it in loose:
        packing.soft_pending[_first_model(it)] -= _soft_volume(it)
        for model, volume in _pinned_volume(it):
            packing.pinned_pending[model] -= volume
        if not packing.place_item(it):
            names = ", ".join(f"{c.profile} on {c.gpu_model}" for c in it.choices)
            unplaced.append((it, f"no free GPU or provisionable node for {names}"))
    if defragment and homed:
        packing.defragment()
    placed = tuple(p for members in packing.contents.values() for p in members)
    return PackResult(
        gpus=tuple(packing.opener.gpus),
        placed=tuple(_mark_kept(p) for p in placed),
        unplaced=tuple(unplaced),
        solver="heuristic",
    )


def _mark_kept(p: Placed) -> Placed:
    home = p.item.home
    kept = home is not None and (p.gpu, p.profile, p.start) == home
    return Placed(p.item, p.gpu, p.profile, p.start, kept)


def _first_model(item: Item) -> str:
    return item.choices[0].gpu_model if item.choices else ""


def _soft_volume(item: Item) -> int:
    """Memory slices of the item's first choice if it can never reach the hard slice."""
    if not item.choices:
        return 0
    first = item.choices[0]
    geo = geometry(load_catalog().gpu(first.gpu_model))
    shape = geo.shape(first.profile)
    reaches = any(shape.mask(s) & geo.hard_mask for s in shape.starts)
    return 0 if reaches else shape.memory_slices


def _pinned_volume(item: Item) -> list[tuple[str, int]]:
    """[(model, memory slices of its smallest choice)] if every choice is on one GPU model."""
    models = {c.gpu_model for c in item.choices}
    if len(models) != 1:
        return []
    (model,) = models
    geo = geometry(load_catalog().gpu(model))
    return [(model, min(geo.shape(c.profile).memory_slices for c in item.choices))]


def _shape_key(item: Item) -> tuple[int, int]:
    if not item.choices:
        return (0, 0)
    first = item.choices[0]
    shape = geometry(load_catalog().gpu(first.gpu_model)).shape(first.profile)
    return (-shape.memory_slices, len(shape.starts))
