"""Which empty GPU to open next, per GPU model: the cheapest way to add one GPU to the plan.

Order: an empty GPU on a node the plan already pays for (free), then a GPU on an existing idle
node (no provisioning wait), cheapest per GPU first, then a node to provision from the instance
types, cheapest per GPU first, while `available` lasts. Opening a GPU on a node moves that
node's other empty GPUs to the front, so replicas fill a node before another is paid for.
Empty GPUs are filed by (node, GPU model): on a node with two models each model's GPUs serve
that model's slices, and paying for the node for one model makes the other's free too.

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
        # node -> gpu model -> its closed GPUs. By (node, model), not by node: a node may hold
        # GPUs of two models, and each model's GPUs are offered to that model's slices.
        self._node_gpus: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for i in sorted(closed):
            self._node_gpus[self.gpus[i].node][self.gpus[i].gpu_model].append(i)
        self._opened: set[str] = set()  # nodes whose closed GPUs are in `_hot`
        cold: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for node, by_model in self._node_gpus.items():
            if node in self.paid_nodes:
                self._pay(node)
                continue
            for model, members in by_model.items():
                per_gpu = self.gpus[members[0]].node_price_per_hour / len(members)
                cold[model].append((per_gpu, node))
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
        while not hot:
            if not self._open_node(gpu_model):
                return None
        return hot.pop()

    def peek_nodes(self, gpu_model: str, gpus_wanted: int) -> list[int]:
        """Open whole nodes until `gpus_wanted` empty GPUs of the model are at hand (or none
        are left) and return them all: the exact solver's candidates, in opening order."""
        while len(self._hot[gpu_model]) < gpus_wanted and self._open_node(gpu_model):
            pass
        return list(reversed(self._hot[gpu_model]))

    def _open_node(self, gpu_model: str) -> bool:
        """Pay for one more node with empty GPUs of the model: idle existing, else new."""
        cold = self._cold.get(gpu_model, [])
        while cold:
            node = cold.pop()
            if node not in self._opened:  # a mixed node opened for its other model is skipped
                self._pay(node)
                return True
        return self._provision_node(gpu_model)

    def _pay(self, node: str) -> None:
        """Every empty GPU of a paid node is free to use, whatever its model."""
        self.paid_nodes.add(node)
        if node in self._opened:
            return
        self._opened.add(node)
        for model, members in self._node_gpus.get(node, {}).items():
            self._hot[model].extend(reversed(members))

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
        self._node_gpus[node][t.gpu_model] = list(range(start, len(self.gpus)))
        self.provisioned.append(node)
        self._pay(node)
        return True
