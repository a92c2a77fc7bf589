"""http1: the S3 path's HTTP/1.1 connections, against a scripted server on loopback.

The real servers (rclone serve s3, moto, SeaweedFS) exercise it in every store test;
these pin down what they seldom do: an answer cut off, a server that closes or stalls, a
reader that stops early, an answer that does not fit in memory at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bucketvault.store import http1
from bucketvault.store.http1 import BadAnswer, ConnectionClosed, Http1Pool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[bool]]


class Scripted:
    """A loopback server: each request's head (and body, by Content-Length) is read and
    handed to `handler`, which writes the answer and returns whether to keep going."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.bodies: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            for _ in range(1000):  # bounded
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                self.bodies.append(await reader.readexactly(length) if length else b"")
                if not await self.handler(reader, writer, head):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@contextlib.asynccontextmanager
async def scripted(
    handler: Handler, **pool_args: float
) -> AsyncIterator[tuple[Scripted, Http1Pool]]:
    server = Scripted(handler)
    server.server = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    args: dict[str, float] = {"connect_timeout": 2.0, "read_timeout": 2.0} | pool_args
    pool = Http1Pool(
        "127.0.0.1",
        server.port,
        tls=None,
        limit=4,
        connect_timeout=args["connect_timeout"],
        read_timeout=args["read_timeout"],
    )
    try:
        yield server, pool
    finally:
        pool.close()
        server.server.close()
        await server.server.wait_closed()


def answer(body: bytes, *, status: str = "200 OK", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def echo_path(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
) -> bool:
    path = head.split(b" ")[1]
    writer.write(answer(b"you asked for " + path))
    return True


HOST = {"Host": "127.0.0.1"}


async def get(pool: Http1Pool, path: str) -> tuple[int, bytes]:
    got = await pool.request("GET", path, HOST, None)
    try:
        return got.status, await got.read()
    finally:
        got.release()


async def test_answers_come_back_on_one_kept_connection() -> None:
    async with scripted(echo_path) as (server, pool):
        for n in range(5):
            assert await get(pool, f"/b/k{n}") == (200, f"you asked for /b/k{n}".encode())
        assert server.connections == 1


async def test_bytes_a_reader_left_unread_never_reach_the_next_answer() -> None:
    async def two_pieces(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> bool:
        if b"/first" in head:  # the body in two pieces
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b"A" * 10)
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"B" * 10)
        else:
            writer.write(answer(b"second"))
        return True

    async with scripted(two_pieces) as (_, pool):
        first = await pool.request("GET", "/first", HOST, None)
        await asyncio.sleep(0.2)  # the whole answer has arrived; only part of it is read
        assert await first.piece() == b"A" * 10
        first.release()
        assert await get(pool, "/second") == (200, b"second")


