"""GPU placement: MIG/DRA slices, instance types and zones (not built yet)."""
