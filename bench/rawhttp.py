"""A minimal keep-alive HTTP/1.1 POST client, for when aiohttp's client costs too much.

On this 2-core machine the load generator competes with the daemon and Redis for CPU.
aiohttp's client spends about 150 us of CPU per request here; at a few thousand requests
a second (batches of 1) that is a third of a core taken from the system under test. This
client does only what the benchmark needs (POST one pre-encoded body on a pooled
connection, read status, Retry-After and a Content-Length or chunked body) for about a
third of that. It is opt-in (``--client raw``); aiohttp stays the default because it is
the well-trodden implementation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

from yarl import URL


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    retry_after: str | None
    keep_alive: bool


class ProtocolError(ConnectionError):
    """The server's answer was not HTTP/1.1 as this client understands it."""


def parse_response(buffer: bytearray) -> tuple[Response, int] | None:
    """Parse one complete response at the start of ``buffer``: (response, bytes used), or
    None while incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    start = end + 4
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunked = _dechunk(buffer, start)
        if chunked is None:
            return None
        body, used = chunked
    else:
        length = int(headers.get("content-length", "0"))
        if len(buffer) < start + length:
            return None
        body, used = bytes(buffer[start : start + length]), start + length
    keep_alive = headers.get("connection", "").lower() != "close" and parts[0] != "HTTP/1.0"
    return Response(int(parts[1]), body, headers.get("retry-after"), keep_alive), used


def _dechunk(buffer: bytearray, position: int) -> tuple[bytes, int] | None:
    body = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
        position = line_end + 2
        if size == 0:
            if buffer[position : position + 2] == b"\r\n":
                return bytes(body), position + 2
            trailers_end = buffer.find(b"\r\n\r\n", position)
            return None if trailers_end < 0 else (bytes(body), trailers_end + 4)
        if len(buffer) < position + size + 2:
            return None
        body += buffer[position : position + size]
        position += size + 2


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Response] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport implements asyncio.Transport without subclassing it
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed before the response"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None or self._waiter.done():
            return
        try:
            parsed = parse_response(self._buffer)
        except (ProtocolError, ValueError) as error:
            self._waiter.set_exception(ProtocolError(str(error)))
            self.close()
            return
        if parsed is not None:
            response, used = parsed
            del self._buffer[:used]
            self._waiter.set_result(response)

    def request(self, head: bytes, body: bytes) -> asyncio.Future[Response]:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.writelines((head, body))
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class RawPool:
    """Up to ``limit`` keep-alive connections posting to one URL; callers beyond the limit
    wait for a free connection (and that wait is part of their latency)."""

    def __init__(self, url: URL, limit: int, timeout: float) -> None:
        if url.scheme != "http" or url.host is None:
            raise ValueError("the raw client speaks plain http to a host")
        self._host, self._port = url.host, url.port or 80
        self._head = (
            f"POST {url.raw_path_qs} HTTP/1.1\r\nHost: {url.host}:{self._port}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []
        self._timeout = timeout

    async def post(self, body: bytes) -> Response:
        async with self._slots:
            connection = self._idle_connection() or await self._connect()
            try:
                async with asyncio.timeout(self._timeout):
                    response = await connection.request(
                        self._head + b"%d\r\n\r\n" % len(body), body
                    )
            except BaseException:
                connection.close()
                raise
            if response.keep_alive and not connection.closed:
                self._idle.append(connection)
            else:
                connection.close()
            return response

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Connection, self._host, self._port)
        return protocol

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
