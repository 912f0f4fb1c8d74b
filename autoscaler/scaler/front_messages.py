"""What the scaler process and its gRPC front process tell each other over their pipe.

The front answers KEDA from a mirror of the decisions; the scaler process (the back) owns
the engines, the sources and the refits. Everything here is pickled, so it stays small and
frozen, and
imports nothing heavy: the front process loads this module, not the forecasting.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.decision import Decision
from autoscaler.scaler.metadata import ScalerTarget
from autoscaler.scaler.profile_choice import ProfileChoice
from autoscaler.scaler.prometheus_addresses import PrometheusAddresses
from autoscaler.scaler.tls import TlsFiles
from autoscaler.scaler.tracking_limit import DEFAULT_MAX_SCALED_OBJECTS


# Back -> front, first
@dataclass(frozen=True)
class FrontSettings:
    host: str
    port: int  # 0: any free port (the front says which in `Listening`)
    tls: TlsFiles | None
    profiles: ProfileChoice
    prometheus_addresses: PrometheusAddresses  # fixed for the process's life, unlike profiles
    log_level: str
    # The back sends `Alive` every `alive_every_s`; after `silence_limit_s` without a word
    # the front stops, so KEDA's fallback takes over from a hung scaler process.
    alive_every_s: float
    silence_limit_s: float
    # New ScaledObjects past this many are refused by the front itself (tracking_limit.py).
    max_scaled_objects: int = DEFAULT_MAX_SCALED_OBJECTS


# Front -> back
@dataclass(frozen=True)
class Seen:
    """KEDA asked about these ScaledObjects (recently, or for the first time): track them."""

    targets: tuple[ScalerTarget, ...]


@dataclass(frozen=True)
class Refused:
    """The front refused `count` new ScaledObjects past the limit (for the back's metrics)."""

    count: int


@dataclass(frozen=True)
class Listening:
    """The front's gRPC server is up on `port`."""

    port: int


@dataclass(frozen=True)
class CannotListen:
    reason: str


@dataclass(frozen=True)
class Synced:
    """The answer to `Sync`: everything sent before it has been applied."""

    token: int


# Back -> front, then
@dataclass(frozen=True)
class Published:
    target: ScalerTarget
    decision: Decision
    last_error: str


@dataclass(frozen=True)
class Dropped:
    """The back stopped tracking a ScaledObject: idle, or no profile fits it."""

    target: ScalerTarget


@dataclass(frozen=True)
class Profiles:
    """The profiles in force after a reload."""

    choice: ProfileChoice


@dataclass(frozen=True)
class Stop:
    grace_s: float


@dataclass(frozen=True)
class Sync:
    """Asks for `Synced(token)` once every earlier message is applied."""

    token: int


@dataclass(frozen=True)
class Alive:
    """The back's loop is running (sent every `FrontSettings.alive_every_s`)."""
