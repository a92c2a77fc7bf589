"""The snapshots of one backup bucket: list, read, publish, forget, choose.

Everything a restore needs is in the backup bucket itself, so a new machine with an
empty `$BUCKETVAULT_HOME` finds every snapshot. Publishing writes the records first and
the header last: a snapshot without its header was never published, and is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import tempfile
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime

from bucketvault.errors import IntegrityError, NoSuchKeyError, NotFoundError, PlanInputError
from bucketvault.history.index import Row
from bucketvault.history.layout import (
    HEADER_SUFFIX,
    SNAPSHOTS,
    header_key,
    is_snapshot_id,
    records_key,
)
from bucketvault.history.record import Entry, Header
from bucketvault.store.base import Bucket, Endpoint
from bucketvault.store.model import ObjectAttributes

_CHUNK = 1024 * 1024
_READERS = 16


async def _read_bytes(bucket: Bucket, key: str) -> bytes:
    async with bucket.open(key) as reader:
        return b"".join([chunk async for chunk in reader.chunks()])


async def headers(endpoint: Endpoint, backup_bucket: str) -> list[Header]:
    """Every published snapshot of `backup_bucket`, oldest first (none when the bucket
    holds no snapshots, or does not exist)."""
    bucket = endpoint.bucket(backup_bucket)
    if not await bucket.exists():
        return []
    folder = endpoint.bucket(backup_bucket, SNAPSHOTS)
    names = [
        info.key
        async for info in folder.list()
        if info.key.endswith(HEADER_SUFFIX) and is_snapshot_id(info.key[: -len(HEADER_SUFFIX)])
    ]
    gate = asyncio.Semaphore(_READERS)

    async def read(name: str) -> Header | None:
        async with gate:
            try:
                data = await _read_bytes(folder, name)
            except NoSuchKeyError:  # forgotten while we listed
                return None
        return Header.from_record(json.loads(data))

    found = await asyncio.gather(*(read(name) for name in names))
    return sorted((h for h in found if h is not None), key=lambda h: (h.completed, h.id))


async def lines(bucket: Bucket, snapshot_id: str) -> AsyncIterator[str]:
    """The record lines of one snapshot (header line skipped), streamed and decompressed
    as they arrive."""
    inflate = zlib.decompressobj(wbits=31)
    pending = b""
    first = True
    async with bucket.open(records_key(snapshot_id)) as reader:
        async for chunk in reader.chunks():
            pending += inflate.decompress(chunk)
            *complete, pending = pending.split(b"\n")
            for line in complete:
                if first:
                    first = False
                elif line:
                    yield line.decode("utf-8", "surrogatepass")
    pending += inflate.flush()
    if pending.strip() and not first:
        yield pending.decode("utf-8", "surrogatepass")


async def rows(bucket: Bucket, snapshot_id: str) -> AsyncIterator[Row]:
    """(key, size, etag, line) of each record: parsed once, the line kept as it is."""
    async for line in lines(bucket, snapshot_id):
        try:
            record = json.loads(line)
            yield record["key"], int(record["size"]), record["etag"], line
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(
                f"a snapshot record is malformed ({exc}): {line[:120]!r}"
            ) from None


async def entries(bucket: Bucket, snapshot_id: str) -> AsyncIterator[Entry]:
    """The entries of one snapshot."""
    async for line in lines(bucket, snapshot_id):
        yield Entry.from_line(line)


class _Spool:
    """A gzip file being written, then read back in chunks for the upload."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
        self._md5 = hashlib.md5()
        self.size = 0

    def write_line(self, line: str) -> None:
        self._emit(self._deflate.compress(line.encode("utf-8", "surrogatepass") + b"\n"))

    def _emit(self, data: bytes) -> None:
        if data:
            self._file.write(data)
            self._md5.update(data)
            self.size += len(data)

    def finish(self) -> str:
        self._emit(self._deflate.flush())
        self._file.flush()
        return self._md5.hexdigest()

    async def chunks(self) -> AsyncIterator[bytes]:
        self._file.seek(0)
        while chunk := self._file.read(_CHUNK):
            yield chunk

    def close(self) -> None:
        self._file.close()


async def publish(bucket: Bucket, header: Header, lines: Iterable[str]) -> None:
    """Write a snapshot: its records, then (only once they are stored) its header."""
    spool = _Spool()
    try:
        spool.write_line(header.to_line())
        for line in lines:
            spool.write_line(line)
        md5 = spool.finish()
        await bucket.write(
            records_key(header.id),
            spool.chunks(),
            size=spool.size,
            attributes=ObjectAttributes(
                content_type="application/x-ndjson", content_encoding="gzip"
            ),
            content_md5=md5,
        )
    finally:
        spool.close()
    body = json.dumps(header.to_record(), indent=1).encode("utf-8") + b"\n"

    async def one() -> AsyncIterator[bytes]:
        yield body

    await bucket.write(
        header_key(header.id),
        one(),
        size=len(body),
        attributes=ObjectAttributes(content_type="application/json"),
        content_md5=hashlib.md5(body).hexdigest(),
    )


async def forget(bucket: Bucket, snapshot_id: str) -> None:
    """Unpublish (header first), then remove the records."""
    for key in (header_key(snapshot_id), records_key(snapshot_id)):
        with contextlib.suppress(NoSuchKeyError):
            await bucket.delete(key)


def choose(
    found: Sequence[Header], *, at: datetime | None = None, snapshot: str | None = None
) -> Header:
    """The snapshot a restore reads: by id (a unique prefix is enough), the last one
    completed at or before `at`, or the latest."""
    label = found[0].backup_bucket if found else "the backup bucket"
    if snapshot is not None:
        matches = [h for h in found if h.id == snapshot] or [
            h for h in found if h.id.startswith(snapshot)
        ]
        if not matches:
            raise NotFoundError(
                f"no snapshot {snapshot!r} of {label}: list them with `snapshot list`"
            )
        if len(matches) > 1:
            raise PlanInputError(
                f"SNAPSHOT={snapshot!r} matches {len(matches)} snapshots of {label}: "
                "give more of the id"
            )
        return matches[0]
    if not found:
        raise NotFoundError(f"{label} has no snapshots: run the backup plan first")
    if at is None:
        return found[-1]
    before = [h for h in found if h.completed <= at]
    if not before:
        raise NotFoundError(
            f"no snapshot of {label} completed at or before {at.isoformat()}: the oldest "
            f"is {found[0].id} ({found[0].completed.isoformat()})"
        )
    return before[-1]


def spool_dir() -> str:
    """Where working files (snapshot indexes) go: `$BUCKETVAULT_TMP` or the system's."""
    return os.environ.get("BUCKETVAULT_TMP") or tempfile.gettempdir()
