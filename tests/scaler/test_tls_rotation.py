"""gRPC TLS rotation over real gRPC on loopback: a bad renewal keeps the material in force and
says so; only material that was adopted is logged as reloaded."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from autoscaler.scaler.server import RunningServer, TlsFiles, start_grpc
from external_scaler_proto import externalscaler_pb2 as pb
from external_scaler_proto import externalscaler_pb2_grpc as pb_grpc
from tests.fakes import FakeMetricSource
from tests.scaler.certs import Pki, make_pki
from tests.scaler.scaler_helpers import make_registry

RELOADED = "TLS certificate reloaded"


@dataclass
class MutualTls:
    server: RunningServer
    pki: Pki  # the CA that signed the server and client certificates in force
    cert: Path
    key: Path
    client_ca: Path
    bumps: int = 0

    def rewrite(self, path: Path, content: bytes) -> None:
        """As the kubelet's swap appears to a stat: new content and a new mtime."""
        path.write_bytes(content)
        self.bumps += 1
        os.utime(path, ns=(10**18 + self.bumps, 10**18 + self.bumps))

    async def call(self, pki: Pki | None = None) -> None:
        """One RPC as a client trusting `pki`'s CA and presenting its client certificate."""
        pki = pki or self.pki
        creds = grpc.ssl_channel_credentials(
            pki.ca_cert.read_bytes(), pki.client_key.read_bytes(), pki.client_cert.read_bytes()
        )
        async with grpc.aio.secure_channel(f"localhost:{self.server.port}", creds) as channel:
            stub = pb_grpc.ExternalScalerStub(channel)
            ref = pb.ScaledObjectRef(name="chat", namespace="serving", scalerMetadata={})
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetMetricSpec(ref, timeout=3)
            # INVALID_ARGUMENT (no model in the metadata) proves the handshake went through.
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value


@pytest.fixture
async def mtls(tmp_path: Path) -> AsyncIterator[MutualTls]:
    pki = make_pki(tmp_path)
    cert, key, client_ca = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.crt"
    cert.write_bytes(pki.server_cert.read_bytes())
    key.write_bytes(pki.server_key.read_bytes())
    client_ca.write_bytes(pki.ca_cert.read_bytes())
    registry, _ = make_registry(FakeMetricSource())
    server = await start_grpc(registry, "127.0.0.1", 0, TlsFiles(cert, key, client_ca))
    try:
        yield MutualTls(server, pki, cert, key, client_ca)
    finally:
        await server.stop(0)


def tls_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "prewarm.tls"]


def _other_pki_key(m: MutualTls) -> bytes:
    other = m.cert.parent / "other"
    other.mkdir(exist_ok=True)
    return make_pki(other).server_key.read_bytes()


BAD_RENEWALS: dict[str, Callable[[MutualTls], tuple[Path, bytes]]] = {
    "empty-client-ca": lambda m: (m.client_ca, b""),
    "garbage-client-ca": lambda m: (m.client_ca, b"not a certificate\n"),
    "garbage-cert": lambda m: (m.cert, b"-----BEGIN CERTIFICATE-----\nAAAA\n"),
    "empty-key": lambda m: (m.key, b""),
    "mismatched-key": lambda m: (m.key, _other_pki_key(m)),
}


@pytest.mark.parametrize("bad", BAD_RENEWALS.values(), ids=BAD_RENEWALS.keys())
async def test_a_bad_renewal_keeps_the_material_in_force_and_warns_naming_the_file(
    mtls: MutualTls,
    caplog: pytest.LogCaptureFixture,
    bad: Callable[[MutualTls], tuple[Path, bytes]],
) -> None:
    caplog.set_level(logging.INFO, logger="prewarm.tls")
    await mtls.call()
    path, content = bad(mtls)
    mtls.rewrite(path, content)
    await mtls.call()  # the old certificate, key and client CA still serve
    await mtls.call()  # ... on every later handshake too
    records = tls_records(caplog)
    assert RELOADED not in [r.getMessage() for r in records]
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(path) in warnings[0].getMessage()


async def test_a_good_renewal_is_adopted_and_logged_once(
    mtls: MutualTls, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="prewarm.tls")
    (mtls.cert.parent / "new").mkdir()
    new = make_pki(mtls.cert.parent / "new")
    mtls.rewrite(mtls.key, new.server_key.read_bytes())  # a handshake between two writes
    await mtls.call()  # the key is not the certificate's yet: the old pair serves
    mtls.rewrite(mtls.cert, new.server_cert.read_bytes())
    mtls.rewrite(mtls.client_ca, new.ca_cert.read_bytes())
    await mtls.call(new)  # the new chain is presented, and the new client CA trusted
    messages = [(r.levelno, r.getMessage()) for r in tls_records(caplog)]
    assert messages[0][0] == logging.WARNING and str(mtls.key) in messages[0][1]
    assert messages[1:] == [(logging.INFO, RELOADED)]
