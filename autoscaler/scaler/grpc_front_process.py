"""The scaler process's handle on its gRPC front process (`grpc_front.py`).

It starts the front, then keeps the front's mirror current: every decision that changes
what KEDA would be told, every dropped ScaledObject and every profile reload go down the
pipe; what KEDA asks about comes back up and is tracked in the registry. It looks like
`server.RunningServer` (`port`, `serving`, `stop`) so the app treats both alike, plus
`lost`, set when the front dies on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import subprocess
import sys

from autoscaler.decision import Decision
from autoscaler.scaler.front_messages import (
    Alive,
    CannotListen,
    Dropped,
    FrontSettings,
    Listening,
    Profiles,
    Published,
    Refused,
    Seen,
    Stop,
    Sync,
    Synced,
)
from autoscaler.scaler.message_pipe import MessagePipe
from autoscaler.scaler.metadata import MetadataError, ScalerTarget
from autoscaler.scaler.profile_book import ProfileBook
from autoscaler.scaler.registry import ScalerRegistry
from autoscaler.scaler.tls import TlsFiles
from autoscaler.scaler.tracked import Tracked
from autoscaler.scaler.tracking_limit import TooManyScaledObjects

log = logging.getLogger("prewarm.serve")

START_TIMEOUT_S = 60.0  # a fresh interpreter importing grpc, on a busy node
AFTER_GRACE_S = 5.0  # how long past its grace period a stopping front may take
ALIVE_EVERY_S = 5.0
# Generous: a loop busy with a thousand back-fills still sends within a second or two.
SILENCE_LIMIT_S = 60.0


class GrpcFrontProcess:
    def __init__(
        self,
        registry: ScalerRegistry,
        *,
        alive_every_s: float = ALIVE_EVERY_S,
        silence_limit_s: float = SILENCE_LIMIT_S,
    ) -> None:
        self.registry = registry
        self.alive_every_s = alive_every_s
        self.silence_limit_s = silence_limit_s
        self.port = 0
        self.serving = False
        self.lost = asyncio.Event()  # the front is gone (or unreachable) without a Stop
        self._front: MessagePipe | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._reading: asyncio.Task[None] | None = None
        self._beating: asyncio.Task[None] | None = None
        self._stopping = False
        self._told: dict[ScalerTarget, tuple[object, ...]] = {}  # what the front last heard
        self._syncs: dict[int, asyncio.Future[None]] = {}
        self._sync_tokens = itertools.count(1)

    async def start(self, host: str, port: int, tls: TlsFiles | None) -> None:
        """Starts the front and returns once it listens; OSError when it cannot."""
        ours, theirs = socket.socketpair()
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "autoscaler.scaler.grpc_front", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                # Its own process group: a terminal's Ctrl-C reaches only this process, which
                # then stops the front in order (the front would ignore it anyway).
                process_group=0,
            )
        try:
            first = await self._first_word(ours, host, port, tls)
        except BaseException:
            await self._kill()
            raise
        self.port = first.port
        registry = self.registry
        registry.listeners = (*registry.listeners, self._published)
        registry.on_drop = (*registry.on_drop, self._dropped)
        registry.on_profiles = (*registry.on_profiles, self._profiles)
        self.serving = True
        for tracked in registry.all():  # decided before the front was up
            if tracked.decision is not None:
                self._published(tracked, tracked.decision)
        loop = asyncio.get_running_loop()
        self._reading = loop.create_task(self._read_front())
        self._beating = loop.create_task(self._say_alive())

    async def _say_alive(self) -> None:
        while self.serving:
            await asyncio.sleep(self.alive_every_s)
            self._send(Alive())

    async def _first_word(
        self, ours: socket.socket, host: str, port: int, tls: TlsFiles | None
    ) -> Listening:
        self._front = await MessagePipe.open(ours)
        log_level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
        settings = FrontSettings(
            host,
            port,
            tls,
            self.registry.profiles.choice,
            self.registry.prometheus_addresses,
            log_level,
            self.alive_every_s,
            self.silence_limit_s,
            self.registry.max_tracked,
        )
        self._front.send(settings)
        try:
            first = await asyncio.wait_for(self._front.receive(), START_TIMEOUT_S)
        except TimeoutError:
            raise OSError(
                f"the gRPC front process did not answer within {START_TIMEOUT_S:.0f} s"
            ) from None
        except EOFError:
            await self._wait_exit(AFTER_GRACE_S)
            code = self.exitcode
            raise OSError(f"the gRPC front process exited at start (exit code {code})") from None
        if isinstance(first, CannotListen):
            raise OSError(first.reason)
        if not isinstance(first, Listening):
            raise OSError(f"the gRPC front process said {first!r} instead of its port")
        return first

    def _published(self, tracked: Tracked, decision: Decision) -> None:
        # Only what the front answers from: most decisions repeat the last one, and each
        # message is work on the loop that answers KEDA.
        told = (
            decision.replicas,
            decision.valid,
            decision.forecast_replicas > 0,
            "" if decision.valid else decision.reason,
            "" if decision.valid else tracked.last_error,
        )
        if self._told.get(tracked.target) != told:
            self._told[tracked.target] = told
            self._send(Published(tracked.target, decision, tracked.last_error))

    def _dropped(self, tracked: Tracked) -> None:
        self._told.pop(tracked.target, None)
        self._send(Dropped(tracked.target))

    def _profiles(self, book: ProfileBook) -> None:
        self._send(Profiles(book.choice))

    async def synced(self) -> None:
        """Returns once the front has applied everything sent so far; EOFError if it died."""
        if not self.serving:
            raise EOFError("the gRPC front process is not running")
        token = next(self._sync_tokens)
        done = self._syncs[token] = asyncio.get_running_loop().create_future()
        self._send(Sync(token))
        await done

    def _send(self, message: Published | Dropped | Profiles | Stop | Sync | Alive) -> None:
        if self._front is None or not (self.serving or isinstance(message, Stop)):
            return
        try:
            self._front.send(message)
        except OSError:
            self._front_gone()

    async def _read_front(self) -> None:
        assert self._front is not None
        try:
            while True:
                message = await self._front.receive()
                if isinstance(message, Seen):
                    self._track(message.targets)
                elif isinstance(message, Refused):
                    self.registry.note_refused(message.count)
                elif isinstance(message, Synced):
                    waiting = self._syncs.pop(message.token, None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(None)
        except EOFError:
            pass
        except Exception:  # a garbled message: without this reader the front is useless
            log.exception("reading the gRPC front process failed")
        self._front_gone()

    def _track(self, targets: tuple[ScalerTarget, ...]) -> None:
        for target in targets:
            try:
                self.registry.track(target)
            except (MetadataError, TooManyScaledObjects) as exc:
                # The front checked against profiles a reload has changed since, or counted
                # room this process no longer has: it forgets the target, so KEDA's next call
                # is checked afresh.
                log.warning("not tracking %s: %s", target.scaled_object, exc)
                self._send(Dropped(target))
            except Exception:  # one ScaledObject's failure must not stop the others
                log.exception("cannot track %s", target.scaled_object)
                self._send(Dropped(target))

    def _front_gone(self) -> None:
        self.serving = False
        for waiting in self._syncs.values():
            if not waiting.done():
                waiting.set_exception(EOFError("the gRPC front process exited"))
        self._syncs.clear()
        if not self._stopping and not self.lost.is_set():
            log.error("the gRPC front process exited")
            self.lost.set()

    async def stop(self, grace_s: float = 2.0) -> None:
        if self._process is None or self._front is None:
            return
        self._stopping = True
        self._send(Stop(grace_s))
        self.serving = False
        await self._wait_exit(grace_s + AFTER_GRACE_S)
        await self._kill()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def exitcode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    async def _wait_exit(self, timeout_s: float) -> None:
        assert self._process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(self._process.wait, timeout_s)

    async def _kill(self) -> None:
        tasks = [t for t in (self._reading, self._beating) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            await self._wait_exit(AFTER_GRACE_S)
        if self._front is not None:
            await self._front.close()