async def test_an_answer_to_head_ends_with_its_head() -> None:
    async def head_then_get(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> bool:
        if head.startswith(b"HEAD"):
            writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 4096\r\nETag: "x"\r\n\r\n')
        else:
            writer.write(answer(b"body"))
        return True

    async with scripted(head_then_get) as (server, pool):
        got = await pool.request("HEAD", "/b/k", HOST, None)
        assert (got.status, got.headers["etag"], await got.read()) == (200, '"x"', b"")
        got.release()
        assert await get(pool, "/b/k") == (200, b"body")
        assert server.connections == 1


async def test_a_chunked_answer_is_read_whole() -> None:
    async def chunked(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        return True

    async with scripted(chunked) as (server, pool):
        assert await get(pool, "/") == (200, b"hello world")
        assert await get(pool, "/") == (200, b"hello world")
        assert server.connections == 1


async def test_an_answer_cut_off_mid_body_raises_connection_closed() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 40)
        return False  # and close

    async with scripted(cut) as (_, pool):
        got = await pool.request("GET", "/", HOST, None)
        with pytest.raises(ConnectionClosed):
            await got.read()
        got.release()


async def test_a_server_that_closes_after_answering_gets_a_new_connection() -> None:
    async def closing(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> bool:
        writer.write(answer(b"bye", extra="Connection: close\r\n"))
        return False

    async with scripted(closing) as (server, pool):
        assert await get(pool, "/") == (200, b"bye")
        assert await get(pool, "/") == (200, b"bye")
        assert server.connections == 2


async def test_a_server_that_never_answers_times_out() -> None:
    async def silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> bool:
        await asyncio.sleep(5)
        return False

    async with scripted(silent, read_timeout=0.2) as (_, pool):
        with pytest.raises(TimeoutError):
            await pool.request("GET", "/", HOST, None)


async def test_what_is_not_http_raises_bad_answer() -> None:
    async def garbage(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> bool:
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        return True

    async with scripted(garbage) as (_, pool):
        with pytest.raises(BadAnswer):
            await pool.request("GET", "/", HOST, None)


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    async with scripted(echo_path) as (server, pool):
        for value in ("a\r\nX-Injected: 1", "a\nb", "a\rb"):
            with pytest.raises(ValueError, match="line break"):
                await pool.request("GET", "/", {**HOST, "x-amz-meta-note": value}, None)
        assert server.connections == 0
        assert await get(pool, "/ok") == (200, b"you asked for /ok")


async def test_a_streamed_body_arrives_exactly() -> None:
    async def stored(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> bool:
        writer.write(answer(b""))
        return True

    pieces = [bytes([n]) * (100_000 + n) for n in range(20)]
    size = sum(map(len, pieces))

    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    async with scripted(stored) as (server, pool):
        got = await pool.request("PUT", "/b/k", {**HOST, "Content-Length": str(size)}, body())
        assert got.status == 200 and await got.read() == b""
        got.release()
        got = await pool.request("PUT", "/b/k2", HOST, b"small")
        got.release()
        assert server.bodies == [b"".join(pieces), b"small"]
        assert server.connections == 1


async def test_a_large_answer_read_slowly_is_held_a_little_at_a_time() -> None:
    size = 8 * 1024 * 1024

    async def large(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for n in range(size // 65536):
            writer.write(bytes([n % 251]) * 65536)
            await writer.drain()
        return True

    async with scripted(large) as (_, pool):
        got = await pool.request("GET", "/big", HOST, None)
        conn = got._conn
        assert conn is not None
        received = 0
        most_held = 0
        while piece := await got.piece():
            received += len(piece)
            most_held = max(most_held, conn._buffered)
            await asyncio.sleep(0.001)
        got.release()
        assert received == size
        # reading pauses above HIGH_WATER; what was in flight when it paused is on top
        assert most_held < http1.HIGH_WATER + 1024 * 1024


async def test_an_idle_connection_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "IDLE_SECONDS", 0.05)
    async with scripted(echo_path) as (server, pool):
        await get(pool, "/a")
        await asyncio.sleep(0.1)
        await get(pool, "/b")
        assert server.connections == 2


async def test_a_refused_connection_raises_connection_refused() -> None:
    async with scripted(echo_path) as (server, _):
        port = server.port
    pool = Http1Pool("127.0.0.1", port, tls=None, limit=1, connect_timeout=1, read_timeout=1)
    with pytest.raises(ConnectionRefusedError):
        await pool.request("GET", "/", HOST, None)
    pool.close()


async def test_a_body_that_stops_arriving_times_out() -> None:
    async def stalls(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        await writer.drain()
        await asyncio.sleep(5)
        return False

    async with scripted(stalls, read_timeout=0.2) as (_, pool):
        got = await pool.request("GET", "/", HOST, None)
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await got.read()
        assert asyncio.get_running_loop().time() - started < 2
        got.release()


async def test_a_server_that_refuses_a_body_early_is_heard_and_its_connection_dropped() -> None:
    refused = answer(b"<Error><Code>AccessDenied</Code></Error>", status="403 Forbidden")

    async def early(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> bool:
        writer.write(refused)  # and reads no more of the body
        await writer.drain()
        await asyncio.sleep(3)
        return False

    size = 64 * 1024 * 1024

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // (1024 * 1024)):
            yield b"x" * (1024 * 1024)

    async def head_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(refused)  # and reads no more of the body
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    listening = await asyncio.start_server(head_only, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    pool = Http1Pool("127.0.0.1", port, tls=None, limit=2, connect_timeout=2, read_timeout=2)
    try:
        started = asyncio.get_running_loop().time()
        got = await pool.request("PUT", "/b/k", {**HOST, "Content-Length": str(size)}, body())
        assert got.status == 403 and b"AccessDenied" in await got.read()
        got.release()
        assert asyncio.get_running_loop().time() - started < 2
        assert pool._idle == []  # half a body went out: the connection is not reused
    finally:
        pool.close()
        listening.close()
        await listening.wait_closed()


async def test_a_server_that_stops_reading_a_body_times_out() -> None:
    async def stuck(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(1)  # reads nothing more, answers nothing
        writer.close()

    listening = await asyncio.start_server(stuck, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    pool = Http1Pool("127.0.0.1", port, tls=None, limit=1, connect_timeout=2, read_timeout=0.3)
    size = 256 * 1024 * 1024

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // (1024 * 1024)):
            yield b"x" * (1024 * 1024)

    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await pool.request("PUT", "/b/k", {**HOST, "Content-Length": str(size)}, body())
        assert asyncio.get_running_loop().time() - started < 3
    finally:
        pool.close()
        listening.close()
        await listening.wait_closed()


async def test_a_connection_paused_for_an_unread_answer_reads_the_next_one() -> None:
    size = http1.HIGH_WATER + 1000  # the last piece to arrive crosses the high-water mark

    async def big_then_small(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> bool:
        if b"/big" in head:
            writer.write(answer(b"z" * size))
        else:
            writer.write(answer(b"small"))
        return True

    async with scripted(big_then_small) as (_, pool):
        got = await pool.request("GET", "/big", HOST, None)
        conn = got._conn
        assert conn is not None
        for _ in range(200):  # bounded: up to 2 s for the answer to arrive
            if conn.complete:
                break
            await asyncio.sleep(0.01)
        assert conn.complete and conn._reading_paused  # complete, and paused for its reader
        got.release()  # unread: the connection goes back paused
        status, body = await asyncio.wait_for(get(pool, "/small"), 2)
        assert (status, body) == (200, b"small")
