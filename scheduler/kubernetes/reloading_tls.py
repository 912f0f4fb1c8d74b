"""A server TLS context whose certificate follows its files, for the placement webhook.

cert-manager renews the webhook's Secret and the kubelet swaps the mounted files; a context
loaded once would go on presenting the old certificate until it expires, and then every
admission call fails (and, with `failurePolicy: Ignore`, pods are admitted unplaced). Here
each TLS handshake stats the two files (the ClientHello callback runs for every handshake,
with or without SNI) and, when they changed, loads the new pair into a fresh context for
that handshake and the ones after. A renewal that cannot be read (half-written, key
missing) keeps the pair in force and is logged.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

log = logging.getLogger("prewarm.tls")

Stamp = tuple[tuple[int, int], ...]


class ReloadingServerContext:
    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        self._stamp = self._stat()
        self._current = self._load()  # unreadable at start: an error, not a warning
        # The listening socket's context: every handshake starts here and is moved to the
        # context holding the newest pair.
        self.context = self._load()
        self.context.sni_callback = self._on_client_hello

    def _on_client_hello(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
        listening: ssl.SSLContext,
    ) -> None:  # fmt: skip
        stamp = self._stat()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._current = self._load()
            except ValueError as exc:
                log.warning("TLS files changed but cannot be read; keeping the old ones: %s", exc)
            else:
                log.info("TLS certificate reloaded", extra={"cert_file": str(self.cert_file)})
        connection.context = self._current

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

    def _stat(self) -> Stamp:
        out = []
        for path in (self.cert_file, self.key_file):
            try:
                st = path.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((-1, -1))
        return tuple(out)
