"""The informer against the in-process API server over real HTTP: it follows adds, updates and
deletes, resumes a closed watch from where it stopped, re-lists after 410 Gone without
repeating or losing a change, and backs off (jittered, Retry-After as a floor) on errors."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from scheduler.kubernetes.api_calls import call_json
from scheduler.kubernetes.api_resources import NODES, PODS
from scheduler.kubernetes.backoff import Backoff
from scheduler.kubernetes.informer import Change, Informer
from tests.kube_api_server import ApiServer, serve_api
from tests.kube_api_server import resources as served
from tests.scheduler_kubernetes.dra_devices import recorded
from tests.scheduler_kubernetes.live_api import RecordingSleep, pod, running, wait_until


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    async with serve_api() as api_server:
        api_server.seed(served.NODES, *recorded("nodes.json")["items"])
        api_server.seed(served.PODS, *recorded("pods.json")["items"])
        yield api_server


def informer(
    api: object, resource: object, seen: list[Change], sleep: RecordingSleep, **kwargs: object
) -> Informer:
    return Informer(
        api,  # type: ignore[arg-type]
        resource,  # type: ignore[arg-type]
        on_change=seen.append,
        backoff=Backoff(sleep=sleep, rng=random.Random(7)),
        rng=random.Random(7),
        **kwargs,  # type: ignore[arg-type]
    )


def server_keys(server: ApiServer, plural: str) -> dict[str, str]:
    return {
        (f"{ns}/{name}" if ns else name): obj["metadata"]["resourceVersion"]
        for (p, ns, name), obj in server.store.objects.items()
        if p == plural
    }


def informer_keys(inf: Informer) -> dict[str, str]:
    return {k: o["metadata"]["resourceVersion"] for k, o in inf.store.items()}


async def test_lists_then_follows_adds_updates_and_deletes(server: ApiServer) -> None:
    seen: list[Change] = []
    async with server.client() as api, server.client() as other:
        inf = informer(api, NODES, seen, RecordingSleep())
        async with running(inf.run()):
            await wait_until(inf.synced.is_set, "the first list")
            assert {c.key for c in seen} == set(server_keys(server, "nodes"))
            assert {c.type for c in seen} == {"ADDED"}
            await wait_until(lambda: server.open_watches("nodes") == 1, "the watch is open")
            seen.clear()

            # Hand-made: a bare Node, as a node registering itself starts out.
            node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ip-10-0-99-1"}}
            await call_json(other, "POST", NODES.collection_path(), body=node)
            name = "ip-10-0-3-200.ec2.internal"
            current = await call_json(other, "GET", NODES.object_path(None, name))
            current["metadata"]["labels"]["prewarm.dev/test"] = "relabelled"
            await call_json(other, "PUT", NODES.object_path(None, name), body=current)
            await call_json(other, "DELETE", NODES.object_path(None, "ip-10-0-90-11.ec2.internal"))

            await wait_until(lambda: len(seen) == 3, "three changes arrived")
            assert [(c.type, c.key) for c in seen] == [
                ("ADDED", "ip-10-0-99-1"),
                ("MODIFIED", name),
                ("DELETED", "ip-10-0-90-11.ec2.internal"),
            ]
            assert seen[1].old is not None and seen[1].new is not None
            assert seen[1].new["metadata"]["labels"]["prewarm.dev/test"] == "relabelled"
            assert informer_keys(inf) == server_keys(server, "nodes")
            assert inf.lists == 1


async def test_resumes_a_closed_watch_from_its_resource_version(server: ApiServer) -> None:
    seen: list[Change] = []
    async with server.client() as api:
        inf = informer(api, PODS, seen, RecordingSleep(), namespace="llm")
        async with running(inf.run()):
            await wait_until(lambda: server.open_watches("pods") == 1, "the watch is open")
            seen.clear()
            # Changes while no watch is open: the informer must get them from the history.
            server.close_watches()
            store = server.store
            store.create(served.PODS, "llm", pod("added-while-away"), "test")
            store.delete(served.PODS, "llm", "vllm-llama-3-1-70b-1")
            await wait_until(lambda: len(seen) == 2, "both changes arrived")
            # A write elsewhere moves the RV past the last pod event; a bookmark says so.
            store.create(served.CONFIGMAPS, "llm", {"metadata": {"name": "c"}}, "test")
            assert inf.resource_version != str(store.rv)
            server.send_bookmarks()
            await wait_until(lambda: inf.resource_version == str(store.rv), "the bookmark")

        assert [(c.type, c.key) for c in seen] == [
            ("ADDED", "llm/added-while-away"),
            ("DELETED", "llm/vllm-llama-3-1-70b-1"),
        ]
        assert inf.lists == 1 and inf.watches == 2
        watches = server.faults.requests("GET", "/pods")[1:]
        assert [r.query.get("watch") for r in watches] == ["true", "true"]
        # Nothing arrived on the first watch: the second resumes from the same RV, not a list.
        assert watches[1].query["resourceVersion"] == watches[0].query["resourceVersion"]


async def test_410_gone_relists_without_repeating_or_losing_a_change(server: ApiServer) -> None:
    seen: list[Change] = []
    async with server.client() as api:
        inf = informer(api, PODS, seen, RecordingSleep())
        async with running(inf.run()):
            await wait_until(lambda: server.open_watches("pods") == 1, "the watch is open")
            seen.clear()
            before = informer_keys(inf)
            # One synchronous block: the watch ends before the changes, the history is gone
            # before the informer can resume from it.
            server.close_watches()
            store = server.store
            store.delete(served.PODS, "llm", "vllm-llama-3-1-70b-1")
            store.create(served.PODS, "llm", pod("new-0"), "test")
            moved = store.get(served.PODS, "llm", "vllm-llama-3-1-70b-0")
            moved["metadata"]["labels"]["prewarm.dev/test"] = "1"
            store.replace(served.PODS, "llm", "vllm-llama-3-1-70b-0", moved, "test")
            server.compact()

            await wait_until(lambda: inf.lists == 2, "the re-list")
            await wait_until(lambda: server.open_watches("pods") == 1, "the new watch")
            # And a change after the re-list arrives through the new watch.
            store.create(served.PODS, "llm", pod("new-1"), "test")
            await wait_until(lambda: len(seen) == 4, "four changes")

        assert sorted((c.type, c.key) for c in seen) == [
            ("ADDED", "llm/new-0"),
            ("ADDED", "llm/new-1"),
            ("DELETED", "llm/vllm-llama-3-1-70b-1"),
            ("MODIFIED", "llm/vllm-llama-3-1-70b-0"),
        ]
        assert Counter(c.key for c in seen).most_common(1)[0][1] == 1  # none twice
        assert informer_keys(inf) == server_keys(server, "pods")
        assert len(before) == 3  # the recorded pods, none of them re-announced
        lists = [r for r in server.faults.requests("GET", "/pods") if "watch" not in r.query]
        assert len(lists) == 2  # the first list and the one 410 Gone forced, no more


async def test_backs_off_with_jitter_on_500_and_honours_retry_after(server: ApiServer) -> None:
    seen: list[Change] = []
    sleep = RecordingSleep()
    server.faults.inject(500, times=3, method="GET", path_contains="/nodes", watch=False)
    server.faults.inject(429, times=1, path_contains="/nodes", watch=True, retry_after_s=7)
    server.faults.inject(503, times=2, path_contains="/nodes", watch=True)
    async with server.client() as api:
        inf = informer(api, NODES, seen, sleep)
        async with running(inf.run()):
            await wait_until(lambda: server.open_watches("nodes") == 1, "the watch is open")

    assert inf.lists == 1 and inf.failures == 6
    assert len(sleep.delays) == 6
    # Full jitter under a doubling ceiling (0.5, 1, 2 s) while the list fails...
    for n, delay in enumerate(sleep.delays[:3]):
        assert 0.0 <= delay <= 0.5 * 2**n
    # ...a successful list resets it; the 429's Retry-After is a floor...
    assert sleep.delays[3] >= 7.0
    # ...and the ceiling keeps doubling while the watch keeps failing.
    assert sleep.delays[4] <= 1.0 and sleep.delays[5] <= 2.0
    assert len(set(sleep.delays)) == 6  # jittered, not in step
    assert {c.type for c in seen} == {"ADDED"} and len(seen) == 5


async def test_a_410_http_answer_to_a_watch_relists_at_once(server: ApiServer) -> None:
    """Without a watch cache the server answers an old RV with HTTP 410, not an event."""
    seen: list[Change] = []
    sleep = RecordingSleep()
    server.faults.inject(410, times=1, path_contains="/nodes", watch=True)
    async with server.client() as api:
        inf = informer(api, NODES, seen, sleep)
        async with running(inf.run()):
            await wait_until(lambda: server.open_watches("nodes") == 1, "the watch is open")
    assert inf.lists == 2 and inf.failures == 0 and sleep.delays == []
    assert len(seen) == 5  # the re-list found nothing new to announce
