"""The HTTP face: kube-apiserver's URL layout and verbs over the store, as an aiohttp app.

    GET    {prefix}[/namespaces/{ns}]/{plural}          list, or watch with ?watch=1
    POST   {prefix}/namespaces/{ns}/{plural}            create
    GET    .../{plural}/{name}                          get
    PUT    .../{plural}/{name}[/status]                 replace (resourceVersion checked)
    PATCH  .../{plural}/{name}                          apply (application/apply-patch+yaml),
                                                        merge (merge-patch+json), json-patch
    DELETE .../{plural}/{name}                          delete (DeleteOptions preconditions)

Strategic merge patch is refused with 415: only the real server knows each type's patch
strategy, and a test double that guessed would hide client bugs.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import jsonpatch
import yaml
from aiohttp import web

from tests.kube_api_server import errors
from tests.kube_api_server.faults import REASONS, Faults, Logged
from tests.kube_api_server.resources import ALL, Resource
from tests.kube_api_server.selectors import field_matcher, label_matcher
from tests.kube_api_server.store import Store
from tests.kube_api_server.watch import serve_watch

_BY_PREFIX = {(r.prefix, r.plural): r for r in ALL}
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class Target:
    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None


def parse_path(path: str) -> Target:
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 2:
        prefix, rest = f"/api/{parts[1]}", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        prefix, rest = f"/apis/{parts[1]}/{parts[2]}", parts[3:]
    else:
        raise errors.StatusError(
            errors.status(404, "NotFound", "the server could not find the requested resource")
        )
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource = _BY_PREFIX.get((prefix, rest[0] if rest else ""))
    unknown = resource is None or len(rest) > 3
    if resource is not None and namespace is not None and not resource.namespaced:
        unknown = True
    if resource is not None and namespace is None and resource.namespaced and len(rest) > 1:
        unknown = True  # a namespaced object is only addressed inside its namespace
    if unknown or resource is None:
        raise errors.StatusError(
            errors.status(404, "NotFound", "the server could not find the requested resource")
        )
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub not in (None, "status"):
        raise errors.StatusError(errors.status(404, "NotFound", f"no subresource {sub}"))
    return Target(resource, namespace, name, sub)


def _manager(request: web.Request) -> str:
    """The real server's default: the User-Agent up to its first '/'."""
    given = request.query.get("fieldManager")
    return given or request.headers.get("User-Agent", "unknown").split("/")[0]


async def _body(request: web.Request) -> Any:
    text = await request.text()
    if not text:
        return None
    try:
        return yaml.safe_load(text) if request.content_type == APPLY else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"error decoding the request body: {exc}") from None


def _list_body(store: Store, target: Target, request: web.Request) -> dict[str, Any]:
    resource = target.resource
    matches = _matcher(target, request)
    items = store.list(resource, target.namespace, matches)
    rv = store.rv
    start = 0
    token = request.query.get("continue")
    if token:
        state = json.loads(base64.b64decode(token))
        if state["rv"] < store.oldest_watchable_rv():
            raise errors.gone(
                "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter."
            )
        rv = state["rv"]
        start = next((i for i, o in enumerate(items) if _key(o) > state["after"]), len(items))
    limit = int(request.query.get("limit") or 0)
    page = items[start : start + limit] if limit else items[start:]
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if limit and start + limit < len(items):
        after = _key(page[-1])
        meta["continue"] = base64.b64encode(json.dumps({"rv": rv, "after": after}).encode())
        meta["continue"] = meta["continue"].decode()
        meta["remainingItemCount"] = len(items) - start - limit
    for item in page:  # list items carry no kind or apiVersion on the wire
        item.pop("kind", None)
        item.pop("apiVersion", None)
    return {
        "kind": f"{resource.kind}List",
        "apiVersion": resource.api_version,
        "metadata": meta,
        "items": page,
    }


def _key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _matcher(target: Target, request: web.Request) -> Any:
    labels = label_matcher(request.query.get("labelSelector"))
    fields = field_matcher(request.query.get("fieldSelector"), target.resource)
    return lambda obj: labels(obj) and fields(obj)


def make_app(store: Store, faults: Faults, token: str | None) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        is_watch = request.query.get("watch") in ("1", "true")
        logged = Logged(request.method, request.path, dict(request.query))
        faults.log.append(logged)
        status = 200
        try:
            if token and request.headers.get("Authorization") != f"Bearer {token}":
                raise errors.StatusError(errors.status(401, "Unauthorized", "Unauthorized"))
            fault = faults.take(request.method, request.path, is_watch)
            if fault is not None:
                reason, message = REASONS.get(fault.code, ("InternalError", "injected"))
                headers = {}
                if fault.retry_after_s is not None:
                    headers["Retry-After"] = str(fault.retry_after_s)
                raise errors.StatusError(errors.status(fault.code, reason, message), headers)
            target = parse_path(request.path)
            if is_watch and request.method == "GET" and target.name is None:
                response = await serve_watch(
                    request, store, target.resource, target.namespace, _matcher(target, request)
                )
                return response
            body, status = await _dispatch(request, store, target)
            return web.json_response(body, status=status)
        except errors.StatusError as exc:
            status = exc.code
            return web.json_response(exc.status, status=exc.code, headers=exc.headers)
        finally:
            logged.status = status

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _dispatch(
    request: web.Request, store: Store, target: Target
) -> tuple[dict[str, Any], int]:
    resource, namespace, name = target.resource, target.namespace, target.name
    method = request.method
    if name is None:
        if method == "GET":
            return _list_body(store, target, request), 200
        if method == "POST" and (namespace or not resource.namespaced):
            return store.create(resource, namespace, await _body(request), _manager(request)), 201
        raise errors.StatusError(errors.status(405, "MethodNotAllowed", f"{method} not allowed"))
    if method == "GET":
        return store.get(resource, namespace, name), 200
    if method == "PUT":
        body = await _body(request)
        return store.replace(
            resource, namespace, name, body, _manager(request), target.subresource
        ), 200
    if method == "DELETE":
        options = await _body(request) or {}
        return store.delete(resource, namespace, name, options.get("preconditions")), 200
    if method == "PATCH":
        return await _patch(request, store, target)
    raise errors.StatusError(errors.status(405, "MethodNotAllowed", f"{method} not allowed"))


async def _patch(request: web.Request, store: Store, target: Target) -> tuple[dict[str, Any], int]:
    resource, namespace, name = target.resource, target.namespace, target.name
    assert name is not None
    kind = request.content_type
    body = await _body(request)
    if kind == APPLY:
        manager = request.query.get("fieldManager")
        if not manager:
            raise errors.StatusError(
                errors.status(
                    422,
                    "Invalid",
                    'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is '
                    "required for apply patch",
                )
            )
        existed = (resource.plural, namespace or "", name) in store.objects
        force = request.query.get("force") in ("true", "1")
        applied = store.apply(resource, namespace, name, body, manager, force)
        return applied, 200 if existed else 201
    if kind not in (MERGE, JSON_PATCH):
        raise errors.unsupported_media_type(f"{APPLY}, {MERGE}, {JSON_PATCH}")
    current = store.get(resource, namespace, name)
    current["metadata"].pop("managedFields", None)
    if kind == MERGE:
        patched = merge_patch(current, body)
    else:
        try:
            patched = jsonpatch.apply_patch(current, body)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise errors.StatusError(errors.status(422, "Invalid", str(exc))) from None
    return store.replace(
        resource, namespace, name, patched, _manager(request), target.subresource
    ), 200


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
