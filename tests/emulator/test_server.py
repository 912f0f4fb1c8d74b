"""A real HTTP scrape of the emulator on a free loopback port."""

from __future__ import annotations

import httpx
import pytest

from simulations.emulator import EmulatorServer
from tests.emulator.helpers import constant_trace, fleet, parse


def test_metrics_over_http_advance_between_scrapes() -> None:
    emulated, clock = fleet(constant_trace(), replicas=4)
    clock.advance(10.0)
    with EmulatorServer(emulated) as server, httpx.Client(base_url=server.url) as client:
        assert server.port > 0
        first = client.get("/metrics")
        clock.advance(5.0)
        second = client.get("/metrics")
    assert first.status_code == second.status_code == 200
    assert first.headers["content-type"].startswith("text/plain; version=0.0.4")

    def total(text: str) -> float:
        family = parse(text)["vllm:prompt_tokens"]
        return sum(s.value for s in family.samples)  # type: ignore[attr-defined]

    assert total(first.text) == pytest.approx(10 * 10 * 2000)
    assert total(second.text) == pytest.approx(15 * 10 * 2000)


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [("/healthz", 200, "ok\n"), ("/nothing", 404, None), ("/metrics?x=1", 200, None)],
    ids=["healthz", "unknown-path", "query-string"],
)
def test_other_paths(path: str, status: int, body: str | None) -> None:
    emulated, _ = fleet()
    with EmulatorServer(emulated) as server:
        response = httpx.get(server.url + path)
    assert response.status_code == status
    if body is not None:
        assert response.text == body


def test_legacy_names_over_http() -> None:
    emulated, _ = fleet()
    with EmulatorServer(emulated, legacy_names=True) as server:
        text = httpx.get(server.url + "/metrics").text
    assert "vllm:gpu_cache_usage_perc" in parse(text)


def test_stop_closes_the_port_and_start_twice_is_an_error() -> None:
    emulated, _ = fleet()
    server = EmulatorServer(emulated).start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
        url = server.url
    finally:
        server.stop()
    server.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthz", timeout=2.0)
