"""KEDA external-scaler protocol (externalscaler.proto) and its stubs (not built yet)."""
