"""The real-Prometheus fixtures of tests/integration, reused (CI=true: fail, not skip)."""

from __future__ import annotations

from tests.integration.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    prometheus_binary,
    prometheus_factory,
    promtool_binary,
)
