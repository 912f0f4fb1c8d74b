"""Which Prometheus a ScaledObject's `prometheusAddress` may name: the serve config's list.

Without a list, whoever may write a ScaledObject could make the scaler fetch any URL from
inside the cluster (a cloud metadata endpoint, an internal admin page) and read part of the
answer back in the error. So an override is honoured only when it is `prometheus.url` or one
of `prometheus.allowed_addresses`, compared in one spelling (`prometheus_url.normalized`).
Checked by whatever answers KEDA (the registry, or the gRPC front's mirror of it) before a
ScaledObject is tracked, so anything else is INVALID_ARGUMENT naming the key and the setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autoscaler.metrics.prometheus_url import normalized, url_problem
from autoscaler.scaler.error_text import quoted
from autoscaler.scaler.metadata import MetadataError


@dataclass(frozen=True)
class PrometheusAddresses:
    configured: str | None = None  # prometheus.url, where targets without the key are read
    allowed: frozenset[str] = frozenset()  # prometheus.allowed_addresses
    _permitted: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        given = [u for u in (self.configured, *self.allowed) if u and url_problem(u) is None]
        object.__setattr__(self, "_permitted", frozenset(normalized(u) for u in given))

    def check(self, url: str | None) -> None:
        """MetadataError naming the key and the setting when `url` may not be read."""
        if url is None or (url_problem(url) is None and normalized(url) in self._permitted):
            return
        raise MetadataError(
            [
                f"key 'prometheusAddress': {quoted(url)} is not a Prometheus this scaler may "
                "read; add it to prometheus.allowed_addresses in the serve config, or leave "
                "the key out to read prometheus.url"
            ]
        )


NO_OVERRIDES = PrometheusAddresses()  # honours no `prometheusAddress` at all
