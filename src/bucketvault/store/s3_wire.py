"""Signed S3 requests sent straight through aiohttp: the requests every mirror run makes.

A no-op mirror run is nothing but two bucket checks and two listings, and a large copy
is mostly bytes in flight. aiobotocore costs most of a second to import and build, its
XML parser is most of the CPU of listing a large bucket, and its PutObject cannot send a
body that streams. So bucket checks and creation, listing pages, tags and streamed single
PUTs go out here: signed by botocore's SigV4 signer, sent by aiohttp, answers parsed with
ElementTree. Everything else (the rest of the control plane, multipart uploads, HEAD of
an object) stays with aiobotocore, built only when first needed.

Paths are sent exactly as encoded here (`yarl.URL(..., encoded=True)`), so `a//b`,
`./x` and a trailing `/` reach the server unchanged, and the query string is already in
SigV4's canonical form, so what is signed is what is sent.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import aiohttp
import yarl
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest

from bucketvault.store.s3_errors import Where, from_response

S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_XMLNS = "{" + S3_XMLNS + "}"
# botocore's S3 signer reads its payload-signing switch from a client config; bodies
# here are protected by Content-MD5, so they are never hashed for the signature.
_UNSIGNED_PAYLOAD = SimpleNamespace(s3={"payload_signing_enabled": False})


@dataclass(frozen=True, slots=True)
class WireResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


def quote_path(bucket: str, key: str | None) -> str:
    """The request path for a bucket or an object: every byte of the key percent-encoded
    except unreserved characters and `/` (so `a//b` and `../` travel as they are)."""
    path = "/" + quote(bucket, safe="")
    if key is not None:
        path += "/" + quote(key, safe="/~")
    return path


def canonical_query(params: Mapping[str, str]) -> str:
    """The query string in SigV4 canonical form: encoded, sorted by encoded name."""
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in params.items())
    return "&".join(f"{k}={v}" if v else k for k, v in pairs)


class S3Wire:
    """Signed requests to one endpoint over one pooled aiohttp session."""

    def __init__(
        self,
        base_url: str,
        *,
        signer: S3SigV4Auth | None,
        tls: ssl.SSLContext | bool,
        connections: int,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self._base = base_url
        self._signer = signer  # None: unsigned requests (anonymous access)
        self._ssl = tls
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connections, ssl=self._ssl)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                auto_decompress=False,
                skip_auto_headers=("Content-Type",),
            )
        return self._session

    def _signed_headers(
        self, method: str, url: str, headers: Mapping[str, str], data: bytes | None
    ) -> dict[str, str]:
        if self._signer is None:
            return dict(headers)
        request = AWSRequest(method=method, url=url, headers=dict(headers), data=data)
        if data is None:
            # nothing to hash: an empty body, or one that streams (protected by its
            # Content-MD5 instead)
            request.context["client_config"] = _UNSIGNED_PAYLOAD
        self._signer.add_auth(request)
        return dict(request.headers.items())

    def _request(
        self,
        method: str,
        *,
        bucket: str,
        key: str | None,
        query: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        body: AsyncIterable[bytes | memoryview] | bytes | None,
    ) -> Any:
        url = self._base + quote_path(bucket, key)
        if query:
            url += "?" + canonical_query(query)
        data = body if isinstance(body, bytes) else None
        signed = self._signed_headers(method, url, headers or {}, data)
        return self._open_session().request(
            method, yarl.URL(url, encoded=True), headers=signed, data=body
        )

    async def send(
        self,
        method: str,
        where: Where,
        *,
        bucket: str,
        key: str | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: AsyncIterable[bytes | memoryview] | bytes | None = None,
    ) -> WireResponse:
        """Send one request and read the whole answer; an error answer raises the
        bucketvault error `s3_errors.from_response` gives for its code and status.

        A `bytes` body is signed with its SHA-256; a streamed one is sent unsigned
        (`UNSIGNED-PAYLOAD`), so it must carry a Content-MD5. Callers run this inside
        `s3_errors.translating(where)`, which turns transport failures into bucketvault
        errors too.
        """
        request = self._request(
            method, bucket=bucket, key=key, query=query, headers=headers, body=body
        )
        async with request as response:
            payload = await response.read()
            if response.status >= 300:
                raise from_response(error_code(payload), response.status, where)
            return WireResponse(response.status, response.headers, payload)

    async def status(
        self,
        method: str,
        *,
        bucket: str,
        key: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> WireResponse:
        """Send one request and read only the status line and headers, whatever the
        status (the body, which may be large, is dropped with its connection)."""
        request = self._request(
            method, bucket=bucket, key=key, query=query, headers=None, body=None
        )
        async with request as response:
            response.close()
            return WireResponse(response.status, response.headers, b"")

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


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
    root = ElementTree.fromstring(payload)
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    return root, namespace
