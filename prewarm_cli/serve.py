"""`prewarm serve`: the KEDA external scaler, fed by Prometheus or by the built-in emulator."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from autoscaler.profile import BUNDLED_PROFILE, ModelProfile, ProfileError, load_profile

DEMO_MODEL = "demo"


def serve_command(
    config: Annotated[
        Path | None, typer.Option(help="serve config YAML (ports, TLS, Prometheus, profiles)")
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="feed from the built-in vLLM emulator (model 'demo')")
    ] = False,
    grpc_port: Annotated[int | None, typer.Option(min=0, max=65535)] = None,
    http_port: Annotated[int | None, typer.Option(min=0, max=65535)] = None,
    speed: Annotated[
        float, typer.Option(min=0.001, help="--demo: trace seconds per wall second")
    ] = 1.0,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="--config: validate the config and every profile, print what would be "
            "served, and exit (0 when valid) without serving",
        ),
    ] = False,
) -> None:
    """Serve KEDA's ExternalScaler over gRPC, plus /healthz and /metrics over HTTP."""
    from autoscaler import logs
    from autoscaler.serve_config import (
        ServeConfig,
        load_serve_config,
        profile_paths,
        read_api_token,
    )

    console = Console(stderr=True)
    if (config is None) == (not demo):
        console.print("[red]error:[/red] give exactly one of --config FILE or --demo")
        raise typer.Exit(2)
    try:
        if config is not None:
            serve_config, profiles = load_serve_config(config, _sections())
        else:
            serve_config = ServeConfig()
            profiles = {"default": load_profile(BUNDLED_PROFILE)}
    except ProfileError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if check:
        _print_checked(Console(soft_wrap=True), serve_config, profiles, config)
        return

    logs.configure(serve_config.log_level)
    grpc_port = serve_config.grpc.port if grpc_port is None else grpc_port
    http_port = serve_config.http.port if http_port is None else http_port
    try:
        api_token = read_api_token(serve_config, config)
    except ProfileError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    profile_files = (
        [config, *profile_paths(serve_config, config).values()] if config else [BUNDLED_PROFILE]
    )
    from autoscaler.scaler.latency_tuning import run_serving_loop

    try:
        run_serving_loop(
            _serve(
                serve_config,
                profiles,
                demo,
                grpc_port,
                http_port,
                speed,
                _profile_loader(config),
                profile_files,
                api_token,
            )
        )
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def _sections() -> dict[str, Callable[[Any], list[str]]]:
    """The serve config's sections checked outside autoscaler/: `placement` (its settings
    are scheduler's, which autoscaler/ does not import; the CLI joins the two)."""
    from scheduler.kubernetes.controller_config import placement_problems

    return {"placement": placement_problems}


def _placement(serve_config: Any) -> Any:
    """The checked `placement:` section, or None when placement is off."""
    if serve_config.placement is None:
        return None
    from scheduler.kubernetes.controller_config import placement_config

    return placement_config(serve_config.placement)


def _profile_loader(config_path: Path | None) -> Callable[[], dict[str, ModelProfile]]:
    """What a reload re-reads: the config's profiles, or the bundled one for --demo."""
    from autoscaler.serve_config import load_serve_config

    if config_path is None:
        return lambda: {"default": load_profile(BUNDLED_PROFILE)}
    return lambda: load_serve_config(config_path)[1]


