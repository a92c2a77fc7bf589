"""End-to-end checks of the bytes read from a source, computed while they stream.

A source object is verified against the MD5 its ETag or bucketvault's records name; a multipart
ETag (md5-of-part-md5s-N) is recomputed for each common part size that yields N parts.
A mismatch raises `IntegrityError` *before* the stream ends, so the writer never
completes a corrupt object under its final key. A multipart ETag that no common part
size reproduces proves corruption only for objects bucketvault wrote itself (they carry
its records, and its part sizes are among the common ones); for anyone else's it
only means the part size is unknown, and the object counts as size-checked.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from bucketvault.errors import IntegrityError
from bucketvault.mirror.identity import content_md5
from bucketvault.store.etag import MultipartETag
from bucketvault.store.model import ObjectAttributes, ObjectInfo, is_plain_md5

MiB = 1024 * 1024
# The part sizes clients upload in, most likely first for a MinIO store: mc (minio-go)
# 16 MiB, aws-cli and boto3 8 MiB, rclone 5 MiB, then the other common ones.
LAYOUT_PREFERENCE = tuple(
    n * MiB for n in (16, 8, 5, 10, 15, 25, 32, 50, 64, 100, 128, 200, 256, 512, 1024)
)
COMMON_PART_SIZES = tuple(sorted(LAYOUT_PREFERENCE))


def layout_part_size(info: ObjectInfo) -> int | None:
    """The part size a multipart source was most likely uploaded in (its ETag names the
    part count; the size then allows only a few part sizes), so a copy uploaded the
    same way gets the same ETag; None for a single-part source or an unknown layout."""
    parts = _part_count(info.etag)
    if not parts:
        return None
    for size in LAYOUT_PREFERENCE:
        if math.ceil(info.size / size) == parts:
            return size
    return None


class ETagCandidates:
    """Computes, over the bytes fed to it, the ETag an object of `info`'s size and part
    count would have: its MD5 when `info`'s ETag is one, else its multipart ETag for
    every common part size that gives that many parts."""

    def __init__(self, info: ObjectInfo) -> None:
        self._etag = info.etag
        self._md5: Any = hashlib.md5() if is_plain_md5(info.etag) else None
        parts = _part_count(info.etag)
        sizes = [p for p in COMMON_PART_SIZES if parts and math.ceil(info.size / p) == parts]
        self._multipart = [MultipartETag(size) for size in sizes]

    @property
    def possible(self) -> bool:
        return self._md5 is not None or bool(self._multipart)

    def update(self, chunk: bytes) -> None:
        if self._md5 is not None:
            self._md5.update(chunk)
        for candidate in self._multipart:
            candidate.update(chunk)

    def matches(self) -> bool:
        if self._md5 is not None:
            return bool(self._md5.hexdigest() == self._etag)
        return any(candidate.hexdigest() == self._etag for candidate in self._multipart)


def _part_count(etag: str) -> int | None:
    _, dash, count = etag.rpartition("-")
    return int(count) if dash and count.isdigit() else None


class SourceVerifier:
    """Feed it every chunk of one object; `finish()` raises if the bytes are not the object's.

    With `writer_checks_md5`, an object whose MD5 is known before reading (`expected_md5`)
    is not hashed here: the writer it streams into refuses any other bytes (see
    `store.base.Bucket.write`), so the one MD5 of those bytes is computed where it costs
    least, often by the target server itself. Only the size is checked here then, and an
    object whose recorded MD5 already contradicts its ETag is refused before a byte moves.
    """

    def __init__(
        self,
        info: ObjectInfo,
        attributes: ObjectAttributes | None,
        *,
        label: str,
        part_sizes: tuple[int, ...] = COMMON_PART_SIZES,
        writer_checks_md5: bool = False,
    ) -> None:
        self._info = info
        self._label = label
        self._seen = 0
        self._md5_expected = content_md5(info, attributes)
        # the MD5 bucketvault recorded when it wrote the object: it must hold as well, even
        # when the store now reports an ETag computed from the (rotted) bytes it holds
        recorded = attributes.recorded_md5 if attributes is not None else None
        self._md5_recorded = recorded if recorded and is_plain_md5(recorded) else None
        if self._md5_expected is None:
            self._md5_expected = self._md5_recorded
        if writer_checks_md5 and self._md5_recorded not in (None, self._md5_expected):
            raise self._recorded_mismatch()
        hash_here = self._md5_expected is not None and not writer_checks_md5
        self._md5: Any = hashlib.md5() if hash_here else None
        self._multipart: list[MultipartETag] = []
        self._strict = attributes is not None and attributes.source_etag is not None
        self.content_verified = False
        parts = _part_count(info.etag)
        if self._md5_expected is None and parts:
            self._multipart = [
                MultipartETag(size)
                for size in sorted(set(part_sizes))
                if math.ceil(info.size / size) == parts
            ]

    def _recorded_mismatch(self) -> IntegrityError:
        return IntegrityError(
            f"{self._label}: content does not match the MD5 bucketvault recorded "
            "when it wrote it (corrupt in the store)"
        )

    @property
    def expected_md5(self) -> str | None:
        """The MD5 the object's bytes must have, when known before reading them."""
        return self._md5_expected

    def update(self, chunk: bytes) -> None:
        self._seen += len(chunk)
        if self._seen > self._info.size:
            raise IntegrityError(
                f"{self._label}: read more than the {self._info.size} bytes it should hold"
            )
        if self._md5 is not None:
            self._md5.update(chunk)
        for hasher in self._multipart:
            hasher.update(chunk)

    def finish(self) -> None:
        if self._seen != self._info.size:
            raise IntegrityError(
                f"{self._label}: read {self._seen} bytes, expected {self._info.size}"
            )
        if self._md5 is not None:
            if self._md5_recorded is not None and self._md5.hexdigest() != self._md5_recorded:
                raise self._recorded_mismatch()
            if self._md5.hexdigest() != self._md5_expected:
                raise IntegrityError(
                    f"{self._label}: content does not match its checksum (corrupt at the source)"
                )
            self.content_verified = True
        elif self._multipart:
            if any(hasher.hexdigest() == self._info.etag for hasher in self._multipart):
                self.content_verified = True
            elif self._strict:
                raise IntegrityError(
                    f"{self._label}: content does not match its multipart ETag "
                    "(corrupt at the source)"
                )
