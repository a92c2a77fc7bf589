"""Copy one object from a source bucket to a target bucket, verified end to end.

The bytes stream through: nothing is read whole into memory. The source's size is
checked while streaming (`checksum.SourceVerifier`); its content is checked against the
MD5 the source names (its ETag, or the MD5 bucketvault recorded) by the writer, which
stores nothing else (`Bucket.write(content_md5=...)`: the target server checks
Content-MD5 on a streamed PUT, the store hashes a buffered body itself); a source whose
MD5 is unknown in advance (multipart ETag) is hashed here while it streams. The target
side is then checked by comparing the ETag the target reports with the one expected. A
copy counts only after both checks pass. Transient failures retry the whole object
(a broken stream cannot be resumed mid-way); the retry policy lives in `store.retry`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bucketvault.errors import (
    IntegrityError,
    UnrepresentableKeyError,
)
from bucketvault.mirror.bandwidth import BandwidthLimit
from bucketvault.mirror.checksum import ETagCandidates, SourceVerifier, layout_part_size
from bucketvault.mirror.identity import Identity, compare_recorded, content_md5
from bucketvault.mirror.stats import MirrorStats
from bucketvault.store.base import Bucket
from bucketvault.store.model import ObjectAttributes, ObjectInfo, is_plain_md5
from bucketvault.store.retry import RetryPolicy, retrying

# Below this, bucketvault's own uploads are single-part, so the target's ETag is the
# content MD5 and no bookkeeping is needed to recognise an unchanged copy.
BOOKKEEPING_MIN_SIZE = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TransferSettings:
    bookkeeping: bool = False
    record_checksums: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    bandwidth: BandwidthLimit | None = None


def _bookkeeping(
    info: ObjectInfo, attributes: ObjectAttributes, *, always: bool = False
) -> ObjectAttributes:
    """The source's attributes for its copy, with what the copy records so a later run
    can recognise it as unchanged (and, with `always`, the content MD5 of every object,
    checked whenever it is read back). The records are fields of the attributes, which
    the backup target keeps in its journal: never user metadata."""
    visible = attributes.user_visible()
    if is_plain_md5(info.etag) and info.size < BOOKKEEPING_MIN_SIZE:
        return visible.with_recorded(md5=info.etag) if always else visible
    return visible.with_recorded(source_etag=info.etag, md5=content_md5(info, attributes))


async def copy_object(
    source: Bucket,
    target: Bucket,
    key: str,
    stats: MirrorStats,
    settings: TransferSettings,
) -> None:
    reason = target.unrepresentable(key)
    if reason is not None:
        raise UnrepresentableKeyError(f"{target.display} cannot hold key {key!r}: {reason}")
    counted = 0

    async def attempt() -> int:
        nonlocal counted
        stats.take_back(counted)
        counted = 0
        async with source.open(key) as reader:
            info = reader.info
            verifier = SourceVerifier(
                info, reader.attributes, label=f"source object {key!r}", writer_checks_md5=True
            )
            # the user's attributes exactly, metadata named `bucketvault-…` included
            if settings.bookkeeping:
                attributes = _bookkeeping(info, reader.attributes, always=settings.record_checksums)
            else:
                attributes = reader.attributes.user_visible()

            async def verified_stream() -> AsyncIterator[bytes]:
                # Each chunk goes on only once the next one has come, and the last only
                # after the whole object verified: a writer that streams never sends
                # the final byte of a corrupt object, so the server never completes it.
                nonlocal counted
                held: bytes | None = None
                async for chunk in reader.chunks():
                    if settings.bandwidth is not None:
                        await settings.bandwidth.take(len(chunk))
                    verifier.update(chunk)
                    counted += len(chunk)
                    stats.add_bytes(len(chunk))
                    if held is not None:
                        yield held
                    held = chunk
                verifier.finish()
                if held is not None:
                    yield held

            result = await target.write(
                key,
                verified_stream(),
                size=info.size,
                attributes=attributes,
                content_md5=verifier.expected_md5,
                part_size=layout_part_size(info),
            )
        if result.size != info.size:
            raise IntegrityError(
                f"target object {key!r}: wrote {result.size} bytes, expected {info.size}"
            )
        if result.expected_etag is not None and result.etag != result.expected_etag:
            raise IntegrityError(
                f"target object {key!r}: the target reports ETag {result.etag}, "
                f"but the bytes sent hash to {result.expected_etag}"
            )
        return info.size

    # The store has already retried each request it could replay; a whole-object retry
    # covers what it cannot (a source stream broken mid-way, a write whose outcome was
    # lost). Retries are counted by the run (`retry.counting_retries`).
    try:
        size = await retrying(attempt, settings.retry)
    except BaseException:
        stats.take_back(counted)
        raise
    stats.copy_done(size)


async def recorded_identity(
    source: Bucket, target: Bucket, listed_source: ObjectInfo, key: str
) -> Identity:
    """Compare with what bucketvault recorded of both objects (one or two HEADs, each
    retried by the store); a store's own objects carry no records, only the backup
    format does."""
    target_info, target_attributes = await target.head(key)
    identity = compare_recorded(listed_source, None, target_info, target_attributes)
    if identity is Identity.UNKNOWN:
        source_info, source_attributes = await source.head(key)
        identity = compare_recorded(source_info, source_attributes, target_info, target_attributes)
    if identity is Identity.UNKNOWN and target_attributes.source_etag is None:
        # a copy without records whose ETag is of another kind than the source's (a
        # store that answers a multipart upload with the content's MD5): its bytes tell
        identity = await _read_identity(target, key, listed_source)
    # Unknowable without reading both: treat as changed, which the conflict policy guards.
    return Identity.DIFFERENT if identity is Identity.UNKNOWN else identity


async def _read_identity(target: Bucket, key: str, source: ObjectInfo) -> Identity:
    """Read the target's object and compute what the source's ETag is of it: the content
    MD5, or the multipart ETag for each part size that gives the source's part count."""
    expected = ETagCandidates(source)
    if not expected.possible:
        return Identity.UNKNOWN
    async with target.open(key) as reader:
        if reader.info.size != source.size:
            return Identity.DIFFERENT
        async for chunk in reader.chunks():
            expected.update(chunk)
    return Identity.SAME if expected.matches() else Identity.DIFFERENT
