"""The one S3 request path: every request bucketvault sends to an S3 endpoint goes here.

One place signs (AWS SigV4, `sigv4`), sends (one pool of keep-alive connections per
endpoint, `http1`), turns error answers and transport failures into bucketvault errors
(`s3_errors`), and retries what can be replayed (`retry.py`, one budget per request:
nothing above a request retries it again). The transports measured for this are in
bench/transport_probe.py: aiohttp cost as much client CPU per small object as obstore's
Rust client and a quarter of aiobotocore's; `http1` costs 0.6x aiohttp's.

Bodies are never hashed for the signature (`UNSIGNED-PAYLOAD`): every body that carries
data sends its Content-MD5, which the server checks. Paths are sent exactly as encoded
here, so `a//b`, `./x` and a trailing `/` reach the server unchanged, and the query
string is already in SigV4's canonical form, so what is signed is what is sent.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

from bucketvault.errors import PermanentStoreError
from bucketvault.store.http1 import Answer, Body, Http1Pool
from bucketvault.store.retry import RetryPolicy, retrying
from bucketvault.store.s3_errors import Where, from_response, translating
from bucketvault.store.sigv4 import SigV4

S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_XMLNS = "{" + S3_XMLNS + "}"


@dataclass(frozen=True, slots=True)
class WireResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class WireStream:
    """An answer whose body is read as it arrives (an object's content)."""

    status: int
    headers: Mapping[str, str]
    answer: Answer
    where: Where

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            with translating(self.where):
                chunk = await self.answer.piece()
            if not chunk:
                return
            yield chunk

    async def read(self) -> bytes:
        with translating(self.where):
            return await self.answer.read()


_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*")
_UNRESERVED_OR_SLASH = re.compile(r"[A-Za-z0-9._~/-]*")


def quote_path(bucket: str, key: str | None) -> str:
    """The request path for a bucket or an object: every byte of the key percent-encoded
    except unreserved characters and `/` (so `a//b` and `../` travel as they are)."""
    if _UNRESERVED.fullmatch(bucket) and (key is None or _UNRESERVED_OR_SLASH.fullmatch(key)):
        return "/" + bucket if key is None else f"/{bucket}/{key}"  # nothing to encode
    path = "/" + quote(bucket, safe="")
    if key is not None:
        path += "/" + quote(key, safe="/~")
    return path


def canonical_query(params: Mapping[str, str]) -> str:
    """The query string in SigV4 canonical form: encoded, sorted by encoded name."""
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in params.items())
    return "&".join(f"{k}={v}" if v else k for k, v in pairs)


def content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


