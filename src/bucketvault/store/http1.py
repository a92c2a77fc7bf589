"""HTTP/1.1 for the S3 request path: keep-alive connections on asyncio, one request at a
time on each, answers parsed by httptools (llhttp, in C).

S3 needs a small part of HTTP: a request line, headers, a body of known length (bytes,
or a stream the caller sized), and an answer read whole or as it arrives. aiohttp's
general-purpose request and response objects were most of the client's CPU per request:
through `s3_wire`, a 4 KiB object's GET and PUT cost 333 us of client CPU on this path
against 575 us on aiohttp (bench/transport_probe.py, bench/README.md). TLS, and the
kernel's TCP, are asyncio's.

A connection goes back to its pool only when its answer was read to the end and the
server keeps it open; anything else (an error, an answer dropped unread, a server's
`Connection: close`) closes it. A connection idle longer than `IDLE_SECONDS` is not
reused: servers close idle connections, and a request sent on one would be lost.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterable, Mapping
from typing import Any, TypeVar, cast

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

T = TypeVar("T")

IDLE_SECONDS = 10.0
# reading pauses while this much of an answer's body waits for its reader, and resumes
# below a quarter of it: a slow reader holds at most about this much per connection
HIGH_WATER = 1024 * 1024
LOW_WATER = HIGH_WATER // 4
# a body this large is handed to the kernel beside its head (one writev), not joined to it
JOIN_LIMIT = 64 * 1024

Body = AsyncIterable[bytes | memoryview] | bytes | None


class ConnectTimeout(TimeoutError):
    """The server did not accept the connection in time."""


class ConnectionClosed(ConnectionError):
    """The server closed or reset the connection before its answer was complete."""


class BadAnswer(ConnectionError):
    """What came back is not an HTTP/1.1 answer."""


class _Connection(asyncio.Protocol):
    """One connection; `begin` readies it for the answer to one request."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser: Any = None
        self._head_only = False
        self._head: asyncio.Future[tuple[int, CIMultiDictProxy[str]]] | None = None
        self._header_pairs: list[tuple[str, str]] = []
        self._pieces: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._reading_paused = False
        self.complete = False
        self.keep_alive = False
        self.body_cut = False  # the request's body was not sent whole
        self._error: BaseException | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete and self._error is None:
            error = ConnectionClosed("the server closed the connection")
            error.__cause__ = exc
            self._fail(error)
        self._wake_sender(self._error or ConnectionClosed("connection closed"))

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake_sender()

    def _wake_sender(self, error: BaseException | None = None) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            if error is None:
                drained.set_result(None)
            else:
                drained.set_exception(error)
                drained.exception()  # retrieved: the sender may have stopped waiting

    def data_received(self, data: bytes) -> None:
        if self._parser is None or self.complete:
            self._fail(BadAnswer("the server sent bytes that answer no request"))
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BadAnswer(f"the server's answer is not HTTP/1.1 ({exc})"))
            self.close()

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_pairs.append(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        )

    def on_headers_complete(self) -> None:
        head = self._head
        headers = CIMultiDictProxy(CIMultiDict(self._header_pairs))
        if head is not None and not head.done():
            head.set_result((self._parser.get_status_code(), headers))
        self._wake_sender()  # a sender waiting to write more stops: the answer is in
        if self._head_only:  # an answer to HEAD has no body, whatever its Content-Length
            self._finish()

    def on_body(self, body: bytes) -> None:
        self._pieces.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.complete:
            self._finish()

    # used by the pool and the answer

    def begin(self, *, head_only: bool) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = head_only
        self._head = asyncio.get_running_loop().create_future()
        self._header_pairs = []
        # what the last reader left unread of a complete answer is not this answer's
        self._pieces.clear()
        self._buffered = 0
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False  # it paused for what was left unread
            self.transport.resume_reading()
        self.complete = False
        self.keep_alive = False
        self.body_cut = False

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and not self.body_cut

    async def head(self, seconds: float) -> tuple[int, CIMultiDictProxy[str]]:
        head = self._head
        assert head is not None
        if head.done():
            return head.result()
        return await self._within(head, seconds)

    async def drain(self, seconds: float) -> None:
        """Wait while the kernel's send buffer is full: until the server reads on, has
        answered (it may refuse a body before taking it all), or `seconds` pass."""
        if self._error is not None:
            raise self._error
        drained = self._drained
        if drained is not None and not self.answer_started():
            await self._within(drained, seconds)

    async def piece(self, seconds: float) -> bytes:
        """The next part of the body that arrived; b"" at its end."""
        while not self._pieces:
            if self._error is not None:
                raise self._error
            if self.complete:
                return b""
            self._wakeup = asyncio.get_running_loop().create_future()
            try:
                await self._within(self._wakeup, seconds)
            finally:
                self._wakeup = None
        piece = self._pieces.popleft()
        self._buffered -= len(piece)
        if self._reading_paused and self._buffered < LOW_WATER and self.transport:
            self._reading_paused = False
            self.transport.resume_reading()
        return piece

    async def _within(self, waiter: asyncio.Future[T], seconds: float) -> T:
        """`waiter`'s result; if it takes over `seconds`, the connection fails with
        TimeoutError and closes. A timer handle, not asyncio.timeout(): every request
        waits here at least once, and a handle costs a few microseconds less."""
        timer = asyncio.get_running_loop().call_later(seconds, self._timed_out)
        try:
            return await waiter
        finally:
            timer.cancel()

    def answer_started(self) -> bool:
        return self._head is not None and self._head.done()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _timed_out(self) -> None:
        self._fail(TimeoutError("the server sent nothing for too long"))
        self.close()

    def _finish(self) -> None:
        self.complete = True
        self.keep_alive = bool(self._parser.should_keep_alive())
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        head = self._head
        if head is not None and not head.done():
            head.set_exception(error)
            head.exception()  # retrieved: nobody may be waiting for it any more
        self._wake_sender(error)
        self._wake()

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)


