"""A backup bucket of the first format (no snapshots; bucketvault's records in each copy's
metadata) is read as such: a restore writes back only the user's metadata, and the
records still recognise a copy; on any other bucket those names are user metadata."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from bucketvault.history.legacy import LegacyBackup, read_records
from bucketvault.mirror import MirrorJob, MirrorOptions, run_mirror
from bucketvault.store.memory import MemoryEndpoint
from bucketvault.store.model import META_MD5, META_SOURCE_ETAG, ObjectAttributes


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_records_are_read_out_of_the_metadata() -> None:
    attrs = ObjectAttributes(
        content_type="text/plain",
        metadata={"owner": "ann", META_SOURCE_ETAG: "abc-2", META_MD5: "d" * 32},
        tags={"t": "1"},
    )
    read = read_records(attrs)
    assert dict(read.metadata) == {"owner": "ann"}
    assert (read.source_etag, read.recorded_md5) == ("abc-2", "d" * 32)
    assert read.content_type == "text/plain" and read.tags == {"t": "1"}
    assert read.user_visible() == ObjectAttributes(
        content_type="text/plain", metadata={"owner": "ann"}, tags={"t": "1"}
    )
    plain = ObjectAttributes(metadata={"owner": "ann"})
    assert read_records(plain) is plain


async def test_a_first_format_backup_restores_only_the_users_metadata() -> None:
    endpoint = MemoryEndpoint()
    backup, live = endpoint.bucket("minio-b"), endpoint.bucket("b")
    await backup.create()
    data = b"photo"
    md5 = hashlib.md5(data).hexdigest()
    old = {"owner": "ann", META_SOURCE_ETAG: md5, META_MD5: md5}
    await backup.write(
        "a.jpg", _one(data), size=len(data), attributes=ObjectAttributes(metadata=old)
    )
    options = MirrorOptions(create_target=True)
    summary = await run_mirror(MirrorJob(LegacyBackup(backup), live, options))
    assert summary.copied == 1
    _, attrs = await live.head("a.jpg")
    assert dict(attrs.metadata) == {"owner": "ann"}
    # the same bucket mirrored as a plain bucket: its metadata is copied as it is
    plain = endpoint.bucket("copy")
    await run_mirror(MirrorJob(backup, plain, options))
    _, attrs = await plain.head("a.jpg")
    assert dict(attrs.metadata) == old
