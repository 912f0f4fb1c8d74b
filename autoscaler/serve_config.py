"""`prewarm serve --config FILE`: ports, TLS, Prometheus and profiles, validated at load."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autoscaler.profile import ModelProfile, ProfileError, format_errors, load_profile


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


class HttpConfig(_Strict):
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535)


class PrometheusConfig(_Strict):
    url: str = "http://prometheus-operated.monitoring:9090"
    legacy_metric_names: bool = Field(False, description="vLLM < 0.12 metric names")
    timeout_s: float = Field(2.0, gt=0)
    rate_window_s: float = Field(60.0, gt=0)


class ServeConfig(_Strict):
    grpc: GrpcConfig = GrpcConfig()
    http: HttpConfig = HttpConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    profiles: dict[str, Path] = Field(
        default_factory=dict, description="name -> profile YAML (relative to this file)"
    )
    idle_after_s: float = Field(3600.0, gt=0)
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$")


def load_serve_config(path: str | Path) -> tuple[ServeConfig, dict[str, ModelProfile]]:
    """The config and its profiles, every error reported at once."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ProfileError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    try:
        config = ServeConfig.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{path}: invalid config:\n{format_errors(exc)}") from None
    profiles, problems = {}, []
    for name, profile_path in config.profiles.items():
        full = profile_path if profile_path.is_absolute() else path.parent / profile_path
        try:
            profiles[name] = load_profile(full)
        except ProfileError as exc:
            problems.append(str(exc))
    if problems:
        raise ProfileError("\n".join(problems))
    return config, profiles
