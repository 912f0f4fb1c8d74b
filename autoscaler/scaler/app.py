"""The whole scaler: registry refreshers, gRPC server and HTTP server.

All on one event loop, or (`grpc_process=True`, what `prewarm serve` runs) with the gRPC
server in a front process of its own that answers from a mirror of the decisions.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import uvicorn

from autoscaler.http.app import build_app
from autoscaler.scaler import heap_settling
from autoscaler.scaler.background_refits import BackgroundRefits
from autoscaler.scaler.exported_metrics import DecisionMetrics
from autoscaler.scaler.grpc_front_process import GrpcFrontProcess
from autoscaler.scaler.peers.exchange import PeerExchange
from autoscaler.scaler.profile_reloader import ProfileReloader
from autoscaler.scaler.registry import ScalerRegistry
from autoscaler.scaler.tls import TlsFiles

if TYPE_CHECKING:
    from autoscaler.scaler.server import RunningServer

log = logging.getLogger("prewarm.serve")


@dataclass
class ScalerApp:
    registry: ScalerRegistry
    metrics: DecisionMetrics
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 9090
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    tls: TlsFiles | None = None
    reloader: ProfileReloader | None = None
    api_token: str | None = None
    profiles_watch_s: float = 0.0  # 0: reload only when asked over HTTP
    refits: BackgroundRefits | None = None  # None: forecasters refit inline when due
    # Re-freeze the heap once the tracked ScaledObjects settle (heap_settling.py): a
    # process-wide act, so only the process's entry point turns it on.
    freeze_when_settled: bool = False
    # Answer KEDA from a process of its own, away from this one's GIL (grpc_front.py).
    grpc_process: bool = False
    # The other Prewarm replicas' decisions (the registry's `peers`), polled in the background.
    peers: PeerExchange | None = None
    _watch: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _refitting: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _settling: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _hearing: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _grpc: RunningServer | GrpcFrontProcess | None = field(default=None, init=False, repr=False)

    def _settling_state(self) -> tuple[int, int]:
        """What must hold still before the heap is re-frozen: models tracked, fits installed."""
        return len(self.registry), self.refits.fits_installed if self.refits else 0

    def ready(self) -> bool:
        """gRPC is up and answering: what /readyz reports, since the kubelet's gRPC probe
        cannot speak TLS and a TCP probe cannot tell a draining server from a serving one."""
        return self._grpc is not None and self._grpc.serving

    async def start(
        self,
    ) -> tuple[RunningServer | GrpcFrontProcess, uvicorn.Server, asyncio.Task[None]]:
        # Bound first and by us: a taken port is then an error naming it before anything
        # starts, not uvicorn's exit after the gRPC side is already up.
        http_socket = bind_http(self.http_host, self.http_port)
        loop = asyncio.get_running_loop()
        if self.peers is not None:
            # Heard once before KEDA is answered, so a restarted replica answers with the
            # senior replica's decisions from its first call; then every `every_s`.
            await self.peers.poll_once_alone()
            self._hearing = loop.create_task(self.peers.run())
        try:
            grpc_server = await self._start_grpc()
        except BaseException:
            http_socket.close()
            raise
        self._grpc = grpc_server
        http = uvicorn.Server(
            uvicorn.Config(
                build_app(
                    self.registry,
                    self.metrics,
                    reloader=self.reloader,
                    api_token=self.api_token,
                    ready=self.ready,
                ),
                log_level="warning",
                lifespan="off",
            )
        )
        http_task = loop.create_task(http.serve(sockets=[http_socket]))
        if self.reloader is not None and self.profiles_watch_s > 0:
            self._watch = loop.create_task(self.reloader.watch(self.profiles_watch_s))
        if self.refits is not None:
            self._refitting = loop.create_task(self.refits.run())
        if self.freeze_when_settled:
            self._settling = loop.create_task(
                heap_settling.freeze_when_settled(
                    self._settling_state,
                    now_s=self.registry.clock.now_s,
                    sleep=self.registry.clock.sleep,
                )
            )
        log.info(
            "serving",
            extra={
                "grpc": f"{self.grpc_host}:{grpc_server.port}",
                "tls": bool(self.tls),
                "grpc_process": self.grpc_process,
                "http": f"{self.http_host}:{http_socket.getsockname()[1]}",
            },
        )
        return grpc_server, http, http_task

    async def _start_grpc(self) -> RunningServer | GrpcFrontProcess:
        self.registry.start()
        if self.grpc_process:
            front = GrpcFrontProcess(self.registry)
            await front.start(self.grpc_host, self.grpc_port, self.tls)
            return front
        # Imported here: with the front process, this process never loads grpc.
        from autoscaler.scaler.server import start_grpc

        return await start_grpc(self.registry, self.grpc_host, self.grpc_port, self.tls)

    async def run(self, stop: asyncio.Event) -> None:
        """Serves until `stop` is set; OSError if the gRPC front process dies first."""
        grpc_server, http, http_task = await self.start()
        front = grpc_server if isinstance(grpc_server, GrpcFrontProcess) else None
        waits = [asyncio.ensure_future(stop.wait())]
        if front is not None:
            waits.append(asyncio.ensure_future(front.lost.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            background = [
                t for t in (self._watch, self._refitting, self._settling, self._hearing) if t
            ]
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            http.should_exit = True
            await grpc_server.stop()
            await self.registry.close()
            if self.refits is not None:
                await asyncio.to_thread(self.refits.pool.close)
            await http_task
        if front is not None and front.lost.is_set():
            raise OSError(
                f"the gRPC front process exited (exit code {front.exitcode}); "
                "nothing answers KEDA, so the scaler stops too"
            )


def bind_http(host: str, port: int) -> socket.socket:
    """The HTTP listening socket; OSError naming the address when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen for HTTP on {host}:{port}: {exc.strerror or exc}") from None
    return sock
