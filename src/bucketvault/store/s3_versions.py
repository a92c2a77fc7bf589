"""Object versions and Object Lock on S3: the bucket's versioning state, the version
listing, reading a version's tags, telling a retained version from a refused delete,
and creating a bucket with Object Lock.

What the loopback servers answer (measured; tests/store/test_versions.py):
- moto keeps versions and Object Lock like AWS. A delete of a retained version is
  refused with 403 AccessDenied (AWS does the same, MinIO answers 400 InvalidRequest),
  so a refused delete counts as `ObjectLockedError` only once the version's retention
  or legal hold confirms it. moto lists a page's versions first and its delete markers
  after them (AWS interleaves them newest first), and ignores `encoding-type=url` in
  this listing. So a page is put in order by key, then latest first, then newest first
  (listings give whole seconds), ties in the server's order: exact for a server that
  interleaves; on moto, a delete marker and an older version of the same key stored in
  the same second may come out in either order.
- rclone serve s3 keeps no versions: GetBucketVersioning answers an empty
  configuration (as for a bucket that never had versioning), PutBucketVersioning,
  ListObjectVersions and any versionId request answer 501 NotImplemented; a CreateBucket
  asking for Object Lock succeeds without it, PutObjectLockConfiguration answers 409
  BucketAlreadyExists and GetObjectLockConfiguration answers with an object listing.
  So "never enabled" is told from "cannot version" by a one-key version listing, and
  Object Lock counts only when the configuration reads back as it was set.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bucketvault.errors import (
    AccessDeniedError,
    BucketvaultError,
    NoSuchBucketError,
    ObjectLockedError,
    PermanentStoreError,
    StoreError,
    UnsupportedError,
)
from bucketvault.store.keys import sort_key
from bucketvault.store.model import ObjectLock, VersionInfo, Versioning, normalize_etag
from bucketvault.store.s3_errors import Where, quote_key
from bucketvault.store.s3_list_page import decode_key, parse_timestamp
from bucketvault.store.s3_wire import content_md5, parse_tags, xml_body, xml_children

if TYPE_CHECKING:
    from bucketvault.store.s3 import S3Endpoint
    from bucketvault.store.s3_bucket import S3Bucket

VERSIONS_PAGE_SIZE = 1000
# Answers other than 501 NotImplemented by which S3-compatible servers say that they
# lack a bucket feature (Ceph: XNotImplemented; others: NotSupported, 405)
NOT_IMPLEMENTED_CODES = frozenset(
    {
        "NotImplemented",
        "XNotImplemented",
        "NotSupported",
        "UnsupportedOperation",
        "MethodNotAllowed",
    }
)
# the answers to a delete of a version that Object Lock may be retaining: AWS and moto
# say AccessDenied, MinIO InvalidRequest ("Object is WORM protected")
_LOCKED_ANSWERS = frozenset({"AccessDenied", "InvalidRequest"})
_NO_LOCK_CODES = frozenset({"ObjectLockConfigurationNotFoundError"})
_EPOCH = datetime.fromtimestamp(0, UTC)


def not_implemented(exc: StoreError) -> bool:
    return isinstance(exc, UnsupportedError) or exc.code in NOT_IMPLEMENTED_CODES


def no_versions(ep: S3Endpoint, bucket: str, cause: StoreError | None = None) -> UnsupportedError:
    return UnsupportedError(
        f"{ep.url} keeps no object versions for bucket {bucket!r} (the server does not "
        "implement them): use a store with versioning",
        code=cause.code if cause else None,
        status=cause.status if cause else None,
    )


# -- versioning state ---------------------------------------------------------------


async def versioning(bucket: S3Bucket) -> Versioning:
    ep, where = bucket.endpoint, bucket.where()
    try:
        answer = await ep.wire.send("GET", where, bucket=bucket.name, query={"versioning": ""})
    except PermanentStoreError as exc:
        if isinstance(exc, (AccessDeniedError, NoSuchBucketError)) or not not_implemented(exc):
            raise
        return Versioning.UNSUPPORTED
    root, ns = xml_children(answer.body)
    status = root.findtext(f"{ns}Status")
    if status == "Enabled":
        return Versioning.ENABLED
    if status == "Suspended":
        return Versioning.SUSPENDED
    # Never enabled: or a server that cannot keep versions and answers like one that
    # never had them (rclone). Only the latter refuses to list versions.
    try:
        await ep.wire.send(
            "GET", where, bucket=bucket.name, query={"versions": "", "max-keys": "1"}
        )
    except PermanentStoreError as exc:
        if isinstance(exc, NoSuchBucketError):
            raise
        if not_implemented(exc):
            return Versioning.UNSUPPORTED
        # AccessDenied (no s3:ListBucketVersions) and the like: the server knows versions
    return Versioning.OFF


async def enable_versioning(bucket: S3Bucket) -> Versioning:
    ep, where = bucket.endpoint, bucket.where()
    body = xml_body("VersioningConfiguration", "<Status>Enabled</Status>")
    try:
        await ep.wire.send(
            "PUT",
            where,
            bucket=bucket.name,
            query={"versioning": ""},
            headers={"Content-MD5": content_md5(body)},
            body=body,
        )
    except PermanentStoreError as exc:
        if isinstance(exc, (AccessDeniedError, NoSuchBucketError)):
            raise
        return Versioning.UNSUPPORTED
    # a server may answer 200 and change nothing: only the state read back counts
    state = await versioning(bucket)
    return Versioning.ENABLED if state is Versioning.ENABLED else Versioning.UNSUPPORTED


# -- listing ------------------------------------------------------------------------


async def list_versions(
    bucket: S3Bucket, *, prefix: str = "", page_size: int = VERSIONS_PAGE_SIZE
) -> AsyncIterator[VersionInfo]:
    """Every version and delete marker under the bucket's prefix + `prefix` (see
    `base.Bucket.list_versions`), one ListObjectVersions page at a time."""
    ep, where = bucket.endpoint, bucket.where()
    full_prefix = bucket.prefix + prefix
    params = {"versions": "", "encoding-type": "url", "max-keys": str(page_size)}
    if full_prefix:
        params["prefix"] = full_prefix
    marker: tuple[str, str] | None = None
    last: bytes | None = None
    while True:
        query = dict(params)
        if marker is not None:
            query["key-marker"], query["version-id-marker"] = marker

        try:
            body = (await ep.wire.send("GET", where, bucket=bucket.name, query=query)).body
        except UnsupportedError as exc:
            raise no_versions(ep, bucket.name, exc) from exc
        root, ns = xml_children(body)
        # a server that encodes keys says so (moto ignores the request and does not)
        encoded = root.findtext(f"{ns}EncodingType") == "url"
        entries: list[tuple[bytes, bool, float, int, VersionInfo]] = []
        for position, entry in enumerate(root):
            tag = entry.tag[len(ns) :]
            if tag not in ("Version", "DeleteMarker"):
                continue
            info = _version_info(entry, ns, tag == "DeleteMarker", encoded, full_prefix, where)
            info = _relative(info, bucket.prefix)
            order = sort_key(bucket.prefix + info.key)
            # within a key: the latest first, then newest first; ties in the server's order
            entries.append(
                (order, not info.is_latest, -info.last_modified.timestamp(), position, info)
            )
        entries.sort(key=lambda e: e[:4])
        for order, *_, info in entries:
            if last is not None and order < last:
                raise PermanentStoreError(
                    f"{where.endpoint} listed the versions of bucket {bucket.name!r} out of "
                    f"order at {quote_key(info.key)}: the server does not sort keys by UTF-8 bytes"
                )
            last = order
            yield info
        if root.findtext(f"{ns}IsTruncated") != "true":
            return
        next_key = root.findtext(f"{ns}NextKeyMarker")
        if not next_key:
            raise PermanentStoreError(
                f"{where.endpoint} cut the version listing of bucket {bucket.name!r} short "
                "without saying where to go on: the server's version listing is broken"
            )
        next_key = decode_key(next_key) if encoded else next_key
        next_marker = (next_key, root.findtext(f"{ns}NextVersionIdMarker") or "")
        if next_marker == marker:
            raise PermanentStoreError(
                f"{where.endpoint} repeated a page of the version listing of bucket "
                f"{bucket.name!r}: the server's version listing is broken"
            )
        marker = next_marker


def _version_info(
    entry: Any, ns: str, delete_marker: bool, encoded: bool, full_prefix: str, where: Where
) -> VersionInfo:
    raw = entry.findtext(f"{ns}Key") or ""
    key = decode_key(raw) if encoded else raw
    if not key.startswith(full_prefix):
        raise PermanentStoreError(
            f"{where.endpoint} listed {quote_key(key)} outside prefix {full_prefix!r} "
            f"of bucket {where.bucket!r}: the server ignores prefixes"
        )
    modified = entry.findtext(f"{ns}LastModified")
    return VersionInfo(
        key=key,
        version_id=entry.findtext(f"{ns}VersionId") or "null",
        is_latest=(entry.findtext(f"{ns}IsLatest") or "").strip().lower() == "true",
        delete_marker=delete_marker,
        size=0 if delete_marker else int(entry.findtext(f"{ns}Size") or 0),
        etag="" if delete_marker else normalize_etag(entry.findtext(f"{ns}ETag")),
        last_modified=(parse_timestamp(modified) if modified else None) or _EPOCH,
    )


def _relative(info: VersionInfo, prefix: str) -> VersionInfo:
    if not prefix:
        return info
    return VersionInfo(
        key=info.key[len(prefix) :],
        version_id=info.version_id,
        is_latest=info.is_latest,
        delete_marker=info.delete_marker,
        size=info.size,
        etag=info.etag,
        last_modified=info.last_modified,
    )


# -- one version --------------------------------------------------------------------


async def version_tags(
    ep: S3Endpoint, where: Where, full_key: str, version_id: str, *, tag_count: Any
) -> dict[str, str] | None:
    """The tags of one version (GetObjectTagging with versionId); None when the server
    cannot tell. `tag_count` is the GET's x-amz-tagging-count (absent when there are
    none)."""
    if ep.tagging is False:
        return None
    if ep.tagging and not tag_count:
        return {}
    wire, name = ep.wire, where.bucket or ""
    query = {"tagging": "", "versionId": version_id}
    if ep.tagging is None:
        # not probed yet: look at the answer's status and type before reading a body
        # (rclone answers ?tagging with the object itself; see S3Endpoint._probe_tags)
        answer = await wire.status("GET", where, bucket=name, key=full_key, query=query)
        if answer.status != 200 or "xml" not in answer.headers.get("Content-Type", ""):
            return None
    try:
        return parse_tags(
            (await wire.send("GET", where, bucket=name, key=full_key, query=query)).body
        )
    except UnsupportedError:
        return None


async def retained(ep: S3Endpoint, where: Where, full_key: str, version_id: str) -> bool:
    """Whether Object Lock keeps this version now (retention in the future, or a legal
    hold). False when the server cannot say.

    HeadObject reports both (x-amz-object-lock-*), on AWS, MinIO and moto alike; moto
    answers GetObjectRetention for a version with a 500."""
    try:
        answer = await ep.wire.send(
            "HEAD",
            where,
            bucket=where.bucket,
            key=full_key,
            query={"versionId": version_id},
            headers=ep.sse.data,
        )
    except StoreError:
        return False
    until = parse_timestamp(answer.headers.get("x-amz-object-lock-retain-until-date") or "")
    if until is not None and until > datetime.now(UTC):
        return True
    return answer.headers.get("x-amz-object-lock-legal-hold") == "ON"


async def delete_version(bucket: S3Bucket, key: str, full_key: str, version_id: str) -> None:
    ep, where = bucket.endpoint, bucket.where(key)
    try:
        await ep.wire.send(
            "DELETE", where, bucket=bucket.name, key=full_key, query={"versionId": version_id}
        )
    except UnsupportedError as exc:
        raise no_versions(ep, bucket.name, exc) from exc
    except PermanentStoreError as exc:
        if exc.code not in _LOCKED_ANSWERS or not await retained(ep, where, full_key, version_id):
            raise
        raise ObjectLockedError(
            f"version {version_id!r} of {where.what()} at {ep.url} is retained by Object Lock: "
            "it cannot be deleted before its retention ends",
            code=exc.code,
            status=exc.status,
        ) from exc


# -- Object Lock --------------------------------------------------------------------


async def object_lock(bucket: S3Bucket) -> ObjectLock | None:
    ep = bucket.endpoint
    try:
        answer = await ep.wire.send(
            "GET", bucket.where(), bucket=bucket.name, query={"object-lock": ""}
        )
    except PermanentStoreError as exc:
        if exc.code in _NO_LOCK_CODES or not_implemented(exc):
            return None
        raise
    root, ns = xml_children(answer.body)
    if root.findtext(f"{ns}ObjectLockEnabled") != "Enabled":
        return None  # rclone answers with an object listing
    rule = f"{ns}Rule/{ns}DefaultRetention/{ns}"
    mode = root.findtext(f"{rule}Mode")
    # S3 takes a retention in days or in years; a year counts as 365 days here
    try:
        days = int(root.findtext(f"{rule}Days") or 0) or 365 * int(
            root.findtext(f"{rule}Years") or 0
        )
    except ValueError:
        return None
    if not mode or days < 1:
        return None
    try:
        return ObjectLock(mode, days)
    except BucketvaultError:
        return None  # a mode this version does not know


async def create_locked(bucket: S3Bucket, lock: ObjectLock) -> None:
    """Create the bucket with Object Lock and `lock` as its default retention (or give
    an existing bucket that retention); `UnsupportedError` when the store cannot, after
    removing the bucket again if this call created it."""
    ep = bucket.endpoint
    existed = await bucket.exists()
    if existed and await object_lock(bucket) == lock:
        return
    if not existed:
        await bucket.put_bucket(headers={"x-amz-bucket-object-lock-enabled": "true"})
    try:
        body = xml_body(
            "ObjectLockConfiguration",
            "<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>"
            f"<Mode>{lock.mode}</Mode><Days>{lock.days}</Days></DefaultRetention></Rule>",
        )
        try:
            await ep.wire.send(
                "PUT",
                bucket.where(),
                bucket=bucket.name,
                query={"object-lock": ""},
                headers={"Content-MD5": content_md5(body)},
                body=body,
            )
        except PermanentStoreError as exc:
            if isinstance(exc, (AccessDeniedError, NoSuchBucketError)):
                raise
            raise _no_lock(bucket, existed, f"it answered {exc.code or exc.status}") from exc
        got = await object_lock(bucket)
        if got != lock:
            raise _no_lock(bucket, existed, f"it reads back {got or 'no retention'}")
    except BaseException:
        if not existed:
            with contextlib.suppress(Exception):
                await ep.delete_bucket(bucket.name)
        raise


def _no_lock(bucket: S3Bucket, existed: bool, why: str) -> UnsupportedError:
    url = bucket.endpoint.url
    if existed:
        return UnsupportedError(
            f"{url} would not give the existing bucket {bucket.name!r} Object Lock ({why}): "
            "create a new bucket with Object Lock, on a store that supports it"
        )
    return UnsupportedError(
        f"{url} cannot create bucket {bucket.name!r} with Object Lock ({why}): use a store "
        "that supports Object Lock (AWS S3, MinIO), or create the bucket without it"
    )
