"""Typed records every store speaks: what an object is, what travels with it, what a write did."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from bucketvault.errors import UsageError

# The user-metadata names under which bucketvault's first backup format (a backup bucket
# without snapshots) kept each copy's source ETag and content MD5. Only that format is
# read with them (`history.legacy`); nothing writes them any more, and everywhere else
# they are a user's metadata like any other, copied exactly.
META_SOURCE_ETAG = "bucketvault-source-etag"
META_MD5 = "bucketvault-md5"


_MD5_HEX = re.compile(r"[0-9a-f]{32}")


def is_plain_md5(etag: str) -> bool:
    """An ETag that is the MD5 of the content (single-part upload without SSE-KMS)."""
    return _MD5_HEX.fullmatch(etag) is not None


def normalize_etag(etag: str | None) -> str:
    return (etag or "").strip('"').lower()


class ObjectInfo(NamedTuple):
    """One object as a listing reports it. `key` is relative to the bucket's prefix.

    A named tuple, not a frozen dataclass: a listing builds one per key, and a frozen
    dataclass took 1.1-1.4 us to build against 0.3-0.5 us (about a tenth of a no-op's
    client CPU went to building them)."""

    key: str
    size: int
    etag: str
    last_modified: datetime
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectAttributes:
    """Everything that travels with an object besides its bytes.

    `metadata` holds user metadata with lower-case keys and no `x-amz-meta-` prefix.
    `tags` is None when the store cannot say (tagging unsupported), `{}` for no tags.

    `source_etag` and `recorded_md5` are bucketvault's own records of a copy it made, never
    user metadata: the ETag the source object had when it was copied, and the content
    MD5. Only bucketvault's backup format sets them (the backup journal, a snapshot);
    a store never reads them from an object nor writes them onto one.
    """

    content_type: str | None = None
    content_encoding: str | None = None
    content_disposition: str | None = None
    content_language: str | None = None
    cache_control: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] | None = None
    source_etag: str | None = None
    recorded_md5: str | None = None

    def user_visible(self) -> ObjectAttributes:
        """The same attributes without bucketvault's records (the user's metadata whole)."""
        if self.source_etag is None and self.recorded_md5 is None:
            return self
        return replace(self, source_etag=None, recorded_md5=None)

    def with_recorded(
        self, *, source_etag: str | None = None, md5: str | None = None
    ) -> ObjectAttributes:
        """These attributes with bucketvault's records of the copy set (None: unchanged)."""
        return replace(
            self,
            source_etag=source_etag if source_etag is not None else self.source_etag,
            recorded_md5=md5 if md5 is not None else self.recorded_md5,
        )


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a store reports after a write.

    `expected_etag` is the ETag the target must report if every byte arrived intact
    (the MD5 for a single-part upload, md5-of-part-md5s-N for multipart), computed by
    the writer from the bytes it sent; None when the store cannot predict it.
    """

    etag: str
    size: int
    expected_etag: str | None
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One version of an object, or one delete marker, as a version listing reports it.

    `key` is relative to the bucket's prefix. `version_id` is the store's id, passed back
    unchanged to `open`/`delete` (S3 says "null" for an object written while versioning
    was off or suspended). A delete marker has `size` 0 and `etag` "".
    """

    key: str
    version_id: str
    is_latest: bool
    delete_marker: bool
    size: int
    etag: str
    last_modified: datetime


class Versioning(StrEnum):
    """A bucket's versioning state."""

    ENABLED = "enabled"
    SUSPENDED = "suspended"
    OFF = "off"  # never enabled (the store could)
    UNSUPPORTED = "unsupported"  # the store cannot keep versions at all


OBJECT_LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")


@dataclass(frozen=True, slots=True)
class ObjectLock:
    """A bucket's default Object Lock retention: every new object version is kept for
    `days` days in `mode` (GOVERNANCE: privileged users may lift it; COMPLIANCE: nobody)."""

    mode: str
    days: int

    def __post_init__(self) -> None:
        if self.mode not in OBJECT_LOCK_MODES:
            raise UsageError(
                f"Object Lock mode {self.mode!r} is not one of {', '.join(OBJECT_LOCK_MODES)}"
            )
        if self.days < 1:
            raise UsageError(f"Object Lock retention must be at least 1 day, not {self.days}")
