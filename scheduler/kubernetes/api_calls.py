"""JSON calls through kubernetes-asyncio's ApiClient, and how to read the errors they raise.

`call_json` returns the decoded body and raises `ApiException` (status, body, headers) for any
non-2xx answer. `open_watch` returns the open streaming response of a `?watch=true` GET; the
caller reads lines from it and must release it.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

Query = list[tuple[str, Any]]
RETRIABLE = frozenset({409, 429, 500, 502, 503, 504})


async def call_json(
    api: ApiClient,
    method: str,
    path: str,
    *,
    query: Query | None = None,
    body: Any = None,
    content_type: str | None = None,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    result = await api.call_api(
        path,
        method,
        query_params=query or [],
        header_params=headers,
        body=body,
        response_types_map={200: "object", 201: "object", 202: "object"},
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
        _request_timeout=timeout_s,
    )
    return result if isinstance(result, dict) else {}


async def open_watch(
    api: ApiClient, path: str, query: Query, timeout_s: float | None
) -> aiohttp.ClientResponse:
    """The stream of a watch; a non-200 answer is raised as ApiException (status, body)."""
    response = await api.call_api(
        path,
        "GET",
        query_params=[*query, ("watch", "true")],
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
        _preload_content=False,
        _request_timeout=timeout_s,
    )
    if response.status != 200:
        body = await response.text()
        response.release()
        error = ApiException(status=response.status, reason=response.reason)
        error.body = body
        error.headers = response.headers
        raise error
    return response


def status_of(exc: BaseException) -> int | None:
    return exc.status if isinstance(exc, ApiException) else None


def status_body(exc: ApiException) -> dict[str, Any]:
    """The metav1.Status the server sent, or {} when the body is not one."""
    try:
        body = json.loads(exc.body) if exc.body else {}
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def retry_after_s(exc: BaseException) -> float | None:
    """The server's Retry-After in seconds (429 and some 5xx carry it), else None."""
    headers = getattr(exc, "headers", None)
    if not headers:
        return None
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
