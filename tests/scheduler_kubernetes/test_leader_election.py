"""Two leader electors over one Lease on the in-process API server, stepped through a timeline
by a manual clock: exactly one leads, the other takes over within the lease duration once
the leader stops renewing, and at no instant do both lead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from autoscaler.clock import ManualClock
from scheduler.kubernetes.leader_election import LeaderElector
from tests.kube_api_server import ApiServer, serve_api
from tests.kube_api_server import resources as served
from tests.scheduler_kubernetes.live_api import RecordingSleep

NS, LEASE = "prewarm", "prewarm-placement"
LEASE_S, DEADLINE_S, RETRY_S = 15.0, 10.0, 2.0
START_S = 1_765_000_000.0  # 2025-12-06: any fixed instant


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    async with serve_api() as api_server:
        yield api_server


def elector(api: Any, identity: str, clock: ManualClock, **kwargs: Any) -> LeaderElector:
    return LeaderElector(
        api,
        NS,
        LEASE,
        identity,
        clock,
        lease_duration_s=LEASE_S,
        renew_deadline_s=DEADLINE_S,
        retry_period_s=RETRY_S,
        sleep=RecordingSleep(),
        **kwargs,
    )


def lease(server: ApiServer) -> dict[str, Any]:
    return server.store.get(served.LEASES, NS, LEASE)["spec"]


async def test_exactly_one_of_two_racing_replicas_leads(server: ApiServer) -> None:
    clock = ManualClock(START_S)
    async with server.client() as api_a, server.client() as api_b:
        a, b = elector(api_a, "prewarm-0", clock), elector(api_b, "prewarm-1", clock)
        led = await asyncio.gather(a.step(), b.step())
        assert sorted(led) == [False, True]
        for _ in range(10):  # both keep stepping: nothing changes hands
            clock.advance(RETRY_S)
            await asyncio.gather(a.step(), b.step())
            assert [a.is_leader(), b.is_leader()] == led
    holder = "prewarm-0" if led[0] else "prewarm-1"
    assert lease(server)["holderIdentity"] == holder
    assert lease(server)["leaseTransitions"] == 0


async def test_takes_over_within_the_lease_duration_and_never_overlaps(
    server: ApiServer,
) -> None:
    clock = ManualClock(START_S)
    changes: list[tuple[str, float, bool]] = []
    async with server.client() as api_a, server.client() as api_b:
        a = elector(
            api_a,
            "prewarm-0",
            clock,
            on_change=lambda up: changes.append(("a", clock.now_s() - START_S, up)),
        )
        b = elector(
            api_b,
            "prewarm-1",
            clock,
            on_change=lambda up: changes.append(("b", clock.now_s() - START_S, up)),
        )
        assert await a.step()
        last_renewal_s = 0.0
        took_over_s = a_down_s = None
        # One step of each per second, b half a second behind a; a dies (stops renewing) at
        # 20 s without releasing, as a killed pod does.
        for tick in range(80):
            t = tick * 0.5
            clock.set(START_S + t)
            if tick % 2 == 0 and t <= 20:
                await a.step()
                last_renewal_s = t
            elif tick % 2 == 1 and await b.step() and took_over_s is None:
                took_over_s = t
            assert not (a.is_leader() and b.is_leader()), f"two leaders at {t} s"
            if a_down_s is None and not a.is_leader():
                a_down_s = t
    assert took_over_s is not None
    assert LEASE_S <= took_over_s - last_renewal_s <= LEASE_S + 1.0
    # a's own view ran out at its renew deadline, well before b took over.
    assert a_down_s == last_renewal_s + DEADLINE_S < took_over_s
    assert changes == [("a", 0.0, True), ("b", took_over_s, True)]
    assert lease(server)["holderIdentity"] == "prewarm-1"
    assert lease(server)["leaseTransitions"] == 1


async def test_a_leader_that_cannot_renew_stands_down_before_anyone_takes_over(
    server: ApiServer,
) -> None:
    clock = ManualClock(START_S)
    async with server.client() as api_a, server.client() as api_b:
        a, b = elector(api_a, "prewarm-0", clock), elector(api_b, "prewarm-1", clock)
        assert await a.step() and not await b.step()
        # The API server refuses a's renewals from now on (b's reads still work).
        server.faults.inject(500, times=1000, method="PUT")
        for _ in range(int(LEASE_S / RETRY_S) + 2):
            clock.advance(RETRY_S)
            await a.step()
            await b.step()
            assert not (a.is_leader() and b.is_leader())
        assert not a.is_leader() and not b.is_leader()  # b's own writes fail too
        server.faults.pending.clear()
        clock.advance(RETRY_S)
        assert await b.step() and not await a.step()


async def test_stopping_releases_the_lease_and_the_follower_takes_it_at_once(
    server: ApiServer,
) -> None:
    clock = ManualClock(START_S)
    async with server.client() as api_a, server.client() as api_b:
        a, b = elector(api_a, "prewarm-0", clock), elector(api_b, "prewarm-1", clock)
        runner = asyncio.create_task(a.run())
        while not a.is_leader():
            await asyncio.sleep(0)
        assert not await b.step()
        a.stop()
        await runner
        assert not a.is_leader() and lease(server).get("holderIdentity") is None
        clock.advance(0.5)  # far less than the lease duration
        assert await b.step()
    assert lease(server)["holderIdentity"] == "prewarm-1"
