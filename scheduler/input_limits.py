"""How large a placement input may be: past these, `prewarm place` is refused before planning.

Measured with `prewarm place` (benchmarks/placement.py plans 5,000 replicas over 2,000 GPUs):
100,000 GPUs on 8-GPU nodes read and plan in ~14 s and 0.7 GB, 100,000 slice replicas in
~30-45 s. The exact solver sees every empty GPU of a node at once, so 2,000 GPUs on one node
took 17 s and 200,000 ran past 200 s; 1,000,000 replicas took 120 s and 1.6 GB, 1e12 ended
in a MemoryError.
"""

from __future__ import annotations

# The largest GPU nodes have 16 GPUs (8 is usual): four times that.
MAX_GPUS_PER_NODE = 64
# A multi-node replica spans a few nodes (the 405B example: 2); a 64-node one is a cluster.
MAX_NODES_PER_REPLICA = 64
# A GPU holds at most 7 MIG instances (7 compute slices on every catalog GPU).
MAX_MIG_PER_GPU = 7
# 50x the benchmark's 2,000 GPUs.
MAX_INVENTORY_GPUS = 100_000
# 20x the benchmark's 5,000 replicas; whole GPUs asked for in all, as many as an inventory.
MAX_DEMAND_REPLICAS = 100_000
MAX_DEMAND_GPUS = 100_000
