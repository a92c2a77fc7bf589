"""A fault-injecting HTTP/1.1 reverse proxy for tests, in front of one loopback S3 server.

The proxy is byte-transparent: the request head (method, raw target, headers in their
original order and case, including the original ``Host`` that SigV4 signed) and the
response head are forwarded verbatim, and bodies are streamed with their wire framing
(``Content-Length``, ``chunked``, ``aws-chunked`` payloads, close-delimited responses).
Each client connection gets its own upstream connection; both are kept alive.

Faults are rules (:class:`Fault`) that fire for a fraction ``p`` of the matching requests,
drawn from ``random.Random(seed)``: one draw per matching rule, in rule order, so the same
sequence of requests always sees the same faults. A global *down* switch makes the store
unreachable (connections refused, or reset) until it is switched back up.

Usage::

    with FaultProxy(moto, seed=7) as proxy:
        client = boto3.client("s3", endpoint_url=proxy.url, ...)
        proxy.set_faults(Fault.slow_down(p=0.2, method="PUT"))
        ...
        assert proxy.counters().faults["status"] > 0
        proxy.down_for(1.5)  # unreachable for 1.5 s, then up again

What a botocore client (retries off) sees, measured against moto and rclone:

=====================================  =========================================================
fault                                  botocore exception
=====================================  =========================================================
reset before any response              ConnectionClosedError
reset(after_bytes=N) inside a body     ResponseStreamingError ("Connection broken: ...reset...")
error(500) / error(503) / slow_down()  ClientError InternalError / ServiceUnavailable / SlowDown
truncate()                             ResponseStreamingError ("IncompleteRead(n bytes read...")
drop() (client read_timeout < hold)    ReadTimeoutError; after ``max_hold``: ConnectionClosedError
stall(s) before the head, s > timeout  ReadTimeoutError; ``then="reset"``: ConnectionClosedError
stall(s, after_bytes=N), s > timeout   ReadTimeoutError raised by ``Body.read()``
down, mode "refuse"                    EndpointConnectionError
down, mode "reset"                     EndpointConnectionError or ConnectionClosedError (racy)
=====================================  =========================================================

A fault point at or beyond the end of a response body (``after_bytes`` >= its length, or
``truncate`` of an empty body) may still let the client read a complete response.

The proxy runs its own event loop in a daemon thread, so synchronous tests and tests with
their own loop can use it. Everything it does is bounded in time (see the timeouts of
:class:`FaultProxy` and ``Fault.max_hold``), and :meth:`FaultProxy.stop` closes every socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import re
import socket
import struct
import threading
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol, TypedDict, Unpack
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"

FaultKind = Literal["reset", "stall", "status", "truncate", "drop"]
FAULT_KINDS: tuple[FaultKind, ...] = ("reset", "stall", "status", "truncate", "drop")
DownMode = Literal["refuse", "reset"]

MAX_HEAD = 64 * 1024  # request/response head size limit
MAX_INTERIM = 8  # 1xx responses accepted before the final one
MAX_TRAILER_LINES = 64
PIECE = 64 * 1024  # streaming piece size
MAX_STALL = 120.0  # upper bound on any hold, whatever a rule asks

_ERROR_MESSAGES = {
    "InternalError": "We encountered an internal error. Please try again.",
    "ServiceUnavailable": "Reduce your request rate.",
    "SlowDown": "Please reduce your request rate.",
}
_REASONS = {500: "Internal Server Error", 503: "Service Unavailable"}


class FaultProxyError(RuntimeError):
    """The proxy was misconfigured or could not start."""


class Match(TypedDict, total=False):
    """The filters and rate every ``Fault`` constructor accepts as keywords."""

    p: float
    method: str | None
    path: str | None
    query: str | None
    limit: int | None


class _HasURL(Protocol):
    @property
    def url(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault rule. Build it with the class methods (``Fault.reset(...)`` etc.).

    Filters (all optional, all must match): ``method`` (case-insensitive), ``path`` (a regex
    searched in the raw, still percent-encoded path), ``query`` (a substring of the raw query,
    e.g. ``"uploadId"``). ``p`` is the probability that a matching request is hit; ``limit``
    caps how many times this rule fires (``None``: unlimited).

    ``after_bytes`` counts response body bytes as sent on the wire (chunk framing included).
    ``after_forward`` means the upstream receives and applies the request first, then the
    client sees the fault (the "write happened but the client saw an error" case).
    """

    kind: FaultKind
    p: float = 1.0
    method: str | None = None
    path: str | None = None
    query: str | None = None
    limit: int | None = None
    after_bytes: int | None = None
    after_forward: bool = False
    seconds: float = 0.0
    then: Literal["continue", "reset"] = "continue"
    status: int = 503
    code: str = "ServiceUnavailable"
    max_hold: float = 30.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise FaultProxyError(f"unknown fault kind {self.kind!r}: use one of {FAULT_KINDS}")
        if not 0.0 <= self.p <= 1.0:
            raise FaultProxyError(f"fault probability {self.p} is not within [0, 1]")
        if self.after_bytes is not None and self.after_bytes < 0:
            raise FaultProxyError("after_bytes must be >= 0")
        if not 0.0 <= self.seconds <= MAX_STALL or not 0.0 < self.max_hold <= MAX_STALL:
            raise FaultProxyError(f"holds are bounded: 0 <= seconds, max_hold <= {MAX_STALL}")
        if self.path is not None:
            re.compile(self.path)

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def reset(
        cls, *, after_bytes: int | None = None, after_forward: bool = False, **match: Unpack[Match]
    ) -> Fault:
        """Abort the connection with a TCP RST.

        ``after_bytes=None``: before any response (the upstream sees the request only with
        ``after_forward=True``); ``after_bytes=N``: after the response head and N body bytes.
        """
        forward = after_forward or after_bytes is not None
        return cls(kind="reset", after_bytes=after_bytes, after_forward=forward, **match)

    @classmethod
    def stall(
        cls,
        seconds: float,
        *,
        then: Literal["continue", "reset"] = "continue",
        after_bytes: int | None = None,
        **match: Unpack[Match],
    ) -> Fault:
        """Forward, then hold the response ``seconds`` (before the head, or after N body
        bytes), then continue normally or reset."""
        return cls(
            kind="stall",
            seconds=seconds,
            then=then,
            after_bytes=after_bytes,
            after_forward=True,
            **match,
        )

    @classmethod
    def error(
        cls,
        status: int = 503,
        code: str | None = None,
        *,
        after_forward: bool = False,
        **match: Unpack[Match],
    ) -> Fault:
        """Answer an S3 XML error (500 InternalError, 503 ServiceUnavailable by default)."""
        if code is None:
            code = "InternalError" if status == 500 else "ServiceUnavailable"
        return cls(kind="status", status=status, code=code, after_forward=after_forward, **match)

    @classmethod
    def slow_down(cls, *, after_forward: bool = False, **match: Unpack[Match]) -> Fault:
        """Answer ``503 SlowDown``, S3's throttling error."""
        return cls.error(503, "SlowDown", after_forward=after_forward, **match)

    @classmethod
    def truncate(cls, *, after_bytes: int | None = None, **match: Unpack[Match]) -> Fault:
        """Forward, send the response head (with its Content-Length) and only ``after_bytes``
        body bytes (default: half the Content-Length), then close the connection cleanly."""
        return cls(kind="truncate", after_bytes=after_bytes, after_forward=True, **match)

    @classmethod
    def drop(
        cls, *, max_hold: float = 30.0, after_forward: bool = False, **match: Unpack[Match]
    ) -> Fault:
        """Never answer: hold the connection until the client gives up (or ``max_hold``)."""
        return cls(kind="drop", max_hold=max_hold, after_forward=after_forward, **match)

    # -- matching -----------------------------------------------------------------------------

    def matches(self, method: str, path: str, query: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is not None and re.search(self.path, path) is None:
            return False
        return self.query is None or self.query in query


@dataclass(frozen=True, slots=True)
class Event:
    """One request seen by the proxy, and the fault it got (``None``: forwarded untouched)."""

    seq: int
    method: str
    target: str
    fault: FaultKind | None


@dataclass(frozen=True, slots=True)
class Counters:
    """A snapshot of what the proxy saw and did."""

    connections: int
    requests: int
    forwarded: int
    faults: dict[str, int]
    down_rejected: int

    @property
    def total_faults(self) -> int:
        return sum(self.faults.values())


class _Closed(Exception):
    """The exchange ended the connection (a fault, EOF, or an error)."""


@dataclass(slots=True)
class _Head:
    raw: bytes
    start: str
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        name = name.lower()
        values = [v for k, v in self.headers if k.lower() == name]
        return ", ".join(values) if values else None

    def tokens(self, name: str) -> list[str]:
        value = self.get(name)
        return [t.strip().lower() for t in value.split(",")] if value else []


def _parse_head(raw: bytes) -> _Head:
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _Closed(f"malformed header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return _Head(raw=raw, start=lines[0], headers=headers)


@dataclass(slots=True)
class _Framing:
    kind: Literal["none", "length", "chunked", "eof"]
    length: int = 0


def _framing(head: _Head, *, request: bool, method: str = "", status: int = 0) -> _Framing:
    if not request and (method == "HEAD" or 100 <= status < 200 or status in (204, 304)):
        return _Framing("none")
    te = head.tokens("transfer-encoding")
    if te:
        if te[-1] == "chunked":
            return _Framing("chunked")
        if request:
            raise _Closed("request with a non-chunked Transfer-Encoding")
        return _Framing("eof")
    cl = head.get("content-length")
    if cl is not None:
        try:
            length = int(cl.split(",")[0])
        except ValueError as exc:
            raise _Closed(f"bad Content-Length {cl!r}") from exc
        return _Framing("length", length)
    return _Framing("none") if request else _Framing("eof")


async def _read_head(reader: asyncio.StreamReader, seconds: float) -> bytes | None:
    """Read one message head; ``None`` on a clean EOF before any byte."""
    try:
        async with asyncio.timeout(seconds):
            return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise _Closed("connection closed inside a message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise _Closed("message head too large") from exc
    except TimeoutError as exc:
        raise _Closed("timed out waiting for a message head") from exc
    except OSError as exc:
        raise _Closed(str(exc)) from exc


async def _body(
    reader: asyncio.StreamReader, framing: _Framing, seconds: float
) -> AsyncGenerator[bytes, None]:
    """Yield a message body exactly as it is on the wire (framing included), bounded."""

    async def read(n: int) -> bytes:
        async with asyncio.timeout(seconds):
            return await reader.read(n)

    async def exactly(n: int) -> AsyncGenerator[bytes, None]:
        while n > 0:
            piece = await read(min(n, PIECE))
            if not piece:
                raise _Closed("connection closed inside a body")
            n -= len(piece)
            yield piece

    async def line() -> bytes:
        try:
            async with asyncio.timeout(seconds):
                return await reader.readuntil(b"\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise _Closed("bad chunk framing") from exc

    try:
        if framing.kind == "length":
            async for piece in exactly(framing.length):
                yield piece
        elif framing.kind == "chunked":
            while True:  # ends at the last chunk; every read is bounded by `timeout`
                size_line = await line()
                yield size_line
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError as exc:
                    raise _Closed(f"bad chunk size line {size_line!r}") from exc
                if size == 0:
                    for _ in range(MAX_TRAILER_LINES):
                        trailer = await line()
                        yield trailer
                        if trailer == b"\r\n":
                            return
                    raise _Closed("too many trailer lines")
                async for piece in exactly(size + 2):
                    yield piece
        elif framing.kind == "eof":
            while piece := await read(PIECE):  # ends at EOF; every read is bounded
                yield piece
    except TimeoutError as exc:
        raise _Closed("timed out inside a body") from exc
    except OSError as exc:
        raise _Closed(str(exc)) from exc


def _rst(writer: asyncio.StreamWriter) -> None:
    """Abort a connection with a TCP RST (SO_LINGER 0), not a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _flushed(writer: asyncio.StreamWriter) -> None:
    """Wait until the transport has handed everything to the kernel (at most 2 s)."""
    for _ in range(400):
        if not writer.transport.get_write_buffer_size():
            return
        await asyncio.sleep(0.005)


def _error_response(fault: Fault, method: str, target: str, *, close: bool) -> bytes:
    request_id = uuid.uuid4().hex[:16].upper()
    resource = target.split("?", 1)[0]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{fault.code}</Code>"
        f"<Message>{_ERROR_MESSAGES.get(fault.code, 'Injected fault.')}</Message>"
        f"<Resource>{_xml_escape(resource)}</Resource>"
        f"<RequestId>{request_id}</RequestId><HostId>bucketvault-faultproxy</HostId></Error>"
    ).encode()
    reason = _REASONS.get(fault.status, "Error")
    head = (
        f"HTTP/1.1 {fault.status} {reason}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-amz-request-id: {request_id}\r\n"
        "Server: bucketvault-faultproxy\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
    ).encode()
    return head if method == "HEAD" else head + body


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _check_upstream(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise FaultProxyError(f"upstream {url!r}: only http://<loopback>:<port> is supported")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise FaultProxyError(f"upstream {url!r} is not a loopback address: refused")
    if parts.port is None:
        raise FaultProxyError(f"upstream {url!r} needs an explicit port")
    return (LOOPBACK if host == "localhost" else host), parts.port


@dataclass(slots=True)
class _Conn:
    writer: asyncio.StreamWriter
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None


@dataclass(slots=True)
class _State:
    """Everything the test thread and the proxy thread share; guarded by FaultProxy._lock."""

    rules: list[Fault] = field(default_factory=list)
    fired: list[int] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    connections: int = 0
    requests: int = 0
    forwarded: int = 0
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))
    down_rejected: int = 0
    events: deque[Event] = field(default_factory=lambda: deque(maxlen=10_000))


class FaultProxy:
    """A fault-injecting reverse proxy on 127.0.0.1, in front of one loopback S3 server.

    ``upstream`` is a URL or anything with a ``.url`` (a ``LoopbackServer``); only loopback
    upstreams are accepted. ``io_timeout`` bounds every single read from either side and
    ``idle_timeout`` a kept-alive client connection waiting for its next request.
    """

    def __init__(
        self,
        upstream: str | _HasURL,
        *,
        faults: Iterable[Fault] = (),
        seed: int = 0,
        io_timeout: float = 30.0,
        idle_timeout: float = 60.0,
        down_mode: DownMode = "refuse",
    ) -> None:
        self.upstream_url = upstream if isinstance(upstream, str) else upstream.url
        self._upstream = _check_upstream(self.upstream_url)
        self._io_timeout = min(io_timeout, MAX_STALL)
        self._idle_timeout = min(idle_timeout, MAX_STALL)
        self._down_mode: DownMode = down_mode
        self._lock = threading.Lock()
        self._state = _State()
        self.set_faults(*faults, seed=seed)
        self._port = 0
        self._down = False
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._conns: dict[asyncio.Task[None], _Conn] = {}
        self._up_timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if not self._port:
            raise FaultProxyError("the proxy is not started")
        return f"http://{LOOPBACK}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    def start(self, timeout: float = 10.0) -> FaultProxy:
        if self._thread is not None:
            raise FaultProxyError("the proxy is already started")
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="faultproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise FaultProxyError("the proxy did not start in time")
        if self._startup_error is not None:
            error = self._startup_error
            self.stop()
            raise FaultProxyError(f"the proxy could not start: {error}") from error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, stop_event = self._loop, self._stop_event
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout)
        if thread.is_alive():
            raise FaultProxyError("the proxy thread did not stop in time")
        self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- fault configuration (thread-safe) ----------------------------------------------------

    def set_faults(self, *faults: Fault, seed: int | None = None) -> None:
        """Replace the fault rules (and reseed the random source if ``seed`` is given)."""
        with self._lock:
            self._state.rules = list(faults)
            self._state.fired = [0] * len(faults)
            if seed is not None:
                self._state.rng = random.Random(seed)

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._state.rules.append(fault)
            self._state.fired.append(0)

    def clear_faults(self) -> None:
        self.set_faults()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._state.rng = random.Random(seed)

    def counters(self) -> Counters:
        with self._lock:
            s = self._state
            return Counters(s.connections, s.requests, s.forwarded, dict(s.faults), s.down_rejected)

    def events(self) -> list[Event]:
        """The requests seen (the last 10,000), in arrival order, with their faults."""
        with self._lock:
            return list(self._state.events)

    def fault_sequence(self) -> list[FaultKind | None]:
        return [event.fault for event in self.events()]

    def reset_counters(self) -> None:
        with self._lock:
            s = self._state
            s.connections = s.requests = s.forwarded = s.down_rejected = 0
            s.faults = dict.fromkeys(FAULT_KINDS, 0)
            s.events.clear()

    # -- down switch --------------------------------------------------------------------------

    @property
    def down(self) -> bool:
        return self._down

    def set_down(self, down: bool, mode: DownMode | None = None) -> None:
        """Make the store unreachable (or reachable again). While down, live connections are
        reset, and new ones are refused (``mode="refuse"``: nothing listens) or accepted and
        reset at once (``mode="reset"``)."""
        if mode is not None:
            self._down_mode = mode
        self._call(self._apply_down(down, cancel_timer=True))

    def down_for(self, seconds: float, mode: DownMode | None = None) -> None:
        """Go down now, and up again after ``seconds`` (returns at once)."""
        if not 0 < seconds <= MAX_STALL:
            raise FaultProxyError(f"down_for needs 0 < seconds <= {MAX_STALL}")
        if mode is not None:
            self._down_mode = mode
        self._call(self._down_for(seconds))

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            coro.close()
            raise FaultProxyError("the proxy is not started")
        if threading.current_thread() is self._thread:
            coro.close()
            raise FaultProxyError("call the down switch from a test thread, not the proxy's")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        future.result(timeout=10)

    async def _down_for(self, seconds: float) -> None:
        await self._apply_down(True, cancel_timer=True)
        loop = asyncio.get_running_loop()

        def up_again() -> None:
            task = loop.create_task(self._apply_down(False, cancel_timer=False))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

        self._up_timer = loop.call_later(seconds, up_again)

    async def _apply_down(self, down: bool, *, cancel_timer: bool) -> None:
        if cancel_timer and self._up_timer is not None:
            self._up_timer.cancel()
            self._up_timer = None
        if down == self._down:
            return
        self._down = down
        if down:
            for conn in list(self._conns.values()):
                _rst(conn.writer)
                if conn.upstream is not None:
                    conn.upstream[1].transport.abort()
            if self._down_mode == "refuse":
                await self._close_listener()
        elif self._server is None:
            await self._listen()

    # -- event loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._startup_error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        try:
            await self._listen()
        except OSError as exc:
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            if self._up_timer is not None:
                self._up_timer.cancel()
            await self._close_listener()
            tasks = [*self._conns, *self._background]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=5)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, LOOPBACK, self._port, limit=MAX_HEAD, reuse_address=True
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # stops listening; connections are handled separately

    # -- one client connection ----------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        conn = _Conn(writer)
        self._conns[task] = conn
        try:
            with self._lock:
                self._state.connections += 1
                if self._down:
                    self._state.down_rejected += 1
            if self._down:
                _rst(writer)
                return
            while await self._exchange(conn, reader, writer):  # keep-alive; each turn bounded
                pass
        except _Closed:
            pass
        except asyncio.CancelledError:
            _rst(writer)
        except OSError:
            pass
        finally:
            del self._conns[task]
            self._close_upstream(conn)
            if not writer.transport.is_closing():
                writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                async with asyncio.timeout(2):
                    await writer.wait_closed()

    def _close_upstream(self, conn: _Conn, *, abort: bool = True) -> None:
        if conn.upstream is not None:
            up_writer = conn.upstream[1]
            if abort:
                up_writer.transport.abort()
            else:
                up_writer.close()
            conn.upstream = None

    def _pick(self, method: str, target: str) -> Fault | None:
        path, _, query = target.partition("?")
        with self._lock:
            s = self._state
            s.requests += 1
            chosen: Fault | None = None
            for i, rule in enumerate(s.rules):
                if rule.limit is not None and s.fired[i] >= rule.limit:
                    continue
                if not rule.matches(method, path, query):
                    continue
                if s.rng.random() < rule.p:
                    s.fired[i] += 1
                    s.faults[rule.kind] += 1
                    chosen = rule
                    break
            s.events.append(Event(s.requests, method, target, chosen.kind if chosen else None))
            return chosen

    async def _exchange(
        self, conn: _Conn, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Relay one request/response. Returns whether the client connection stays open."""
        raw = await _read_head(reader, self._idle_timeout)
        if raw is None:
            return False
        if self._down:
            with self._lock:
                self._state.down_rejected += 1
            _rst(writer)
            return False
        head = _parse_head(raw)
        try:
            method, target, version = head.start.split(" ", 2)
        except ValueError as exc:
            raise _Closed(f"bad request line {head.start!r}") from exc
        req_framing = _framing(head, request=True)
        keep_alive = version == "HTTP/1.1" and "close" not in head.tokens("connection")
        expect_continue = "100-continue" in head.tokens("expect")
        fault = self._pick(method, target)

        if fault is not None and not fault.after_forward:
            return await self._fault_without_forward(
                fault, method, target, reader, writer, req_framing, expect_continue, keep_alive
            )

        # -- forward the request ------------------------------------------------------------
        up_reader, up_writer = await self._upstream_for(conn)
        with self._lock:
            self._state.forwarded += 1
        up_writer.write(raw)
        pump = asyncio.create_task(self._pump_request(reader, req_framing, up_writer))
        try:
            keep = await self._relay_response(
                conn, method, target, fault, up_reader, reader, writer, pump, keep_alive
            )
        finally:
            if not pump.done():
                pump.cancel()
            with contextlib.suppress(BaseException):
                await pump  # also marks its exception as retrieved
        # reuse the connection only if the request body was read completely
        return keep and not pump.cancelled() and pump.exception() is None

    async def _upstream_for(self, conn: _Conn) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if conn.upstream is not None and conn.upstream[0].at_eof():
            self._close_upstream(conn, abort=False)
        if conn.upstream is None:
            host, port = self._upstream
            try:
                async with asyncio.timeout(self._io_timeout):
                    conn.upstream = await asyncio.open_connection(host, port, limit=MAX_HEAD)
            except (OSError, TimeoutError) as exc:
                _rst(conn.writer)
                raise _Closed(f"upstream unreachable: {exc}") from exc
        return conn.upstream

    async def _pump_request(
        self,
        reader: asyncio.StreamReader,
        framing: _Framing,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        try:
            async for piece in _body(reader, framing, self._io_timeout):
                up_writer.write(piece)
                async with asyncio.timeout(self._io_timeout):
                    await up_writer.drain()
        except (_Closed, OSError, TimeoutError):
            up_writer.transport.abort()  # the upstream must not wait for the rest
            raise

    async def _relay_response(
        self,
        conn: _Conn,
        method: str,
        target: str,
        fault: Fault | None,
        up_reader: asyncio.StreamReader,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pump: asyncio.Task[None],
        keep_alive: bool,
    ) -> bool:
        # interim (1xx) responses go straight through, e.g. "100 Continue"
        for _ in range(MAX_INTERIM + 1):
            raw = await _read_head(up_reader, self._io_timeout)
            if raw is None:
                self._close_upstream(conn)
                _rst(writer)  # the upstream closed without answering: so do we
                return False
            head = _parse_head(raw)
            try:
                status = int(head.start.split(" ", 2)[1])
            except (IndexError, ValueError) as exc:
                raise _Closed(f"bad status line {head.start!r}") from exc
            if status >= 200 or status == 101:
                break
            writer.write(raw)
            await self._drain(writer)
        else:
            raise _Closed("too many interim responses")
        if status == 101:
            raise _Closed("protocol upgrades are not supported")

        framing = _framing(head, request=False, method=method, status=status)
        upstream_reusable = framing.kind != "eof" and "close" not in head.tokens("connection")
        body = _body(up_reader, framing, self._io_timeout)

        try:
            async with contextlib.aclosing(body):
                return await self._respond(
                    conn,
                    method,
                    target,
                    fault,
                    raw,
                    framing,
                    body,
                    reader,
                    writer,
                    pump,
                    keep_alive=keep_alive,
                    upstream_reusable=upstream_reusable,
                )
        except _Closed:
            _rst(writer)
            return False

    async def _respond(
        self,
        conn: _Conn,
        method: str,
        target: str,
        fault: Fault | None,
        raw: bytes,
        framing: _Framing,
        body: AsyncIterator[bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pump: asyncio.Task[None],
        *,
        keep_alive: bool,
        upstream_reusable: bool,
    ) -> bool:
        """Send the response (or the fault) to the client; False ends the connection (and
        with it the upstream connection, whose response may be unread)."""
        client_reusable = keep_alive and upstream_reusable
        if fault is None:
            writer.write(raw)
            async for piece in body:
                writer.write(piece)
                await self._drain(writer)
        elif fault.kind in ("status", "drop", "reset") and fault.after_bytes is None:
            async for _ in body:  # the upstream applied it; the client never learns
                pass
            await self._wait_pump(pump)
            if fault.kind == "status":
                writer.write(_error_response(fault, method, target, close=not client_reusable))
                await self._drain(writer)
                return client_reusable
            if fault.kind == "drop":
                self._close_upstream(conn)
                if not pump.done():
                    pump.cancel()
                    with contextlib.suppress(BaseException):
                        await pump
                await self._hold(fault, reader, writer)
                return False
            await _flushed(writer)
            _rst(writer)
            return False
        else:  # reset / stall / truncate part-way through the response
            budget = fault.after_bytes
            if budget is None and fault.kind == "truncate":
                budget = framing.length // 2 if framing.kind == "length" else 0
            if budget is None:  # a stall before the head
                await self._stall(fault)
                if fault.then == "reset":
                    _rst(writer)
                    return False
            writer.write(raw)
            sent = 0
            tripped = budget is None
            async for piece in body:
                if not tripped and budget is not None and sent + len(piece) >= budget:
                    cut = budget - sent
                    writer.write(piece[:cut])
                    await self._drain(writer)
                    tripped = True
                    if await self._trip(fault, writer):
                        return False
                    piece = piece[cut:]
                sent += len(piece)
                writer.write(piece)
                await self._drain(writer)
            if not tripped and await self._trip(fault, writer):
                return False

        await self._wait_pump(pump)
        if not upstream_reusable:
            self._close_upstream(conn, abort=False)
        return client_reusable

    async def _trip(self, fault: Fault, writer: asyncio.StreamWriter) -> bool:
        """The fault point inside a response body. Returns True if it ended the connection."""
        if fault.kind == "stall":
            await self._stall(fault)
            if fault.then == "continue":
                return False
        await _flushed(writer)
        if fault.kind == "truncate":
            writer.close()  # a clean FIN: the client sees a short body, not a reset
        else:
            _rst(writer)
        return True

    async def _stall(self, fault: Fault) -> None:
        await asyncio.sleep(min(fault.seconds, MAX_STALL))

    async def _hold(
        self, fault: Fault, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Say nothing, reading and dropping whatever the client sends (the rest of its
        request body), until it hangs up or ``max_hold`` passes; then reset."""
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(min(fault.max_hold, MAX_STALL)):
                while await reader.read(PIECE):  # ends at EOF or at the deadline
                    pass
        _rst(writer)

    async def _wait_pump(self, pump: asyncio.Task[None]) -> None:
        """The response is complete; the request body should be too (bounded wait)."""
        if pump.done():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await asyncio.shield(pump)

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(self._io_timeout):
                await writer.drain()
        except (OSError, TimeoutError) as exc:
            raise _Closed(f"client write failed: {exc}") from exc

    async def _fault_without_forward(
        self,
        fault: Fault,
        method: str,
        target: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        framing: _Framing,
        expect_continue: bool,
        keep_alive: bool,
    ) -> bool:
        if fault.kind == "reset":
            _rst(writer)
            return False
        if fault.kind == "drop":
            await self._hold(fault, reader, writer)
            return False
        # status: the client waiting for "100 Continue" gets the error instead, and the
        # connection closes (its body was never read); otherwise the body is read and dropped
        consumed = not expect_continue or framing.kind == "none"
        if consumed:
            async for _ in _body(reader, framing, self._io_timeout):
                pass
        close = not (consumed and keep_alive)
        writer.write(_error_response(fault, method, target, close=close))
        await self._drain(writer)
        return not close
