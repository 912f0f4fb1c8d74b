"""A server TLS context whose certificate follows its files, for the placement webhook.

cert-manager renews the webhook's Secret and the kubelet swaps the mounted files; a context
loaded once would go on presenting the old certificate until it expires, and then every
admission call fails (and, with `failurePolicy: Ignore`, pods are admitted unplaced). Here
each TLS handshake stats the two files (the ClientHello callback runs for every handshake,
with or without SNI) and, when they changed, loads the new pair into a fresh context for
that handshake and the ones after. A renewal that cannot be read (half-written, key
missing) keeps the pair in force and is logged (autoscaler/file_watch.py).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from autoscaler.file_watch import Reloading

log = logging.getLogger("prewarm.tls")


class ReloadingServerContext:
    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        # Unreadable at start: an error, not a warning.
        self._pair = Reloading(
            (cert_file, key_file),
            self._load,
            what="TLS certificate",
            log=log,
            details=lambda _: {"cert_file": str(cert_file)},
        )
        # The listening socket's context: every handshake starts here and is moved to the
        # context holding the newest pair.
        self.context = self._load()
        self.context.sni_callback = self._on_client_hello

    def _on_client_hello(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
        listening: ssl.SSLContext,
    ) -> None:  # fmt: skip
        self._pair.refresh()
        current = self._pair.value
        assert current is not None  # loaded in __init__, and only ever replaced
        connection.context = current

    def _load(self) -> ssl.SSLContext:
        for path in (self.cert_file, self.key_file):  # OpenSSL's errors do not name the file
            try:
                path.open("rb").close()
            except OSError as exc:
                raise ValueError(f"cannot read TLS file {path}: {exc.strerror}") from None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"cannot load the TLS pair {self.cert_file} / {self.key_file}: {exc}"
            ) from None
        return context
