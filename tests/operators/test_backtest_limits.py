"""The operators' backtest endpoint runs in the scaler's process: its cost is bounded (steps,
origins, slow kinds) and one runs at a time. Real HTTP, as an operator's client sees it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from autoscaler.http import admin_api
from tests.operators.test_operators_api import MODEL, TOKEN, Server, start_server

AUTH = {"Authorization": f"Bearer {TOKEN}"}
URL = f"/models/{MODEL}/backtest"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async for s in start_server(tmp_path, TOKEN):
        yield s


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"bucket_s": 10, "horizon_s": 86400}, ["horizon_s", "8640 buckets", "at most 64"]),
        ({"bucket_s": 10, "lookback_s": 14 * 86400}, ["lookback_s", "at most 20,160"]),
        ({"forecasters": ["last-value", "arima-per-interval"]}, ["forecasters", "arima-per"]),
        ({"forecasters": []}, ["forecasters", "at least 1 item"]),
        # Prometheus steps are whole milliseconds: a fractional bucket drifts off the grid
        # and its samples overlap (this was a 500, "segments overlap").
        ({"bucket_s": 60.7, "lookback_s": 6 * 3600}, ["bucket_s", "multiple of 1"]),
    ],
    ids=["horizon-steps", "origins", "slow-kind", "no-kinds", "fractional-bucket"],
)
async def test_a_costly_or_empty_backtest_is_rejected_naming_the_field_and_limit(
    server: Server, body: dict[str, Any], names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the backtest ran")  # and with these bodies it could take hours

    monkeypatch.setattr(admin_api, "backtest_document", must_not_run)
    response = await server.client.post(URL, json=body, headers=AUTH, timeout=120)
    assert response.status_code == 422, response.text
    for name in names:
        assert name in response.text


async def test_one_backtest_at_a_time(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    real = admin_api.backtest_document

    def held(*args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(admin_api, "backtest_document", held)
    body = {"lookback_s": 6 * 3600, "forecasters": ["last-value"]}
    first = asyncio.create_task(server.client.post(URL, json=body, headers=AUTH, timeout=120))
    try:
        assert await asyncio.to_thread(started.wait, 30)
        second = await server.client.post(URL, json=body, headers=AUTH)
        assert second.status_code == 429
        assert "already running" in second.json()["detail"]
    finally:
        release.set()
    assert (await first).status_code == 200
    third = await server.client.post(URL, json=body, headers=AUTH, timeout=120)
    assert third.status_code == 200, third.text  # the slot is free again


async def test_a_source_answering_off_the_asked_grid_is_a_502(server: Server) -> None:
    # The fake's history is minutes whatever step is asked: 120 s buckets overlap (was a 500).
    body = {"bucket_s": 120, "lookback_s": 6 * 3600, "forecasters": ["last-value"]}
    response = await server.client.post(URL, json=body, headers=AUTH, timeout=120)
    assert response.status_code == 502, response.text
    assert "does not fit the grid: segments overlap" in response.json()["detail"]
