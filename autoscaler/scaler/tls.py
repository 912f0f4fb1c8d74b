"""TLS files for the gRPC server, re-read when they change: certificates rotate without a
restart (a restart would drop every model's history and force a back-fill).

cert-manager renews the Secret, the kubelet swaps the mounted files, and the next TLS
handshake picks the new pair up: gRPC asks `_Rotation.fetch` on every handshake, which
only stats the files unless they changed (autoscaler/file_watch.py). A half-written,
unreadable or inconsistent renewal (an empty client CA, a key that is not the certificate's)
keeps the material in force and is logged as a warning naming the file, so a bad rotation
never takes the scaler off the air. gRPC itself would take an empty client CA and refuse
every client, so the material is checked here, with OpenSSL, before gRPC sees it; "TLS
certificate reloaded" means adopted.
"""

from __future__ import annotations

import logging
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autoscaler.file_watch import Reloading

if TYPE_CHECKING:
    import grpc

log = logging.getLogger("prewarm.tls")


@dataclass(frozen=True)
class TlsFiles:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None  # set: clients must present a certificate it signed

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.cert_file, self.key_file, self.client_ca_file) if p)

    # grpc is imported where it is used: a scaler process whose gRPC front runs apart
    # (grpc_front.py) passes TlsFiles along and never loads grpc's 22 MiB itself.
    def read(self) -> grpc.ServerCertificateConfiguration:
        import grpc

        try:
            cert, key = self.cert_file.read_bytes(), self.key_file.read_bytes()
            client_ca = self.client_ca_file.read_bytes() if self.client_ca_file else None
        except OSError as exc:
            raise ValueError(f"cannot read TLS file {exc.filename}: {exc.strerror}") from None
        self._check_pair(cert, key)
        if self.client_ca_file is not None and client_ca is not None:
            self._check_client_ca(client_ca)
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=client_ca)

    def _check_pair(self, cert: bytes, key: bytes) -> None:
        """The bytes read, not the paths: the files may change again between two reads."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory(prefix="prewarm-tls-") as folder:  # mode 0700
            cert_copy, key_copy = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert_copy.write_bytes(cert)
            key_copy.write_bytes(key)
            try:
                context.load_cert_chain(cert_copy, key_copy)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"cannot load the TLS pair {self.cert_file} / {self.key_file}: {exc}"
                ) from None

    def _check_client_ca(self, client_ca: bytes) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_verify_locations(cadata=client_ca.decode("ascii"))
        except (ValueError, ssl.SSLError) as exc:  # ValueError: empty, or not ASCII PEM
            raise ValueError(
                f"client CA file {self.client_ca_file} holds no certificate: {exc}"
            ) from None

    def credentials(self) -> grpc.ServerCredentials:
        import grpc

        rotation = _Rotation(self)
        return grpc.dynamic_ssl_server_credentials(
            rotation.initial,
            rotation.fetch,
            require_client_authentication=self.client_ca_file is not None,
        )


class _Rotation:
    def __init__(self, files: TlsFiles) -> None:
        # A bad file at start is an error, not a warning; later ones keep the pair in force.
        self._material = Reloading(
            files.paths,
            files.read,
            what="TLS certificate",
            log=log,
            details=lambda _: {"cert_file": str(files.cert_file)},
        )
        assert self._material.value is not None
        self.initial = self._material.value

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """None keeps the current pair; a configuration replaces it from this handshake on."""
        return self._material.value if self._material.refresh() else None
