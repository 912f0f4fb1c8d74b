"""The exchange hears peers over real HTTP: skips itself, forgets the silent, names nothing
it cannot parse. (Agreement on what is heard: test_peer_agreement.py.)"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from autoscaler.clock import ManualClock
from autoscaler.scaler.peers.exchange import REPORT_PATH, PeerExchange, PeerSettings
from autoscaler.scaler.peers.report import target_key
from tests.scaler.scaler_helpers import START_S, target


class Peer:
    """A replica's HTTP face, answering whatever report (or status) the test sets."""

    def __init__(self) -> None:
        self.body: bytes = b"{}"
        self.status = 200
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                assert self.path == REPORT_PATH
                self.send_response(peer.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(peer.body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll: shutdown() waits up to one (0.5 s by default) for the serving thread.
        serve = functools.partial(self.server.serve_forever, poll_interval=0.01)
        threading.Thread(target=serve, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def report(self, instance: str, replicas: int) -> None:
        decision = {
            "target": list(target_key(target())),
            "tracked_since_s": START_S - 60,
            "t_s": START_S,
            "replicas": replicas,
            "valid": True,
            "reason": "r",
        }
        self.body = json.dumps({"instance": instance, "decisions": [decision]}).encode()


@pytest.fixture
def peers() -> Iterator[tuple[Peer, Peer]]:
    a, b = Peer(), Peer()
    yield a, b
    a.server.shutdown()
    b.server.shutdown()


async def test_hears_others_skips_itself_and_forgets_the_silent(peers: tuple[Peer, Peer]) -> None:
    me, other = peers
    me.report("me", 1)
    other.report("other", 7)
    clock = ManualClock(START_S)
    changes: list[int] = []
    exchange = PeerExchange(
        PeerSettings("me", (me.url, other.url), every_s=5.0, timeout_s=2.0),
        clock,
        on_change=lambda: changes.append(1),
    )
    key = target_key(target())
    async with httpx.AsyncClient(timeout=2.0) as client:
        await exchange.poll_once(client)
        assert exchange.peers() == ["other"]
        assert [d.replicas for d in exchange.candidates(key)] == [7]
        assert changes == [1]
        await exchange.poll_once(client)  # nothing new: nobody is told
        assert changes == [1]

        other.status = 503  # restarting: heard last 10 s ago, still counted
        clock.advance(10)
        await exchange.poll_once(client)
        assert [d.replicas for d in exchange.candidates(key)] == [7]
        clock.advance(6)  # silent for 16 s, over three 5 s polls: forgotten
        await exchange.poll_once(client)
        assert exchange.candidates(key) == [] and changes == [1, 1]

        other.status = 200
        other.body = b'{"instance": "other", "decisions": [{"replicas": -3}]}'  # not a report
        await exchange.poll_once(client)
        assert exchange.peers() == []


async def test_the_exchange_polls_every_interval_on_its_clock(peers: tuple[Peer, Peer]) -> None:
    _, other = peers
    other.report("other", 7)
    clock = ManualClock(START_S)
    exchange = PeerExchange(PeerSettings("me", (other.url,), every_s=5.0, timeout_s=2.0), clock)
    running = asyncio.create_task(exchange.run())
    try:
        await clock.sleeping(1)  # the first poll, at once; then parked for 5 s
        assert exchange.peers() == ["other"]
        other.status = 503
        for _ in range(3):  # silent for 15 s: not yet over three 5 s polls
            await clock.tick(5.0)
            await clock.sleeping(1)
        assert exchange.peers() == ["other"]
        await clock.tick(5.0)
        await clock.sleeping(1)
        assert exchange.peers() == []  # 20 s: forgotten, by the loop on the clock
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
