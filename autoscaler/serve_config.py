"""`prewarm serve --config FILE`: ports, TLS, Prometheus and profiles, validated at load."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from autoscaler.metrics.prometheus_url import url_problem
from autoscaler.profile import (
    ModelProfile,
    ProfileError,
    format_errors,
    load_profile,
    read_yaml,
)
from autoscaler.scaler.tracking_limit import DEFAULT_MAX_SCALED_OBJECTS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Strict):
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


class GrpcConfig(_Strict):
    host: str = "0.0.0.0"
    port: int = Field(9090, ge=0, le=65535)
    tls: TlsConfig | None = None
    own_process: bool = Field(
        True,
        description="answer KEDA from a process of its own, away from the forecasting's GIL",
    )


class HttpConfig(_Strict):
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535)
    api_token_file: Path | None = Field(
        None,
        description="file holding the bearer token the operators' mutating endpoints require; "
        "without one those endpoints are disabled (403)",
    )


def _prometheus_url(url: str) -> str:
    if (why := url_problem(url)) is not None:
        raise ValueError(f"not a Prometheus address: {why}")
    return url


PrometheusUrl = Annotated[str, AfterValidator(_prometheus_url)]


class PrometheusConfig(_Strict):
    url: PrometheusUrl = "http://prometheus-operated.monitoring:9090"
    allowed_addresses: tuple[PrometheusUrl, ...] = Field(
        (),
        description="Prometheus addresses a ScaledObject's `prometheusAddress` may name, "
        "besides `url`; any other is refused (INVALID_ARGUMENT), so ScaledObject authors "
        "cannot make the scaler fetch URLs of their choice",
    )
    legacy_metric_names: bool = Field(False, description="vLLM < 0.12 metric names")
    timeout_s: float = Field(2.0, gt=0)
    rate_window_s: float = Field(60.0, gt=0)


class RefitConfig(_Strict):
    workers: int = Field(
        1,
        ge=0,
        description="worker processes that fit forecaster parameters; 0 fits them inline on "
        "the decision thread (each worker holds statsmodels, ~100 MiB)",
    )
    every_s: float = Field(60.0, gt=0, description="how often models are checked for due refits")


class PeersConfig(_Strict):
    """The other Prewarm replicas, so that all of them give KEDA the same answer."""

    urls: tuple[Annotated[str, Field(pattern=r"^https?://[^/\s]+/?$")], ...] = Field(
        (),
        description="http://host:port of each replica's HTTP face (this replica's own is "
        "recognised and skipped)",
    )
    dns: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$",
        description="host:port of a headless Service resolving to every replica's pod",
    )
    instance: str | None = Field(
        None,
        max_length=253,
        description="this replica's name among its peers; default: $POD_NAME or the host "
        "name, with the HTTP port",
    )
    every_s: float = Field(
        5.0,
        gt=0,
        le=60,
        description="how often each peer is asked for its decisions; keep it under the "
        "profiles' decision_interval_s so replicas agree within one interval",
    )
    timeout_s: float = Field(1.0, gt=0, le=30)

    @field_validator("urls")
    @classmethod
    def _urls_have_ports(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        """Each URL as httpx will read it: a port that is not a number is refused here, not
        when `serve` first polls."""
        for url in urls:
            try:
                port = httpx.URL(url).port
            except httpx.InvalidURL as exc:
                raise ValueError(f"{url!r}: {exc}") from None
            if port is not None and not 1 <= port <= 65535:
                raise ValueError(f"{url!r}: port {port} is not within 1-65535")
        return urls

    @property
    def enabled(self) -> bool:
        return bool(self.urls or self.dns)


class ServeConfig(_Strict):
    grpc: GrpcConfig = GrpcConfig()
    http: HttpConfig = HttpConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    refits: RefitConfig = RefitConfig()
    peers: PeersConfig = PeersConfig()
    profiles: dict[str, Path] = Field(
        default_factory=dict, description="name -> profile YAML (relative to this file)"
    )
    # The floor keeps a live ScaledObject from being dropped between KEDA's calls: the HPA asks
    # every 15 s, the gRPC front reports what was asked in 10 s batches, and a dropped target
    # is re-tracked with a fresh Prometheus back-fill.
    idle_after_s: float = Field(
        3600.0, ge=300, description="forget a ScaledObject KEDA has not asked about for this long"
    )
    # Sized with the pod's memory limit (deploy/base/deployment.yaml has the arithmetic).
    max_scaled_objects: int = Field(
        DEFAULT_MAX_SCALED_OBJECTS,
        ge=1,
        description="ScaledObjects tracked at most; a new one past this is refused "
        "(gRPC RESOURCE_EXHAUSTED) so the pod stays within its memory limit",
    )
    profiles_watch_s: float = Field(
        10.0, ge=0, description="check profile files for changes this often; 0 turns it off"
    )
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")
    # Read here as a mapping and checked by the section checker the CLI passes in
    # (`load_serve_config(sections=...)`): the placement controller's settings belong to
    # scheduler/, which autoscaler/ does not import. Present: `serve` runs the controller.
    placement: dict[str, Any] | None = Field(
        None,
        description="placement controller settings (scheduler/kubernetes/controller_config.py); "
        "present: `prewarm serve` also runs the leader-elected placement loop",
    )


SectionCheck = Callable[[Any], list[str]]  # a raw section -> "<dotted path>: <problem>"


def load_serve_config(
    path: str | Path, sections: Mapping[str, SectionCheck] | None = None
) -> tuple[ServeConfig, dict[str, ModelProfile]]:
    """The config and its profiles, every error reported at once. `sections`: checkers of
    sections this package reads only as mappings (`placement`), their problems reported
    with the rest under the section's name."""
    path = Path(path)
    data = read_yaml(path, "config file") or {}
    problems = []
    try:
        config = ServeConfig.model_validate(data)
    except ValidationError as exc:
        problems.append(format_errors(exc))
    if isinstance(data, dict):
        for key, check in (sections or {}).items():
            if isinstance(data.get(key), dict):
                problems += [f"  {key}.{problem}" for problem in check(data[key])]
    if problems:
        raise ProfileError(f"{path}: invalid config:\n" + "\n".join(problems))
    profiles, problems = {}, []
    for name, full in profile_paths(config, path).items():
        try:
            profiles[name] = load_profile(full)
        except ProfileError as exc:
            problems.append(str(exc))
    if problems:
        raise ProfileError("\n".join(problems))
    return config, profiles


def profile_paths(config: ServeConfig, config_path: str | Path) -> dict[str, Path]:
    """Each profile's file, relative paths taken from the config file's folder."""
    base = Path(config_path).parent
    return {n: p if p.is_absolute() else base / p for n, p in config.profiles.items()}


def read_api_token(config: ServeConfig, config_path: str | Path | None) -> str | None:
    """The operators' API token, or None when none is configured. An empty file is an error:
    it would otherwise look configured and accept an empty bearer."""
    if config.http.api_token_file is None:
        return None
    path = config.http.api_token_file
    if not path.is_absolute() and config_path is not None:
        path = Path(config_path).parent / path
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ProfileError(f"http.api_token_file: cannot read {path}: {exc.strerror}") from None
    if not token:
        raise ProfileError(f"http.api_token_file: {path} is empty")
    return token
