"""Watch streams: `?watch=1` answers 200 with one JSON object per line, `{"type", "object"}`.

- No resourceVersion, or "0": the current objects as ADDED first, then live changes.
- resourceVersion=N: every change after N from the history, then live changes; N older than
  the history is a single ERROR event carrying a 410 Expired Status, after which the server
  closes the stream (the watch cache answers this way; the client must re-list).
- allowWatchBookmarks=true: BOOKMARK events (only kind, apiVersion, metadata.resourceVersion)
  when the test calls `send_bookmarks()` and when the stream ends on timeoutSeconds.
- A change that moves an object into the selector is ADDED to this watcher, out of it DELETED,
  as the real server translates them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from tests.kube_api_server import errors
from tests.kube_api_server.resources import Resource
from tests.kube_api_server.selectors import Matcher
from tests.kube_api_server.store import Change, Store, Watcher

BOOKMARK = "bookmark"  # queue sentinel: send a bookmark now; None closes the stream
_CLIENT_CHECK_S = 0.1


def _visible(obj: dict[str, Any] | None, watcher: Watcher) -> bool:
    if obj is None:
        return False
    namespace = (obj.get("metadata") or {}).get("namespace")
    return (not watcher.namespace or namespace == watcher.namespace) and watcher.matches(obj)


def event_for(change: Change, watcher: Watcher) -> dict[str, Any] | None:
    now = change.type != "DELETED" and _visible(change.obj, watcher)
    before = _visible(change.previous, watcher)
    if change.type == "DELETED":
        kind = "DELETED" if before else None
    elif now:
        kind = "MODIFIED" if before else "ADDED"
    else:
        kind = "DELETED" if before else None
    return None if kind is None else {"type": kind, "object": change.obj}


def bookmark(resource: Resource, rv: int) -> dict[str, Any]:
    return {
        "type": "BOOKMARK",
        "object": {
            "kind": resource.kind,
            "apiVersion": resource.api_version,
            "metadata": {"resourceVersion": str(rv)},
        },
    }


async def serve_watch(
    request: web.Request,
    store: Store,
    resource: Resource,
    namespace: str | None,
    matches: Matcher,
) -> web.StreamResponse:
    query = request.query
    bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
    timeout_s = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
    since = query.get("resourceVersion", "")
    watcher = Watcher(resource, namespace, matches)
    first: list[dict[str, Any]] = []
    expired: errors.StatusError | None = None
    # One synchronous block: the backlog and the registration see the same state.
    if since in ("", "0"):
        first = [{"type": "ADDED", "object": o} for o in store.list(resource, namespace, matches)]
    else:
        try:
            backlog = store.changes_since(int(since), resource.plural)
        except errors.StatusError as exc:
            expired = exc
        else:
            first = [e for c in backlog if (e := event_for(c, watcher)) is not None]
    if expired is None:
        store.watchers.add(watcher)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        if expired is not None:
            await _send(response, {"type": "ERROR", "object": expired.status})
            return response
        for event in first:
            await _send(response, event)
        await _pump(request, response, store, watcher, bookmarks, timeout_s)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the client went away
    finally:
        store.watchers.discard(watcher)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


async def _pump(
    request: web.Request,
    response: web.StreamResponse,
    store: Store,
    watcher: Watcher,
    bookmarks: bool,
    timeout_s: float | None,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    while True:
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            if bookmarks:  # the server's goodbye: where to resume from
                await _send(response, bookmark(watcher.resource, store.rv))
            return
        # Wake up now and then to notice a client that went away (aiohttp does not cancel
        # the handler), so `open_watches()` counts only live streams.
        tick = _CLIENT_CHECK_S if left is None else min(left, _CLIENT_CHECK_S)
        try:
            item = await asyncio.wait_for(watcher.queue.get(), tick)
        except TimeoutError:
            if request.transport is None or request.transport.is_closing():
                return
            continue
        if item is None:
            return
        if item == BOOKMARK:
            if bookmarks:
                await _send(response, bookmark(watcher.resource, store.rv))
            continue
        assert isinstance(item, Change)
        event = event_for(item, watcher)
        if event is not None:
            await _send(response, event)


async def _send(response: web.StreamResponse, event: dict[str, Any]) -> None:
    await response.write(json.dumps(event).encode() + b"\n")
