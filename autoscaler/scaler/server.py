"""The gRPC server: ExternalScaler + the standard health service, plaintext, TLS or mTLS.

KEDA's `enableTLS` with a TriggerAuthentication's `caCert` verifies our certificate; with
`tlsClientCert`/`tlsClientKey` it presents its own, which `client_ca_file` makes mandatory.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from autoscaler.scaler.servicer import DecisionBoard, ExternalScalerServicer
from autoscaler.scaler.tls import TlsFiles
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc

SERVICE_NAME = "externalscaler.ExternalScaler"
__all__ = ["RunningServer", "TlsFiles", "start_grpc"]


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    serving: bool = True

    async def stop(self, grace_s: float = 2.0) -> None:
        self.serving = False
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)


async def start_grpc(
    board: DecisionBoard, host: str, port: int, tls: TlsFiles | None = None
) -> RunningServer:
    """Starts serving; port 0 picks a free port (the bound one is returned)."""
    server = grpc.aio.server()
    pb_grpc.add_ExternalScalerServicer_to_server(ExternalScalerServicer(board), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"{host}:{port}"
    bound = (
        server.add_secure_port(address, tls.credentials())
        if tls
        else server.add_insecure_port(address)
    )
    if bound == 0:
        raise OSError(f"cannot listen on {address}")
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, bound, health_servicer)
