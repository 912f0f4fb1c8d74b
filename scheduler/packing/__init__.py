"""Packing replicas onto MIG slices: geometry, exact ILP, heuristic, bounds, baselines."""
