"""A client that calls an external scaler exactly as KEDA does (tests, benchmarks)."""