async def _serve(  # type: ignore[no-untyped-def]
    config, profiles, demo, grpc_port, http_port, speed, load_profiles, profile_files, api_token
) -> None:
    from autoscaler.clock import SystemClock
    from autoscaler.engine import ModelEngine
    from autoscaler.forecast.refit_pool import RefitPool
    from autoscaler.scaler.app import ScalerApp
    from autoscaler.scaler.background_refits import BackgroundRefits
    from autoscaler.scaler.exported_metrics import DecisionMetrics
    from autoscaler.scaler.latency_tuning import tune_for_latency
    from autoscaler.scaler.profile_book import ProfileBook
    from autoscaler.scaler.profile_reloader import ProfileReloader
    from autoscaler.scaler.prometheus_addresses import PrometheusAddresses
    from autoscaler.scaler.registry import ScalerRegistry
    from autoscaler.scaler.tls import TlsFiles

    clock = SystemClock()
    source_for = _demo_sources(profiles, clock, speed) if demo else _prometheus_sources(config)
    metrics = DecisionMetrics()
    placement = _placement(config)
    board = None
    if placement is not None:
        from prewarm_cli.placement import DecisionBoard

        board = DecisionBoard()
    registry = ScalerRegistry(
        ProfileBook(profiles),
        source_for,
        clock,
        source_timeout_s=config.prometheus.timeout_s,
        idle_after_s=config.idle_after_s,
        max_tracked=config.max_scaled_objects,
        listeners=(metrics,) if board is None else (metrics, board),
        on_drop=(metrics.forget,) if board is None else (metrics.forget, board.forget),
        on_refused=(metrics.count_refused,),
        engine_for=functools.partial(ModelEngine, inline_refits=config.refits.workers == 0),
        prometheus_addresses=PrometheusAddresses(
            config.prometheus.url, frozenset(config.prometheus.allowed_addresses)
        ),
    )
    peers = None
    if config.peers.enabled:
        from autoscaler.scaler.peers.exchange import PeerExchange, PeerSettings

        p = config.peers
        instance = p.instance or f"{os.environ.get('POD_NAME') or socket.gethostname()}:{http_port}"
        peers = PeerExchange(
            PeerSettings(instance, p.urls, p.dns, p.every_s, p.timeout_s),
            clock,
            on_change=registry.republish,
        )
        registry.peers = peers
    refits = None
    if config.refits.workers > 0:
        pool = RefitPool(config.refits.workers)
        refits = BackgroundRefits(registry, pool, clock, config.refits.every_s)
    tls = None
    if config.grpc.tls is not None:
        t = config.grpc.tls
        tls = TlsFiles(t.cert_file, t.key_file, t.client_ca_file)
    app = ScalerApp(
        registry,
        metrics,
        config.grpc.host,
        grpc_port,
        config.http.host,
        http_port,
        tls,
        reloader=ProfileReloader(registry, load_profiles, lambda: list(profile_files)),
        api_token=api_token,
        profiles_watch_s=config.profiles_watch_s,
        refits=refits,
        freeze_when_settled=True,
        grpc_process=config.grpc.own_process,
        peers=peers,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tune_for_latency(inline_refits=refits is None)
    if demo:
        Console(stderr=True).print(
            f"Demo: model [bold]{DEMO_MODEL}[/bold] on gRPC 0.0.0.0:{grpc_port}, "
            f"HTTP :{http_port} (/healthz, /metrics, /models). Ctrl-C stops."
        )
    if placement is None or board is None:
        await app.run(stop)
        return
    from prewarm_cli.placement import run_placement

    placing = asyncio.create_task(
        run_placement(placement, board, clock, metrics.registry, stop, config.prometheus.url)
    )
    try:
        await app.run(stop)
    finally:
        stop.set()
        await placing


def _prometheus_sources(config):  # type: ignore[no-untyped-def]
    from autoscaler.metrics.prometheus_source import PrometheusSource
    from autoscaler.metrics.promql import MetricNames

    names = MetricNames.preset("pre-0.12" if config.prometheus.legacy_metric_names else "current")
    cache: dict[str, PrometheusSource] = {}

    def source_for(url: str | None) -> PrometheusSource:
        url = url or config.prometheus.url
        if url not in cache:
            cache[url] = PrometheusSource(
                url,
                names=names,
                rate_window_s=config.prometheus.rate_window_s,
                timeout_s=config.prometheus.timeout_s,
            )
        return cache[url]

    return source_for


def _demo_sources(profiles, clock, speed):  # type: ignore[no-untyped-def]
    from prewarm_cli.emulate import build_fleet
    from simulations.emulator.source import EmulatorSource

    fleet = build_fleet(None, clock=clock, speed=speed, model=DEMO_MODEL)
    source = EmulatorSource(fleet)
    return lambda url: source


def _print_checked(
    console: Console, serve_config: Any, profiles: dict[str, Any], config: Path | None
) -> None:
    """What `--check` found valid. Files only the cluster mounts (TLS, the API token) are
    named, not read: on a laptop they are not there."""
    where = config if config is not None else "the bundled demo profile"
    console.print(f"[green]ok:[/green] {where}", highlight=False)
    console.print(
        f"  gRPC :{serve_config.grpc.port}, HTTP :{serve_config.http.port}, "
        f"Prometheus {serve_config.prometheus.url}",
        highlight=False,
    )
    for name, profile in profiles.items():
        console.print(
            f"  profile {name}: model {profile.model}, cold start {profile.cold_start_s:g} s, "
            f"forecast {profile.forecast.kind}, replicas {profile.replicas.min}-"
            f"{profile.replicas.max}",
            highlight=False,
        )
    placement = _placement(serve_config)
    if placement is not None:
        console.print(
            f"  placement: {len(placement.models)} model(s) into namespace "
            f"{placement.namespace}, {len(placement.instance_types)} instance type(s), "
            f"Lease {placement.lease.name}",
            highlight=False,
        )
    tls = serve_config.grpc.tls
    mounted = [tls.cert_file, tls.key_file, tls.client_ca_file] if tls else []
    mounted.append(serve_config.http.api_token_file)
    named = ", ".join(str(f) for f in mounted if f is not None)
    if named:
        console.print(f"  not read here (mounted in the cluster): {named}", highlight=False)
