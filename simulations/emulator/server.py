"""The emulator's HTTP face: GET /metrics for Prometheus, GET /healthz for probes.

Stdlib `ThreadingHTTPServer` in a daemon thread: no event loop to share with the caller,
and a scrape (a snapshot plus string formatting) is cheap enough for a thread per request.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from simulations.emulator.exposition import CONTENT_TYPE, render
from simulations.emulator.fleet_state import EmulatedFleet

log = logging.getLogger(__name__)
_POLL_S = 0.05  # how often serve_forever checks for stop(): bounds how long stop() takes


class EmulatorServer:
    """Serves one emulated fleet. `port=0` binds a free port; read it from `.port`.

    Use as a context manager (`with EmulatorServer(fleet) as server:`) or call start/stop.
    """

    def __init__(
        self,
        fleet: EmulatedFleet,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        legacy_names: bool = False,
    ) -> None:
        self.fleet = fleet
        self.host = host
        self.legacy_names = legacy_names
        self._requested_port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (only known once started when 0 was asked for)."""
        if self._httpd is None:
            return self._requested_port
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        if self._httpd is not None:
            raise RuntimeError("the emulator server is already running")
        httpd = ThreadingHTTPServer((self.host, self._requested_port), _handler(self))
        httpd.daemon_threads = True  # a hung scraper must not keep the process alive
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": _POLL_S},
            name="vllm-emulator-http",
            daemon=True,
        )
        self._thread.start()
        log.info("vLLM emulator serving %s/metrics", self.url)
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    """A handler class bound to `server` (http.server instantiates it per request)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body = render(server.fleet.snapshot(), legacy_names=server.legacy_names)
                self._reply(200, CONTENT_TYPE, body)
            elif path == "/healthz":
                self._reply(200, "text/plain; charset=utf-8", "ok\n")
            else:
                self._reply(404, "text/plain; charset=utf-8", "not found: try /metrics\n")

        def _reply(self, status: int, content_type: str, body: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            # Scrapes every few seconds would flood stderr; keep them at debug level.
            log.debug("%s %s", self.address_string(), format % args)

    return Handler
