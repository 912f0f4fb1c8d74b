"""`metav1.Status` failures, shaped as kube-apiserver writes them (apimachinery's
`k8s.io/apimachinery/pkg/api/errors`): reason and code agree, `details` names the object, and
`causes` carry the field paths (422) or the field managers in conflict (409 from apply)."""

from __future__ import annotations

from typing import Any

from tests.kube_api_server.resources import Resource


class StatusError(Exception):
    """Raised anywhere in the server; the handler writes `status` as the response body."""

    def __init__(self, status: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status["message"])
        self.status = status
        self.headers = headers or {}

    @property
    def code(self) -> int:
        return int(self.status["code"])


def status(
    code: int,
    reason: str,
    message: str,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def _details(resource: Resource, name: str, **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "kind": resource.plural}
    if resource.group:
        found["group"] = resource.group
    return {**found, **extra}


def _qualified(resource: Resource) -> str:
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def not_found(resource: Resource, name: str) -> StatusError:
    message = f'{_qualified(resource)} "{name}" not found'
    return StatusError(status(404, "NotFound", message, _details(resource, name)))


def already_exists(resource: Resource, name: str) -> StatusError:
    message = f'{_qualified(resource)} "{name}" already exists'
    return StatusError(status(409, "AlreadyExists", message, _details(resource, name)))


def conflict(resource: Resource, name: str, why: str) -> StatusError:
    message = f'Operation cannot be fulfilled on {_qualified(resource)} "{name}": {why}'
    return StatusError(status(409, "Conflict", message, _details(resource, name)))


def apply_conflict(owners: list[tuple[str, str]]) -> StatusError:
    """409 from server-side apply, worded as apimachinery's NewConflictError words it: one
    cause per (manager, field), `reason` FieldManagerConflict (StatusCause's `type` is
    serialised as "reason"), and details with the causes only.

        Apply failed with 1 conflict: conflict with "kubectl": .data.key
    """
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {m}", "field": f}
        for m, f in owners
    ]
    if len(owners) == 1:
        manager, path = owners[0]
        message = f"Apply failed with 1 conflict: conflict with {manager}: {path}"
    else:
        by_manager: dict[str, list[str]] = {}
        for manager, path in owners:
            by_manager.setdefault(manager, []).append(path)
        blocks = [
            f"conflicts with {m}:\n" + "\n".join(f"- {p}" for p in sorted(paths))
            for m, paths in sorted(by_manager.items())
        ]
        message = f"Apply failed with {len(owners)} conflicts: " + "\n".join(blocks)
    return StatusError(status(409, "Conflict", message, {"causes": causes}))


def invalid(resource: Resource, kind: str, name: str, causes: list[dict[str, str]]) -> StatusError:
    listed = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
    message = f'{kind}.{resource.group or "core"} "{name}" is invalid: {listed}'
    if not resource.group:
        message = f'{kind} "{name}" is invalid: {listed}'
    details = {**_details(resource, name), "kind": kind, "causes": causes}
    return StatusError(status(422, "Invalid", message, details))


def bad_request(message: str) -> StatusError:
    return StatusError(status(400, "BadRequest", message))


def gone(message: str) -> StatusError:
    return StatusError(status(410, "Expired", message))


def unsupported_media_type(content_type: str) -> StatusError:
    message = (
        "the body of the request was in an unknown format - accepted media types: " + content_type
    )
    return StatusError(status(415, "UnsupportedMediaType", message))