class Answer:
    """An answer whose head is in; its body is read with `read` or `piece`, and the
    answer must then be released (or closed, to drop what is left of it)."""

    __slots__ = ("_conn", "_pool", "headers", "status")

    def __init__(
        self, pool: Http1Pool, conn: _Connection, status: int, headers: CIMultiDictProxy[str]
    ) -> None:
        self._pool = pool
        self._conn: _Connection | None = conn
        self.status = status
        self.headers = headers

    async def read(self) -> bytes:
        pieces = []
        while piece := await self.piece():
            pieces.append(piece)
        return b"".join(pieces)

    async def piece(self) -> bytes:
        """The next part of the body as it arrived; b"" at its end."""
        if self._conn is None:
            return b""
        return await self._conn.piece(self._pool.read_timeout)

    def release(self) -> None:
        """Done with the answer: its connection is reused if it was read to the end."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.give_back(conn)

    def close(self) -> None:
        """Done with the answer, read or not: its connection is closed."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            self._pool.give_back(conn)


class Http1Pool:
    """Up to `limit` keep-alive connections to one host; a request waits for a free one."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None,
        limit: int,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self._host = host
        self._port = port
        self._tls = tls
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []
        self._connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._closed = False

    async def request(
        self, method: str, target: str, headers: Mapping[str, str], body: Body
    ) -> Answer:
        """Send one request and wait for its answer's head. `headers` must carry the Host
        and, for a streamed body, its Content-Length (S3 takes no chunked upload)."""
        if self._closed:
            raise RuntimeError("HTTP connection pool used after close()")
        lines = [f"{method} {target} HTTP/1.1\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
        if isinstance(body, bytes) and "Content-Length" not in headers:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        text = "".join(lines)
        if text.count("\n") != len(lines) or text.count("\r") != len(lines):
            # a name or value with a line break would end the head early (request smuggling)
            raise ValueError(f"a header of the {method} request holds a line break")
        head = text.encode("utf-8", "surrogateescape")
        await self._slots.acquire()
        conn: _Connection | None = None
        try:
            conn = await self._connection()
            conn.begin(head_only=method == "HEAD")
            transport = conn.transport
            assert transport is not None
            if body is None:
                transport.write(head)
            elif isinstance(body, bytes):
                if len(body) <= JOIN_LIMIT:
                    transport.write(head + body)
                else:
                    transport.writelines((head, body))
            else:
                transport.write(head)
                async for chunk in body:
                    if conn.closed or conn.answer_started():
                        conn.body_cut = True  # the server answered before taking it all
                        break
                    transport.write(chunk)
                    await conn.drain(self.read_timeout)
            status, answer_headers = await conn.head(self.read_timeout)
            return Answer(self, conn, status, answer_headers)
        except BaseException:
            if conn is not None:
                conn.close()
            self._slots.release()
            raise

    def give_back(self, conn: _Connection) -> None:
        self._slots.release()
        if self._closed or not conn.reusable():
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)

    async def _connection(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, protocol = await loop.create_connection(
                    _Connection,
                    self._host,
                    self._port,
                    ssl=self._tls,
                    server_hostname=self._host if self._tls is not None else None,
                )
        except TimeoutError:
            raise ConnectTimeout(
                f"no connection to {self._host}:{self._port} within {self._connect_timeout} s"
            ) from None
        return protocol

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
