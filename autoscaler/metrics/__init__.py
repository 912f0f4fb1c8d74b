"""Where observations come from: Prometheus in production, the emulator in demos."""
