"""The replica set when replicas must be placed on an inventory (`simulate --inventory`).

Same face as `ReplicaSet` (ready, requested, advance_to, scale_to), plus `unplaced`:
- Scale-up asks the placer for every replica not placed yet (those left pending before and the
  new ones). A replica on a node that exists starts its cold start now; one on a node being
  provisioned starts it when the node is up (`node_provision_s` after the plan that made it).
  The rest stay pending: no node, no cost, no service, retried at the next scale-up.
- Scale-down releases from the highest index, as the placement controller does: pending
  replicas first (they are the newest), then the most recently placed (usually still
  starting), whose slots go back to the inventory.
- The warm fleet the replay starts with is placed at t = 0 and serves at once where it fits
  (even on nodes provisioned for it: they were up before the replay); what does not fit waits.
Pending replicas are placed only at a scale-up: on one model's fleet nothing else frees
capacity, since a scale-down releases every pending replica before it frees a slot.
"""

from __future__ import annotations

import bisect

import numpy as np

from simulations.fleet.placement import Placer, Slot
from simulations.run_result import PlacementTotals


class PlacedReplicaSet:
    def __init__(
        self,
        *,
        initial_ready: int,
        cold_start_s: float,
        jitter: float,
        rng: np.random.Generator,
        placer: Placer,
    ) -> None:
        self.cold_start_s = cold_start_s
        self.jitter = jitter
        self._rng = rng
        self._placer = placer
        self._placed: list[tuple[float, tuple[Slot, ...]]] = []  # (ready time, slots) by index
        self._starting: list[float] = []  # ready times of placed replicas still starting
        self._now_s = 0.0
        self._waited = 0
        self._never_started = 0
        warm = placer.place(initial_ready, 0.0, warm=True)
        self._placed = [(0.0, p.slots) for p in warm]
        self._ready = len(warm)
        self._pending = initial_ready - len(warm)

    @property
    def ready(self) -> int:
        return self._ready

    @property
    def requested(self) -> int:
        """Replicas costing GPU time: placed ones, starting or ready (pending ones cost none)."""
        return len(self._placed)

    @property
    def unplaced(self) -> int:
        return self._pending

    def totals(self) -> PlacementTotals:
        return PlacementTotals(
            nodes_provisioned=self._placer.nodes_provisioned,
            replicas_waited_for_nodes=self._waited,
            replicas_never_started=self._never_started + self._pending,
        )

    def advance_to(self, now_s: float) -> None:
        self._now_s = now_s
        done = bisect.bisect_right(self._starting, now_s)
        if done:
            self._ready += done
            del self._starting[:done]

    def scale_to(self, desired: int, now_s: float) -> bool:
        """Returns True when the replica count (placed or not) changed."""
        desired = max(0, int(desired))
        current = len(self._placed) + self._pending
        if desired > current:
            want = desired - len(self._placed)
            placed = self._placer.place(want, now_s)
            factors = self._rng.uniform(1 - self.jitter, 1 + self.jitter, size=len(placed))
            for p, f in zip(placed, factors, strict=True):
                begins_s = max(now_s, p.node_ready_s)
                self._waited += begins_s > now_s
                ready_s = begins_s + self.cold_start_s * float(f)
                bisect.insort(self._starting, ready_s)
                self._placed.append((ready_s, p.slots))
            self._pending = want - len(placed)
            return True
        if desired < current:
            remove = current - desired
            pending = min(remove, self._pending)
            self._pending -= pending
            self._never_started += pending
            for _ in range(remove - pending):
                ready_s, slots = self._placed.pop()
                self._placer.release(slots)
                if ready_s <= self._now_s:
                    self._ready -= 1
                else:
                    del self._starting[bisect.bisect_left(self._starting, ready_s)]
            return True
        return False
