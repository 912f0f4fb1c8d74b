"""GPU placement: MIG slices through DRA claims or whole GPUs, one instance type and zone per
multi-node replica, the placement controller loop and its Kubernetes adapters.

Builds on autoscaler/ (its clock and decisions); imports neither simulations/ nor the CLI.
"""
