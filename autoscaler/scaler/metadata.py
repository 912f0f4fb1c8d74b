"""A ScaledObject trigger's `metadata`, parsed and validated in one place.

KEDA forwards the trigger's whole metadata map on every call. Unknown keys are rejected by
name (a typo must not silently fall back to a default); KEDA's own keys (`scalerAddress`,
TLS switches) are accepted and ignored. A bad map becomes gRPC INVALID_ARGUMENT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autoscaler.metrics.prometheus_url import url_problem
from autoscaler.scaler.error_text import problems_message, quoted

# Keys KEDA itself puts into or reads from the trigger metadata; they carry nothing for us.
KEDA_KEYS = frozenset({"scalerAddress", "enableTLS", "unsafeSsl", "useCachedMetrics"})
OUR_KEYS = frozenset({"model", "namespace", "profile", "prometheusAddress"})
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a Kubernetes DNS label


class MetadataError(ValueError):
    """Every problem with one metadata map, each naming its key. `problems` keeps them all;
    the message lists the first few and stays small (`error_text.py` says why)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems_message("invalid scaler metadata: ", problems))
        self.problems = problems


@dataclass(frozen=True)
class ScalerTarget:
    """What one ScaledObject asks Prewarm to scale."""

    scaled_object: str  # "<namespace>/<name>" of the ScaledObject
    model: str  # vLLM's model_name label
    namespace: str  # where the vLLM pods run (label matcher)
    profile: str | None  # profile name; None = the model's own or the default
    prometheus_url: str | None  # override of the server-wide Prometheus

    @property
    def metric_name(self) -> str:
        """Stable per model; KEDA hands it back in GetMetricsRequest."""
        return "prewarm-" + re.sub(r"[^a-z0-9-]+", "-", self.model.lower()).strip("-")[:200]


def parse_metadata(name: str, namespace: str, metadata: dict[str, str]) -> ScalerTarget:
    metadata, problems = _resolve_from_env(metadata)
    problems += [
        f"unknown key {quoted(key)} (known: {', '.join(sorted(OUR_KEYS))})"
        for key in sorted(metadata)
        if key not in OUR_KEYS and key not in KEDA_KEYS
    ]
    model = metadata.get("model", "").strip()
    if not model:
        problems.append("key 'model' is required (vLLM's served model name)")
    elif len(model) > 512 or any(ch in model for ch in "\n\r\x00"):
        problems.append("key 'model' must be one line of at most 512 characters")
    target_namespace = metadata.get("namespace", namespace).strip()
    if target_namespace and not _NAMESPACE.match(target_namespace):
        problems.append(
            f"key 'namespace' is not a Kubernetes namespace: {quoted(target_namespace)}"
        )
    profile = metadata.get("profile")
    if profile is not None and not _PROFILE_NAME.match(profile):
        problems.append(f"key 'profile' is not a profile name: {quoted(profile)}")
    url = metadata.get("prometheusAddress")
    if url is not None and (why := url_problem(url)) is not None:
        problems.append(f"key 'prometheusAddress' {why}: {quoted(url)}")
    if not name:
        problems.append("the ScaledObject reference has no name")
    problems += _reference_length_problems(name, namespace)
    if problems:
        raise MetadataError(problems)
    return ScalerTarget(
        scaled_object=f"{namespace}/{name}",
        model=model,
        namespace=target_namespace,
        profile=profile,
        prometheus_url=url,
    )


# Kubernetes' own limits: a ScaledObject's name is a DNS subdomain, its namespace a DNS label.
# Anything longer is no ScaledObject's, and each tracked one keeps its name (and /metrics
# exports it): a 1 MB name made /metrics 12 MB.
_MAX_NAME_CHARS = 253
_MAX_NAMESPACE_CHARS = 63


def _reference_length_problems(name: str, namespace: str) -> list[str]:
    """The ScaledObjectRef's `name` and `namespace` past Kubernetes' limits, each named."""
    return [
        f"the ScaledObject reference's field {field!r} is {len(value)} characters, more than "
        f"Kubernetes allows ({limit})"
        for field, value, limit in (
            ("name", name, _MAX_NAME_CHARS),
            ("namespace", namespace, _MAX_NAMESPACE_CHARS),
        )
        if len(value) > limit
    ]


def _resolve_from_env(metadata: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """`<key>FromEnv` as `<key>`: KEDA resolves the environment variable and forwards the
    value under the `...FromEnv` name."""
    resolved, problems = dict(metadata), []
    for key in OUR_KEYS:
        from_env = key + "FromEnv"
        if from_env not in metadata:
            continue
        if key in metadata:
            problems.append(f"keys {key!r} and {from_env!r} both given: keep one")
        resolved[key] = resolved.pop(from_env)
    return resolved, problems
