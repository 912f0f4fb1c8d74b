"""Plans built by hand (no packer): the shapes the Kubernetes side must handle."""

from __future__ import annotations

from scheduler.plan import Assignment, Plan, Unplaced

LLAMA_8B = "meta-llama/Llama-3.1-8B"
QWEN = "Qwen/Qwen2.5-7B-Instruct"
LLAMA_405B = "meta-llama/Llama-3.1-405B-Instruct"

H100_A = "GPU-5d1c9a2e-0b7f-4c3a-9e21-7a1f4c2b9d01"
H100_B = "GPU-8e2f3b4c-1d6a-4f7b-a832-6b2e5d3c0e02"
A100_A = "GPU-2c4e6a8b-3d5f-4a7c-9e1b-0d2f4a6c8e01"
NODE_H100 = "ip-10-0-12-34.ec2.internal"
NODE_A100 = "ip-10-0-45-67.ec2.internal"


def mig(
    replica: str, model: str, gpu: str, profile: str, start: int | None, **kw: object
) -> Assignment:
    fields: dict[str, object] = {
        "replica": replica,
        "model": model,
        "node": NODE_H100,
        "gpu": gpu,
        "gpu_model": "H100-80GB",
        "profile": profile,
        "start": start,
        "instance_type": "p5.48xlarge",
        "zone": "us-east-1a",
    }
    fields.update(kw)
    return Assignment(**fields)  # type: ignore[arg-type]


def whole(replica: str, model: str, node: str, gpu: str, **kw: object) -> Assignment:
    return mig(replica, model, gpu, "whole", None, node=node, **kw)


def multi_node_group(replica: str, nodes: list[str], zone: str = "us-west-2b") -> list[Assignment]:
    """One 405B replica: 8 whole H100s on each of `nodes` (p5.48xlarge), one zone."""
    out = []
    for n, node in enumerate(nodes):
        for g in range(8):
            gpu = (
                ""
                if node.startswith("new:")
                else f"GPU-{n:04d}{g:04d}-0000-4000-8000-00000000{g:04d}"
            )
            out.append(whole(replica, LLAMA_405B, node, gpu, zone=zone))
    return out


def mixed_plan() -> Plan:
    """8B on two 3g slices of one H100 and one of another; Qwen on a 1g slice and a whole A100;
    405B as one group on two existing nodes plus one on two nodes still to be provisioned."""
    assignments = [
        mig("llama-8b/0", LLAMA_8B, H100_A, "3g.40gb", 0, kept=True),
        mig("llama-8b/1", LLAMA_8B, H100_A, "3g.40gb", 4),
        mig("llama-8b/2", LLAMA_8B, H100_B, "3g.40gb", 4),
        mig("qwen/0", QWEN, H100_B, "1g.10gb", 0),
        whole(
            "qwen/1",
            QWEN,
            NODE_A100,
            A100_A,
            gpu_model="A100-40GB",
            instance_type="p4d.24xlarge",
            zone="us-east-1b",
        ),
        *multi_node_group(
            "405b/0",
            ["ip-10-1-0-1.us-west-2.compute.internal", "ip-10-1-0-2.us-west-2.compute.internal"],
        ),
        *multi_node_group("405b/1", ["new:p5.48xlarge-0", "new:p5.48xlarge-1"], zone="us-west-2c"),
    ]
    return Plan(
        gpus_used=22,
        lower_bound_gpus=21,
        cost_per_hour=412.5,
        moves=1,
        assignments=tuple(assignments),
        unplaced=(Unplaced("mistral/0", "mistralai/Mistral-7B", "no capacity in any zone"),),
        reasons=("us-west-2b short of p5: 405b/1 falls back to us-west-2c",),
        solver="exact",
    )
