"""A local directory as an object store: `file:///root`, one top-level directory per bucket.

A key `a/b/c` is the file `<root>/<bucket>/a/b/c`. Keys a filesystem cannot hold
exactly (empty, `.` or `..` segments, a leading or trailing `/`, NUL, a segment over
255 bytes, the reserved `.bucketvault` area) are refused by `unrepresentable`, and a
key that is both a file and a directory prefix (`a` and `a/b`) is refused when the
second one is written.

Safety: paths are walked one directory at a time with `O_NOFOLLOW`, so no key and no
symbolic link in the tree can make a write land outside the bucket. Writes go to a
temporary file in the target directory (`.bucketvault-tmp-*`, never listed), are
fsynced and renamed into place; on any failure the temporary file is removed.

Attributes (content headers, user metadata, tags) and the MD5 ETag live in a JSON
sidecar, `<bucket>/.bucketvault/meta/<key>.json`; a sidecar whose size or mtime no
longer matches its file is stale: the ETag is recomputed and its attributes dropped.

OS errors are translated into bucketvault errors here (the store's second boundary).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import stat
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.errors import (
    AccessDeniedError,
    ConfigError,
    IntegrityError,
    NoSuchBucketError,
    NoSuchKeyError,
    NotFoundError,
    PermanentStoreError,
    StoreError,
    UnrepresentableKeyError,
    UnsupportedError,
    content_mismatch,
)
from bucketvault.store.keys import sort_key
from bucketvault.store.model import (
    ObjectAttributes,
    ObjectInfo,
    ObjectLock,
    VersionInfo,
    Versioning,
    WriteResult,
)

RESERVED = ".bucketvault"
TMP_PREFIX = ".bucketvault-tmp-"
MAX_SEGMENT_BYTES = 255
READ_CHUNK = 4 * 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SIDECAR_SUFFIX = ".json"

# aliases: inside LocalBucket, `list` is the listing method
_Segments = list[str]
_Entries = list[tuple[str, "ObjectInfo | None"]]


def local_unrepresentable(key: str) -> str | None:
    """Why a filesystem cannot hold `key` (relative to the bucket) exactly, or None."""
    if not key:
        return "an empty key cannot be a file name"
    if "\x00" in key:
        return "a file name cannot contain NUL"
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "the key is not valid unicode (it holds a lone surrogate)"
    if key.startswith("/"):
        return "a leading '/' would be an empty directory name"
    if key.endswith("/"):
        return "a trailing '/' would name a directory, not a file"
    segments = key.split("/")
    if segments[0] == RESERVED:
        return f"'{RESERVED}/' is reserved for bucketvault's own records"
    for segment in segments:
        if segment == "":
            return "'//' would be an empty directory name"
        if segment in (".", ".."):
            return f"a {segment!r} segment names a directory, not a file name"
        if segment.startswith(TMP_PREFIX):
            return f"names starting with {TMP_PREFIX!r} are bucketvault's temporary files"
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return f"a path segment is longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def _sidecar_name(segment: str) -> str:
    name = segment + _SIDECAR_SUFFIX
    if len(name.encode("utf-8")) <= MAX_SEGMENT_BYTES:
        return name
    return hashlib.sha256(segment.encode("utf-8")).hexdigest() + ".long" + _SIDECAR_SUFFIX


@dataclass(frozen=True, slots=True)
class _LocalReader:
    info: ObjectInfo
    attributes: ObjectAttributes
    fd: int

    async def _stream(self) -> AsyncIterator[bytes]:
        os.lseek(self.fd, 0, os.SEEK_SET)
        while True:
            chunk = await asyncio.to_thread(os.read, self.fd, READ_CHUNK)
            if not chunk:
                return
            yield chunk

    def chunks(self) -> AsyncIterator[bytes]:
        return self._stream()


class LocalEndpoint:
    """A directory whose top-level directories are buckets."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(os.path.realpath(root))

    @classmethod
    def from_config(cls, cfg: EndpointConfig) -> LocalEndpoint:
        return cls(unquote(urlsplit(cfg.url).path))

    @property
    def display(self) -> str:
        return f"file://{self.root}"

    async def check(self) -> None:
        if not self.root.is_dir():
            raise NotFoundError(
                f"local root {self.root} does not exist: create it or fix the file:// URL"
            )
        if not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
            raise AccessDeniedError(f"local root {self.root} is not writable: fix its permissions")

    async def list_buckets(self) -> list[str]:
        await self.check()
        names = [
            entry.name
            for entry in os.scandir(self.root)
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".")
        ]
        return sorted(names, key=sort_key)

    def bucket(self, name: str, prefix: str = "") -> LocalBucket:
        if (
            not name
            or "/" in name
            or "\x00" in name
            or name.startswith(".")
            or len(name.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES
        ):
            raise ConfigError(
                f"bucket name {name!r} cannot be a directory under {self.root}: "
                "use a plain name without '/' or a leading '.'"
            )
        return LocalBucket(self, name, prefix)

    async def delete_bucket(self, name: str) -> None:
        bucket = self.bucket(name)
        if not await bucket.exists():
            raise NoSuchBucketError(f"bucket {name!r} does not exist in {self.root}")
        async for _ in bucket.list():
            raise PermanentStoreError(
                f"bucket {name!r} in {self.root} is not empty: delete its objects first"
            )
        await asyncio.to_thread(_remove_tree, bucket.path / RESERVED)
        with _os_errors(bucket.path):
            os.rmdir(bucket.path)

    async def close(self) -> None:
        return None


class LocalBucket:
    """One bucket directory, optionally narrowed to a key prefix."""

    def __init__(self, endpoint: LocalEndpoint, name: str, prefix: str = "") -> None:
        self._ep = endpoint
        self._name = name
        self._prefix = prefix
        self.path = endpoint.root / name

    @property
    def name(self) -> str:
        return self._name

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def display(self) -> str:
        return f"{self._ep.display}/{self._name}/{self._prefix}"

    async def exists(self) -> bool:
        return self.path.is_dir() and not self.path.is_symlink()

    async def create(self, *, object_lock: ObjectLock | None = None) -> None:
        if object_lock is not None:
            raise UnsupportedError(
                f"{self.display} is a local directory, which has no Object Lock: "
                "keep retained backups in an S3 store that supports it"
            )
        with _os_errors(self.path):
            self.path.mkdir(parents=True, exist_ok=True)

    # -- versions: a directory keeps one version of each key --------------------------

    def _no_versions(self) -> UnsupportedError:
        return UnsupportedError(
            f"{self.display} is a local directory, which keeps no object versions"
        )

    async def versioning(self) -> Versioning:
        return Versioning.UNSUPPORTED

    async def enable_versioning(self) -> Versioning:
        return Versioning.UNSUPPORTED

    async def list_versions(self, *, prefix: str = "") -> AsyncIterator[VersionInfo]:
        raise self._no_versions()
        yield  # pragma: no cover - makes this an async generator, as the protocol says

    async def object_lock(self) -> ObjectLock | None:
        return None

    def unrepresentable(self, key: str) -> str | None:
        return local_unrepresentable(self._prefix + key)

    def _segments(self, key: str) -> _Segments:
        full = self._prefix + key
        reason = local_unrepresentable(full)
        if reason is not None:
            raise UnrepresentableKeyError(
                f"{self.display} cannot hold {key!r}: {reason}", code="Unrepresentable"
            )
        return full.split("/")

    def _require_bucket(self) -> None:
        if not self.path.is_dir() or self.path.is_symlink():
            raise NoSuchBucketError(
                f"bucket {self._name!r} does not exist in {self._ep.root}: create it first"
            )

    # -- listing --------------------------------------------------------------------

    async def list(self, *, start_after: str | None = None) -> AsyncIterator[ObjectInfo]:
        self._require_bucket()
        prefix = self._prefix
        after = sort_key(prefix + start_after) if start_after is not None else None
        # start in the deepest directory the prefix fully names
        base = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
        segments = base.split("/")[:-1]
        if any(s in ("", ".", "..") for s in segments):
            return
        async for info in self._walk(segments, base, after):
            yield info

    async def _walk(
        self, segments: _Segments, dir_prefix: str, after: bytes | None
    ) -> AsyncIterator[ObjectInfo]:
        entries = await asyncio.to_thread(self._scan, segments, dir_prefix, after)
        for name, info in entries:
            if info is not None:
                yield info
                continue
            async for found in self._walk([*segments, name], dir_prefix + name + "/", after):
                yield found

    def _scan(self, segments: _Segments, dir_prefix: str, after: bytes | None) -> _Entries:
        """One directory's entries in key order: (name, None) for a subdirectory to walk,
        (name, info) for an object."""
        directory = self.path.joinpath(*segments)
        prefix = self._prefix
        try:
            with os.scandir(directory) as it:
                raw = [
                    (entry.name, entry.is_dir(follow_symlinks=False), entry)
                    for entry in it
                    if not entry.name.startswith(TMP_PREFIX)
                    and not (not segments and entry.name == RESERVED)
                ]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _translate_os(exc, directory) from exc
        raw.sort(key=lambda e: sort_key(e[0] + "/" if e[1] else e[0]))
        result: _Entries = []
        for name, is_dir, entry in raw:
            if is_dir:
                sub = dir_prefix + name + "/"
                if not (sub.startswith(prefix) or prefix.startswith(sub)):
                    continue
                sub_key = sort_key(sub)
                if after is not None and sub_key < after and not after.startswith(sub_key):
                    continue
                result.append((name, None))
                continue
            full = dir_prefix + name
            if not full.startswith(prefix) or not entry.is_file(follow_symlinks=False):
                continue
            if after is not None and sort_key(full) <= after:
                continue
            st = entry.stat(follow_symlinks=False)
            record = self._read_sidecar(full.split("/"))
            etag = _fresh(record, st)
            if etag is None:
                etag = _md5_file(entry.path)
            result.append((name, _info(full[len(prefix) :], st, etag)))
        return result

    # -- sidecars -------------------------------------------------------------------

    def _sidecar_path(self, segments: _Segments) -> Path:
        return self.path.joinpath(RESERVED, "meta", *segments[:-1], _sidecar_name(segments[-1]))

    def _read_sidecar(self, segments: _Segments) -> dict[str, Any] | None:
        try:
            with open(self._sidecar_path(segments), "rb") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # -- reading --------------------------------------------------------------------

    def _open_file(self, key: str) -> tuple[int, _Segments]:
        self._require_bucket()
        segments = self._segments(key)
        try:
            dfd = _open_dirs(self.path, segments[:-1], create=False)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise self._no_such_key(key) from exc
        try:
            fd = os.open(segments[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise self._no_such_key(key) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._no_such_key(key) from exc
            raise _translate_os(exc, self.path / self._prefix / key) from exc
        finally:
            os.close(dfd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._no_such_key(key)
        return fd, segments

    def _no_such_key(self, key: str) -> NoSuchKeyError:
        return NoSuchKeyError(f"object {key!r} not found in {self.display}")

    def _describe(
        self, key: str, fd: int, segments: _Segments
    ) -> tuple[ObjectInfo, ObjectAttributes]:
        st = os.fstat(fd)
        record = self._read_sidecar(segments)
        etag = _fresh(record, st)
        if etag is None:
            etag = _md5_fd(fd)
            return _info(key, st, etag), ObjectAttributes(tags={})
        assert record is not None
        return _info(key, st, etag), _attributes_from_json(record.get("attributes") or {})

    async def head(self, key: str) -> tuple[ObjectInfo, ObjectAttributes]:
        def work() -> tuple[ObjectInfo, ObjectAttributes]:
            fd, segments = self._open_file(key)
            try:
                return self._describe(key, fd, segments)
            finally:
                os.close(fd)

        return await asyncio.to_thread(work)

    @contextlib.asynccontextmanager
    async def open(self, key: str, *, version_id: str | None = None) -> AsyncIterator[_LocalReader]:
        if version_id is not None:
            raise self._no_versions()
        fd, segments = await asyncio.to_thread(self._open_file, key)
        try:
            info, attributes = await asyncio.to_thread(self._describe, key, fd, segments)
            yield _LocalReader(info=info, attributes=attributes, fd=fd)
        finally:
            os.close(fd)

    # -- writing --------------------------------------------------------------------

    async def write(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        size: int,
        attributes: ObjectAttributes,
        content_md5: str | None = None,
        part_size: int | None = None,
    ) -> WriteResult:
        segments = self._segments(key)
        self._require_bucket()
        target = self.path.joinpath(*segments)
        with _os_errors(target):
            dfd = await asyncio.to_thread(_open_dirs, self.path, segments[:-1], create=True)
        tmp = f"{TMP_PREFIX}{uuid.uuid4().hex}"
        fd = -1
        try:
            with _os_errors(target):
                _refuse_directory(dfd, segments[-1], key, self.display)
                fd = os.open(
                    tmp,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o644,
                    dir_fd=dfd,
                )
            digest = hashlib.md5()
            written = 0
            # errors from the source stream pass through untranslated: they are not ours
            async for chunk in chunks:
                written += len(chunk)
                if written > size:
                    raise _size_mismatch(key, size, "more")
                with _os_errors(target):
                    await asyncio.to_thread(_write_chunk, fd, chunk, digest)
            if written != size:
                raise _size_mismatch(key, size, "fewer")
            if content_md5 is not None and digest.hexdigest() != content_md5:
                raise content_mismatch(f"object {key!r} for {self.display}")
            with _os_errors(target):
                await asyncio.to_thread(os.fsync, fd)
                st = os.fstat(fd)
                os.close(fd)
                fd = -1
                etag = digest.hexdigest()
                record = {
                    "key": self._prefix + key,
                    "size": st.st_size,
                    "mtime_ns": st.st_mtime_ns,
                    "md5": etag,
                    "attributes": _attributes_to_json(attributes),
                }
                await asyncio.to_thread(self._commit, dfd, tmp, segments, record)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise
        finally:
            os.close(dfd)
        return WriteResult(etag=etag, size=size, expected_etag=etag)

    def _commit(self, dfd: int, tmp: str, segments: _Segments, record: dict[str, Any]) -> None:
        """Rename the data file into place, then write its sidecar (both atomically)."""
        meta_segments = [RESERVED, "meta", *segments[:-1]]
        mfd = _open_dirs(self.path, meta_segments, create=True)
        try:
            meta_tmp = f"{TMP_PREFIX}{uuid.uuid4().hex}"
            data = json.dumps(record, ensure_ascii=True).encode()
            mfd_file = os.open(
                meta_tmp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
                dir_fd=mfd,
            )
            try:
                try:
                    _write_all(mfd_file, data)
                    os.fsync(mfd_file)
                finally:
                    os.close(mfd_file)
                os.replace(tmp, segments[-1], src_dir_fd=dfd, dst_dir_fd=dfd)
                os.replace(meta_tmp, _sidecar_name(segments[-1]), src_dir_fd=mfd, dst_dir_fd=mfd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(meta_tmp, dir_fd=mfd)
                raise
            with contextlib.suppress(OSError):
                os.fsync(dfd)
        finally:
            os.close(mfd)

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        if version_id is not None:
            raise self._no_versions()
        segments = self._segments(key)
        self._require_bucket()
        await asyncio.to_thread(self._delete, segments)

    def _delete(self, segments: _Segments) -> None:
        target = self.path.joinpath(*segments)
        meta = [RESERVED, "meta", *segments[:-1]]
        for dirs, name in ((segments[:-1], segments[-1]), (meta, _sidecar_name(segments[-1]))):
            try:
                dfd = _open_dirs(self.path, dirs, create=False)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                raise _translate_os(exc, target) from exc
            try:
                with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                    os.unlink(name, dir_fd=dfd)
            except OSError as exc:
                raise _translate_os(exc, target) from exc
            finally:
                os.close(dfd)
            _prune_empty(self.path, dirs)


# -- helpers ------------------------------------------------------------------------


def _open_dirs(base: Path, segments: list[str], *, create: bool) -> int:
    """Open `base/segments...` one level at a time without following any symlink;
    return a directory fd. Raises UnrepresentableKeyError when a segment is a file."""
    fd = os.open(base, _DIR_FLAGS)
    try:
        for index, segment in enumerate(segments):
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(segment, 0o755, dir_fd=fd)
            try:
                next_fd = os.open(segment, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                where = "/".join(segments[: index + 1])
                if stat.S_ISLNK(os.lstat(segment, dir_fd=fd).st_mode):
                    raise PermanentStoreError(
                        f"refusing to use {base / where}: it is a symbolic link, and "
                        "bucketvault never reads or writes through links",
                        code="SymlinkInPath",
                    ) from exc
                if not create:
                    raise
                raise UnrepresentableKeyError(
                    f"{base / where} is a file, so it cannot also be a directory of keys: "
                    f"a key and a key beginning with {where + '/'!r} cannot both be stored",
                    code="FileDirectoryConflict",
                ) from exc
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuse_directory(dfd: int, name: str, key: str, display: str) -> None:
    try:
        st = os.lstat(name, dir_fd=dfd)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise UnrepresentableKeyError(
            f"{display} holds keys beginning with {key + '/'!r}, so {key!r} cannot also be a file",
            code="FileDirectoryConflict",
        )


def _prune_empty(base: Path, segments: list[str]) -> None:
    """Remove now-empty directories from the deepest up (never the bucket itself)."""
    for depth in range(len(segments), 0, -1):
        if segments[:depth] in (["meta"], [RESERVED], [RESERVED, "meta"]):
            return
        try:
            os.rmdir(base.joinpath(*segments[:depth]))
        except OSError:
            return


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_chunk(fd: int, chunk: bytes, digest: Any) -> None:
    digest.update(chunk)
    _write_all(fd, chunk)


def _md5_fd(fd: int) -> str:
    digest = hashlib.md5()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, READ_CHUNK):
        digest.update(chunk)
    os.lseek(fd, 0, os.SEEK_SET)
    return digest.hexdigest()


def _md5_file(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return _md5_fd(fd)
    finally:
        os.close(fd)


def _fresh(record: dict[str, Any] | None, st: os.stat_result) -> str | None:
    """The sidecar's MD5 if it still describes the file (same size and mtime)."""
    if record is None:
        return None
    if record.get("size") != st.st_size or record.get("mtime_ns") != st.st_mtime_ns:
        return None
    md5 = record.get("md5")
    return md5 if isinstance(md5, str) else None


def _info(key: str, st: os.stat_result, etag: str) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=st.st_size,
        etag=etag,
        last_modified=datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC),
    )


_ATTRIBUTE_FIELDS = (
    "content_type",
    "content_encoding",
    "content_disposition",
    "content_language",
    "cache_control",
)


def _attributes_to_json(attributes: ObjectAttributes) -> dict[str, Any]:
    data: dict[str, Any] = {f: getattr(attributes, f) for f in _ATTRIBUTE_FIELDS}
    data["metadata"] = dict(attributes.metadata)
    data["tags"] = dict(attributes.tags) if attributes.tags is not None else {}
    return data


def _attributes_from_json(data: dict[str, Any]) -> ObjectAttributes:
    return ObjectAttributes(
        **{f: data.get(f) for f in _ATTRIBUTE_FIELDS},
        metadata={str(k).lower(): str(v) for k, v in (data.get("metadata") or {}).items()},
        tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
    )


def _size_mismatch(key: str, size: int, more_or_fewer: str) -> IntegrityError:
    return IntegrityError(
        f"the source of {key!r} gave {more_or_fewer} than the {size} bytes announced: "
        "it changed while being copied; copy it again"
    )


def _remove_tree(path: Path) -> None:
    if not path.exists() or path.is_symlink():
        return
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if child.is_dir() and not child.is_symlink():
            child.rmdir()
        else:
            child.unlink()
    path.rmdir()


def _translate_os(exc: OSError, path: Path | str) -> StoreError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(
            f"disk full writing {path}: free space or choose another target",
            code="DiskFull",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return AccessDeniedError(
            f"permission denied for {path}: fix the directory's permissions", code="EACCES"
        )
    if exc.errno == errno.ENAMETOOLONG:
        return UnrepresentableKeyError(f"{path}: the path is too long for this filesystem")
    return StoreError(
        f"cannot use {path}: {exc.strerror or exc}", code=errno.errorcode.get(exc.errno or 0)
    )


@contextlib.contextmanager
def _os_errors(path: Path | str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _translate_os(exc, path) from exc
