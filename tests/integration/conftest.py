"""Fixtures for tests against a real Prometheus (Debian package `prometheus`, with promtool).

Without the binaries the tests skip with the reason; with CI=true they fail instead, so CI
cannot go green without having run them. `make test` installs the package when it can.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.prometheus_server import PrometheusFactory, require_binary


@pytest.fixture(scope="session")
def prometheus_binary() -> Path:
    return require_binary("prometheus")


@pytest.fixture(scope="session")
def promtool_binary() -> Path:
    return require_binary("promtool")


@pytest.fixture
def prometheus_factory(
    prometheus_binary: Path, promtool_binary: Path, tmp_path: Path
) -> Iterator[PrometheusFactory]:
    """`prometheus_factory(targets=[...], scrape_interval_s=1.0, history=samples)` returns a
    started PrometheusServer; all of them are stopped after the test."""
    factory = PrometheusFactory(prometheus_binary, promtool_binary, tmp_path)
    yield factory
    factory.close()
