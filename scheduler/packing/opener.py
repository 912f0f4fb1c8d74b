"""Which empty GPU to open next, per GPU model: the cheapest way to add one GPU to the plan.

Order: an empty GPU on a node the plan already pays for (free), then a GPU on an existing idle
node (no provisioning wait), cheapest per GPU first, then a node to provision from the instance
types, cheapest per GPU first, while `available` lasts. Opening a GPU on a node moves that
node's other empty GPUs to the front, so replicas fill a node before another is paid for.

Mutable on purpose (a cursor over the fleet while one solver runs); never shared between runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from scheduler.packing.problem import GpuSlot, Problem, Provision


class GpuOpener:
    def __init__(self, problem: Problem, closed: set[int]) -> None:
        """`closed`: indices of empty GPUs of `problem.gpus` that may be opened."""
        self.gpus: list[GpuSlot] = list(problem.gpus)
        self.paid_nodes: set[str] = set(problem.used_nodes)
        self._hot: dict[str, list[int]] = defaultdict(list)  # gpu model -> GPUs on paid nodes
        by_node: dict[str, list[int]] = defaultdict(list)
        for i in sorted(closed):
            by_node[self.gpus[i].node].append(i)
        cold: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self._node_gpus = dict(by_node)
        for node, members in by_node.items():
            g = self.gpus[members[0]]
            if node in self.paid_nodes:
                self._hot[g.gpu_model].extend(reversed(members))
            else:
                per_gpu = g.node_price_per_hour / max(1, len(members))
                cold[g.gpu_model].append((per_gpu, node))
        # Stacks: the cheapest at the end, so pop() takes it.
        self._cold = {m: [n for _, n in sorted(v, reverse=True)] for m, v in cold.items()}
        self._provision: dict[str, list[Provision]] = defaultdict(list)
        for p in sorted(
            problem.provision,
            key=lambda p: p.instance_type.price_per_hour / p.instance_type.gpus,
        ):
            if p.remaining > 0:
                self._provision[p.instance_type.gpu_model].append(p)
        self.provisioned: list[str] = []  # new node names, in order

    def open(self, gpu_model: str) -> int | None:
        """Index of a newly opened empty GPU of `gpu_model`, or None if none is left."""
        hot = self._hot[gpu_model]
        if not hot:
            cold = self._cold.get(gpu_model, [])
            if cold:
                self._pay(cold.pop())
            elif not self._provision_node(gpu_model):
                return None
        return hot.pop()

    def peek_nodes(self, gpu_model: str, gpus_wanted: int) -> list[int]:
        """Open whole nodes until `gpus_wanted` empty GPUs of the model are at hand (or none
        are left) and return them all: the exact solver's candidates, in opening order."""
        while len(self._hot[gpu_model]) < gpus_wanted:
            cold = self._cold.get(gpu_model, [])
            if cold:
                self._pay(cold.pop())
            elif not self._provision_node(gpu_model):
                break
        return list(reversed(self._hot[gpu_model]))

    def _pay(self, node: str) -> None:
        self.paid_nodes.add(node)
        members = self._node_gpus[node]
        self._hot[self.gpus[members[0]].gpu_model].extend(reversed(members))

    def _provision_node(self, gpu_model: str) -> bool:
        queue = self._provision.get(gpu_model, [])
        while queue and queue[0].remaining <= 0:
            queue.pop(0)
        if not queue:
            return False
        p = queue[0]
        t = p.instance_type
        node = p.node_name(p.next_index)
        queue[0] = replace(p, remaining=p.remaining - 1, next_index=p.next_index + 1)
        start = len(self.gpus)
        for _ in range(t.gpus):
            self.gpus.append(
                GpuSlot(node, "", t.gpu_model, t.name, t.zone, t.price_per_hour, existing=False)
            )
        self._node_gpus[node] = list(range(start, len(self.gpus)))
        self.provisioned.append(node)
        self._pay(node)
        return True
