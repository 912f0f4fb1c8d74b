"""`prewarm emulate`: a vLLM fleet's /metrics without GPUs, replaying a trace.

Point a Prometheus at it to try Prewarm end to end, or to run the integration tests.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from autoscaler.clock import Clock, SystemClock
from autoscaler.profile import ProfileError, load_profile
from prewarm_cli.options import (
    FormatOption,
    FromOption,
    LengthScaleOption,
    ProfileOption,
    RateScaleOption,
    TraceOption,
    UntilOption,
)
from prewarm_cli.simulate import BUNDLED_PROFILE, DEMO_DURATION_S, DEMO_MEAN_RPS

if TYPE_CHECKING:  # the emulator (numpy, traces) loads only when the command runs
    from simulations.emulator import EmulatedFleet


def emulate_command(
    trace: TraceOption = None,
    fmt: FormatOption = "azure",
    rate_scale: RateScaleOption = 1.0,
    length_scale: LengthScaleOption = 1.0,
    from_s: FromOption = None,
    until_s: UntilOption = None,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port; 0 picks a free one")
    ] = 8000,
    host: Annotated[str, typer.Option(help="address to bind; 0.0.0.0 for a cluster")] = "127.0.0.1",
    speed: Annotated[
        float, typer.Option(min=0.001, help="trace seconds per wall second (rates scale with it)")
    ] = 1.0,
    model: Annotated[str, typer.Option(help="the `model_name` label the series carry")] = "demo",
    profile: ProfileOption = None,
    replicas: Annotated[
        int | None, typer.Option(min=0, help="fixed ready replicas; omitted: sized to demand")
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, help="seed for the bundled trace and rate arrivals")
    ] = 0,
    max_requests: Annotated[
        int | None,
        typer.Option(min=1, help="rate series: keep only the earliest N synthesised requests"),
    ] = None,
    legacy_names: Annotated[
        bool, typer.Option(help="vllm:gpu_cache_usage_perc (vLLM < 0.12) for KV usage")
    ] = False,
) -> None:
    """Serve vLLM's metrics (/metrics) for a simulated fleet replaying a trace, until Ctrl-C."""
    from simulations.emulator import EmulatorServer

    console = Console()
    try:
        fleet = build_fleet(
            trace,
            fmt,
            clock=SystemClock(),
            speed=speed,
            model=model,
            profile=profile,
            replicas=replicas,
            seed=seed,
            max_requests=max_requests,
            rate_scale=rate_scale,
            length_scale=length_scale,
            from_s=from_s,
            until_s=until_s,
        )
    except (ValueError, ProfileError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None

    server = EmulatorServer(fleet, host, port, legacy_names=legacy_names)
    try:
        server.start()
    except OSError as exc:
        console.print(f"[red]error:[/red] cannot listen on {host}:{port}: {exc}", highlight=False)
        raise typer.Exit(1) from None
    sizing = "sized to demand" if replicas is None else f"fixed at {replicas}"
    console.print(
        f"Emulating model [bold]{model}[/bold] at speed {speed:g}x, replicas {sizing}",
        highlight=False,
    )
    console.print(f"Serving {server.url}/metrics (Ctrl-C to stop)", highlight=False)
    try:
        _wait_for_stop()
    finally:
        server.stop()
    console.print("Stopped.")


def build_fleet(
    trace: Path | None,
    fmt: str = "azure",
    *,
    clock: Clock,
    speed: float = 1.0,
    model: str = "demo",
    profile: Path | None = None,
    replicas: int | None = None,
    seed: int = 0,
    max_requests: int | None = None,
    rate_scale: float = 1.0,
    length_scale: float = 1.0,
    from_s: float | None = None,
    until_s: float | None = None,
) -> EmulatedFleet:
    """The emulated fleet `prewarm emulate` serves (also for `prewarm serve --demo`).
    Raises ValueError, ProfileError or FileNotFoundError with a message for the user."""
    from simulations.emulator import EmulatedFleet
    from simulations.traces.formats import trace_format
    from simulations.traces.loader import load_trace
    from simulations.traces.scale import TraceScale, check_scale
    from simulations.traces.synthetic import synthetic_trace
    from simulations.traces.window import TraceWindow, check_window

    trace_format(fmt)
    scale = TraceScale(rate_scale, length_scale)
    check_scale(scale, fmt, has_trace=trace is not None)
    window = TraceWindow(from_s, until_s)
    check_window(window, has_trace=trace is not None)
    model_profile = load_profile(profile or BUNDLED_PROFILE)
    if trace is None:
        request_trace = synthetic_trace(
            duration_s=DEMO_DURATION_S, mean_rps=DEMO_MEAN_RPS, seed=seed
        )
    else:
        # TraceFormatError is a ValueError.
        request_trace = load_trace(
            trace, fmt, seed=seed, max_requests=max_requests, scale=scale, window=window
        )
    if request_trace.n_requests == 0:
        raise ValueError(f"{trace}: the trace has no requests")
    return EmulatedFleet(
        request_trace,
        model_profile,
        model_name=model,
        speed=speed,
        clock=clock,
        replicas=replicas,
    )


def _wait_for_stop() -> None:
    """Blocks until Ctrl-C or SIGTERM (how Kubernetes stops a pod)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):  # short waits keep Ctrl-C responsive everywhere
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
