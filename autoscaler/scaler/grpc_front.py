"""The gRPC front: a process that does nothing but answer KEDA.

Why a process of its own: the scaler process also polls Prometheus, forecasts and decides
for every ScaledObject, and on one interpreter that work takes the GIL and the event loop
from the handlers, which is what KEDA's latency tail is made of. Here the handlers answer
from `MirrorBoard`, which the scaler process keeps current over a socket pair
(`message_pipe.py`, `front_messages.py`). The other work on this loop is light: a message
per changed decision, a report of what KEDA asked about every 10 s, and a heap freeze once
the tracked ScaledObjects settle.

`grpc_front_process.py` starts it as `python -m autoscaler.scaler.grpc_front FD`, a fresh
interpreter that imports only what answering takes (no forecasting, numpy or pydantic), and
sends its settings as the first message. The front never stops on a signal of its own: the
scaler process says when (Ctrl-C reaches both), and when that process is gone, so is the
front.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys

from autoscaler import logs
from autoscaler.scaler.front_messages import (
    Alive,
    CannotListen,
    FrontSettings,
    Listening,
    Stop,
    Sync,
    Synced,
)
from autoscaler.scaler.heap_settling import freeze_when_settled
from autoscaler.scaler.latency_tuning import run_serving_loop, tune_for_latency
from autoscaler.scaler.message_pipe import MessagePipe
from autoscaler.scaler.mirror_board import MirrorBoard
from autoscaler.scaler.server import start_grpc

log = logging.getLogger("prewarm.grpc-front")

# How often the front tells the back which ScaledObjects KEDA still asks about. The back
# drops one after `idle_after_s` (an hour by default) without news, so this can be slow.
SEEN_REPORT_EVERY_S = 10.0


def main(argv: list[str]) -> None:
    """`python -m autoscaler.scaler.grpc_front FD`: FD is this end of the socket pair."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    run_serving_loop(serve_front(socket.socket(fileno=int(argv[1]))))


async def serve_front(sock: socket.socket) -> None:
    back = await MessagePipe.open(sock)
    try:
        settings = await back.receive()
    except EOFError:
        return  # the scaler process died before it told us anything
    if not isinstance(settings, FrontSettings):
        raise TypeError(f"expected FrontSettings first, got {settings!r}")
    logs.configure(settings.log_level)
    board = MirrorBoard(
        settings.profiles,
        back.send,
        settings.prometheus_addresses,
        max_scaled_objects=settings.max_scaled_objects,
    )
    try:
        server = await start_grpc(board, settings.host, settings.port, settings.tls)
    except (OSError, ValueError, RuntimeError) as exc:
        back.send(CannotListen(str(exc) or type(exc).__name__))
        await back.close()
        return
    tune_for_latency(inline_refits=False)
    back.send(Listening(server.port))
    loop = asyncio.get_running_loop()
    # Its cells and KEDA's streams arrive after start-up: freeze them once they stop changing.
    background = [
        loop.create_task(_report_seen(board)),
        loop.create_task(freeze_when_settled(lambda: len(board))),
    ]
    grace_s = 0.0
    try:
        grace_s = await _mirror(back, board, settings.silence_limit_s)
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await server.stop(grace_s)
        await back.close()


async def _mirror(back: MessagePipe, board: MirrorBoard, silence_limit_s: float) -> float:
    """Applies the back's messages until it says stop; returns the grace period to stop with.

    A back silent for `silence_limit_s` (it sends `Alive` far more often) is hung: the front
    stops rather than serve its last decisions as fresh for ever. KEDA then gets errors and
    its fallback, as it would from a hung scaler in one process.
    """
    while True:
        try:
            message = await asyncio.wait_for(back.receive(), silence_limit_s)
        except EOFError:
            log.error("the scaler process is gone: stopping the gRPC front")
            return 0.0
        except TimeoutError:
            log.error(
                "the scaler process said nothing for %.0f s: stopping the gRPC front",
                silence_limit_s,
            )
            return 0.0
        if isinstance(message, Stop):
            return message.grace_s
        if isinstance(message, Sync):
            back.send(Synced(message.token))
        elif not isinstance(message, Alive):
            board.receive(message)  # type: ignore[arg-type]  # the back sends nothing else


async def _report_seen(board: MirrorBoard) -> None:
    while True:
        await asyncio.sleep(SEEN_REPORT_EVERY_S)
        try:
            board.report_seen()
        except OSError:  # the pipe is closed: _mirror stops the front
            return
        except Exception:  # without reports the back drops every ScaledObject as idle
            log.exception("reporting what KEDA asked about failed")


if __name__ == "__main__":
    main(sys.argv)
