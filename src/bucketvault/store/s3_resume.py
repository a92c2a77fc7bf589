"""Resuming a multipart upload that an earlier run left unfinished (paused, interrupted,
killed): its parts whose size and MD5 match the bytes about to be sent are kept, so only
the rest crosses the network again.

The earlier upload is found with ListMultipartUploads for exactly the key, and its
parts with ListParts. A part counts as done only when the store reports the same size
and an ETag equal to the MD5 of this run's bytes for that part (the source is still read
and hashed in full, so the finished object is checked as any other). Servers that cannot
list uploads or parts simply get a new upload. Uploads for the key that are not resumed
are aborted once the new one completes, so none is left behind.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bucketvault.errors import StoreError
from bucketvault.store.model import normalize_etag
from bucketvault.store.s3_errors import Where
from bucketvault.store.s3_list_page import decode_key, parse_timestamp
from bucketvault.store.s3_wire import S3Wire, xml_children

_PAGES = 20  # 20,000 parts or uploads at most: S3 allows 10,000 parts


@dataclass(slots=True)
class Unfinished:
    """What an earlier run left of the key's upload: its id and parts (number -> size,
    ETag), and the ids of the key's other unfinished uploads."""

    upload_id: str | None = None
    parts: dict[int, tuple[int, str]] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)

    def has(self, number: int, size: int, md5: str) -> str | None:
        """The stored part's ETag when part `number` already holds these bytes."""
        found = self.parts.get(number)
        if found is None or found[0] != size or normalize_etag(found[1]) != md5:
            return None
        return found[1]


async def unfinished(wire: S3Wire, where: Where, bucket: str, key: str) -> Unfinished:
    """The key's newest unfinished upload with its parts; empty when there is none or the
    server cannot tell."""
    try:
        uploads = await _uploads(wire, where, bucket, key)
    except StoreError:
        return Unfinished()
    if not uploads:
        return Unfinished()
    uploads.sort(key=lambda u: u[1])
    newest = uploads[-1][0]
    try:
        parts = await _parts(wire, where, bucket, key, newest)
    except StoreError:
        return Unfinished(others=[u for u, _ in uploads])
    return Unfinished(newest, parts, [u for u, _ in uploads[:-1]])


async def _uploads(wire: S3Wire, where: Where, bucket: str, key: str) -> list[tuple[str, datetime]]:
    found: list[tuple[str, datetime]] = []
    query = {"uploads": "", "prefix": key, "encoding-type": "url"}
    for _ in range(_PAGES):
        answer = await wire.send("GET", where, bucket=bucket, query=query)
        root, ns = xml_children(answer.body)
        encoded = root.findtext(f"{ns}EncodingType") == "url"
        for upload in root.iterfind(f"{ns}Upload"):
            raw = upload.findtext(f"{ns}Key") or ""
            upload_id = upload.findtext(f"{ns}UploadId") or ""
            if (decode_key(raw) if encoded else raw) == key and upload_id:
                started = parse_timestamp(upload.findtext(f"{ns}Initiated") or "")
                found.append((upload_id, started or datetime.fromtimestamp(0, UTC)))
        next_key = root.findtext(f"{ns}NextKeyMarker")
        next_id = root.findtext(f"{ns}NextUploadIdMarker")
        if root.findtext(f"{ns}IsTruncated") != "true" or not (next_key or next_id):
            return found
        query = {**query, "key-marker": next_key or "", "upload-id-marker": next_id or ""}
    return found


async def _parts(
    wire: S3Wire, where: Where, bucket: str, key: str, upload_id: str
) -> dict[int, tuple[int, str]]:
    parts: dict[int, tuple[int, str]] = {}
    query = {"uploadId": upload_id}
    for _ in range(_PAGES):
        answer = await wire.send("GET", where, bucket=bucket, key=key, query=query)
        root, ns = xml_children(answer.body)
        for part in root.iterfind(f"{ns}Part"):
            number = int(part.findtext(f"{ns}PartNumber") or 0)
            parts[number] = (
                int(part.findtext(f"{ns}Size") or -1),
                part.findtext(f"{ns}ETag") or "",
            )
        marker = root.findtext(f"{ns}NextPartNumberMarker")
        if root.findtext(f"{ns}IsTruncated") != "true" or not marker:
            return parts
        query = {"uploadId": upload_id, "part-number-marker": marker}
    return parts


async def abort_quietly(
    wire: S3Wire, where: Where, bucket: str, key: str, upload_ids: list[str]
) -> None:
    """Abort uploads nobody will finish (a failed abort only leaves parts a lifecycle rule
    or a later run removes)."""
    for upload_id in upload_ids:
        with contextlib.suppress(StoreError):
            await wire.send("DELETE", where, bucket=bucket, key=key, query={"uploadId": upload_id})
