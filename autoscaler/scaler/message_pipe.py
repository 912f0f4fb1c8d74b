"""Pickled messages between the scaler process and its gRPC front, on asyncio streams.

A socket pair, each message a 4-byte length and its pickle. Sends are buffered by the
stream and never block on a full socket, so neither event loop ever waits on the other.
The buffer has no cap: a peer that stops reading makes it grow, which is why each side
treats the other's silence or death as fatal. A closed peer shows up as `EOFError` from
`receive`.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import socket
import struct

_LENGTH = struct.Struct(">I")


class MessagePipe:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, sock: socket.socket) -> MessagePipe:
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        return cls(reader, writer)

    def send(self, message: object) -> None:
        """Queues `message`; OSError once the peer is known to be gone."""
        if self._writer.is_closing():
            raise ConnectionResetError("the other process closed the pipe")
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(_LENGTH.pack(len(payload)) + payload)

    async def receive(self) -> object:
        """The next message; EOFError when the peer has closed its end."""
        try:
            (length,) = _LENGTH.unpack(await self._reader.readexactly(_LENGTH.size))
            return pickle.loads(await self._reader.readexactly(length))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise EOFError("the other process closed the pipe") from exc

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