class S3Wire:
    """Signed requests to one endpoint over one pool of keep-alive connections."""

    def __init__(
        self,
        base_url: str,
        *,
        signer: SigV4 | None,
        tls: ssl.SSLContext | None,
        connections: int,
        connect_timeout: float,
        read_timeout: float,
        policy: RetryPolicy,
    ) -> None:
        parts = urlsplit(base_url)
        self._host = parts.netloc
        self._prefix = parts.path.rstrip("/")  # an endpoint served under a path
        self._signer = signer  # None: unsigned requests (anonymous access)
        self._new_pool = functools.partial(
            Http1Pool,
            parts.hostname or "",
            parts.port or (443 if parts.scheme == "https" else 80),
            tls=tls,
            limit=connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._pool: Http1Pool | None = None
        self._closed = False
        self.policy = policy

    def _open_pool(self) -> Http1Pool:
        # made on first use, inside the event loop that will use it
        if self._pool is None:
            if self._closed:
                raise RuntimeError("S3 endpoint used after close()")
            self._pool = self._new_pool()
        return self._pool

    async def _request(
        self,
        method: str,
        *,
        bucket: str | None,
        key: str | None,
        query: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        body: Body,
    ) -> Answer:
        target = self._prefix + ("/" if bucket is None else quote_path(bucket, key))
        if query:
            target += "?" + canonical_query(query)
        sent = {"Host": self._host, **(headers or {})}
        if self._signer is not None:
            sent = self._signer.sign(method, target, sent)
        return await self._open_pool().request(method, target, sent, body)

    async def send(
        self,
        method: str,
        where: Where,
        *,
        bucket: str | None,
        key: str | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        policy: RetryPolicy | None = None,
    ) -> WireResponse:
        """Send one request and read the whole answer; an error answer raises the
        bucketvault error `s3_errors.from_response` gives for its code and status.

        Retried by `policy` (the endpoint's by default) when the body can be sent again
        (none, or bytes); a streamed body is sent once and its caller decides.
        """

        async def once() -> WireResponse:
            with translating(where):
                answer = await self._request(
                    method, bucket=bucket, key=key, query=query, headers=headers, body=body
                )
                try:
                    payload = await answer.read()
                finally:
                    answer.release()
                if answer.status >= 300:
                    raise from_response(
                        error_code(payload) or str(answer.status), answer.status, where
                    )
                return WireResponse(answer.status, answer.headers, payload)

        if body is not None and not isinstance(body, bytes):
            return await once()
        return await retrying(once, policy or self.policy)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        where: Where,
        *,
        bucket: str,
        key: str,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[WireStream]:
        """A GET whose body is read as it arrives; retried until the answer's headers
        are in (a body cut later is its reader's to retry)."""

        async def once() -> Answer:
            with translating(where):
                answer = await self._request(
                    "GET", bucket=bucket, key=key, query=query, headers=headers, body=None
                )
                if answer.status >= 300:
                    try:
                        payload = await answer.read()
                    finally:
                        answer.release()
                    raise from_response(
                        error_code(payload) or str(answer.status), answer.status, where
                    )
                return answer

        answer = await retrying(once, self.policy)
        try:
            yield WireStream(answer.status, answer.headers, answer, where)
        finally:
            answer.release()

    async def status(
        self,
        method: str,
        where: Where,
        *,
        bucket: str,
        key: str | None = None,
        query: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
    ) -> WireResponse:
        """Send one request and read only the status line and headers, whatever the
        status (the body, which may be large, is dropped with its connection)."""

        async def once() -> WireResponse:
            with translating(where):
                answer = await self._request(
                    method, bucket=bucket, key=key, query=query, headers=None, body=None
                )
                answer.close()
                return WireResponse(answer.status, answer.headers, b"")

        return await retrying(once, policy or self.policy)

    async def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close()


def error_code(payload: bytes) -> str:
    """The `<Code>` of an S3 error answer ('' when there is none, e.g. for HEAD)."""
    if not payload.lstrip().startswith(b"<"):
        return ""
    try:
        root = ElementTree.fromstring(payload)
    except ElementTree.ParseError:
        return ""
    code = root.findtext("Code") or root.findtext(f"{_XMLNS}Code")
    return code.strip()[:64] if code else ""


def parse_tags(payload: bytes) -> dict[str, str]:
    """The tags of a GetObjectTagging answer."""
    root, ns = xml_children(payload)
    return {
        tag.findtext(f"{ns}Key") or "": tag.findtext(f"{ns}Value") or ""
        for tag in root.iterfind(f"{ns}TagSet/{ns}Tag")
    }


def xml_children(payload: bytes) -> tuple[Any, str]:
    """The root element of an XML answer and the namespace prefix its tags use."""
    try:
        root = ElementTree.fromstring(payload)
    except ElementTree.ParseError as exc:
        raise PermanentStoreError(
            f"the server sent an answer that is not S3's XML ({exc}): is the URL an S3 endpoint?"
        ) from None
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    return root, namespace


def xml_body(root: str, inner: str) -> bytes:
    """A request body: `<root xmlns=S3>inner</root>`."""
    return f'<{root} xmlns="{S3_XMLNS}">{inner}</{root}>'.encode()
