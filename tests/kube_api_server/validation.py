"""Every object the server stores is checked against the JSON schemas kubernetes-validate ships
(generated from the API server's own OpenAPI), and a failure is a 422 Invalid like the real one.

Kubernetes 1.34: the release where resource.k8s.io/v1 went GA and the one the recorded
responses come from (kubernetes-validate ships 1.25 to 1.37; `resourceslice-resource-v1.json`
and friends exist from 1.34 on). The strict schemas are used: an unknown field is refused,
as the real server does under `fieldValidation=Strict` (what kubectl sends). Without that
parameter the real server drops unknown fields with a warning; refusing them here catches a
misspelt field our writer would otherwise lose silently.

The schemas check shapes and types. The handful of semantic checks the real server adds that
the adapter could trip over (object names, label values) are done by hand below; CEL selectors,
device counts and the like are not checked.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema
import referencing
from kubernetes_validate.utils import schema_contents

from tests.kube_api_server import errors
from tests.kube_api_server.resources import Resource

KUBERNETES_VERSION = "1.34.0"
SCHEMA_DIR = f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict"

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


@functools.cache
def _definitions() -> referencing.Resource[Any]:
    return referencing.Resource.from_contents(
        schema_contents(f"{SCHEMA_DIR}/_definitions.json", KUBERNETES_VERSION)
    )


@functools.cache
def validator(kind: str, api_version: str) -> jsonschema.protocols.Validator:
    """One compiled validator per kind: loading the 1.5 MB definitions per call, as
    `kubernetes_validate.validate` does, would cost ~100 ms per write."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    file = f"{SCHEMA_DIR}/{kind.lower()}-{group_version}.json"
    schema = schema_contents(file, KUBERNETES_VERSION)
    registry: referencing.Registry[Any] = referencing.Resource.from_contents(schema) @ (
        _definitions() @ referencing.Registry()
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _path(error: jsonschema.ValidationError) -> str:
    parts = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else f".{p}")
    return "".join(parts).lstrip(".") or "<root>"


def problems(obj: dict[str, Any], resource: Resource) -> list[dict[str, str]]:
    """Causes in the real server's shape ({reason, message, field}); empty when valid."""
    found = [
        {"reason": "FieldValueInvalid", "message": e.message, "field": _path(e)}
        for e in validator(resource.kind, resource.api_version).iter_errors(obj)
    ]
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if isinstance(name, str) and (len(name) > 253 or not _SUBDOMAIN.fullmatch(name)):
        found.append(
            {
                "reason": "FieldValueInvalid",
                "message": f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must '
                "consist of lower case alphanumeric characters, '-' or '.'",
                "field": "metadata.name",
            }
        )
    labels = meta.get("labels") or {}
    if isinstance(labels, dict):
        for key, value in labels.items():
            if not _label_key_ok(str(key)):
                found.append(_label_problem(key, f"metadata.labels: Invalid value: {key!r}"))
            if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
                found.append(_label_problem(key, f"Invalid value: {value!r}"))
    return found


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _SUBDOMAIN.fullmatch(prefix)):
        return False
    return len(name) <= 63 and bool(_LABEL_NAME.fullmatch(name))


def _label_problem(key: str, message: str) -> dict[str, str]:
    return {"reason": "FieldValueInvalid", "message": message, "field": f"metadata.labels.{key}"}


def check(obj: dict[str, Any], resource: Resource) -> None:
    found = problems(obj, resource)
    if found:
        name = (obj.get("metadata") or {}).get("name") or ""
        raise errors.invalid(resource, resource.kind, str(name), found)
