"""TLS files for the gRPC server, re-read when they change: certificates rotate without a
restart (a restart would drop every model's history and force a back-fill).

cert-manager renews the Secret, the kubelet swaps the mounted files, and the next TLS
handshake picks the new pair up: gRPC asks `_Rotation.fetch` on every handshake, which
only stats the files unless they changed. A half-written or unreadable renewal keeps the
pair in force and is logged, so a bad rotation never takes the scaler off the air.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=client_ca)

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
        self.files = files
        self.initial = files.read()  # a bad file at start is an error, not a warning
        self._stamp = self._stat()
        self._lock = threading.Lock()  # handshakes run on gRPC's threads

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """None keeps the current pair; a configuration replaces it from this handshake on."""
        stamp = self._stat()
        with self._lock:
            if stamp == self._stamp:
                return None
            self._stamp = stamp
        try:
            config = self.files.read()
        except ValueError as exc:
            log.warning("TLS files changed but cannot be read; keeping the old ones: %s", exc)
            return None
        log.info("TLS certificate reloaded", extra={"cert_file": str(self.files.cert_file)})
        return config

    def _stat(self) -> tuple[tuple[int, int], ...]:
        out = []
        for path in self.files.paths:
            try:
                st = path.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((-1, -1))
        return tuple(out)
