"""The KEDA-facing face: gRPC external scaler, fed by background decisions."""
