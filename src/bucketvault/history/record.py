"""The snapshot record format: one JSON object per line, gzip-compressed.

A snapshot file (`.bucketvault/snapshots/<id>.jsonl.gz`) starts with its header line
and then holds one line per object, in S3 key order (UTF-8 bytes):

    {"format": "bucketvault-snapshot/1", "id": "20261201T161252Z-3fa9c1", ...}
    {"key": "a.jpg", "size": 1024, "etag": "9e10…", "md5": "9e10…", "stored_etag": "9e10…",
     "version": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "content_type": "image/jpeg",
     "metadata": {"owner": "alice"}, "tags": {"team": "ops"}}

| field | meaning |
|---|---|
| key | the object's exact key in the live bucket |
| size | bytes |
| etag | the ETag the live object had (change detection) |
| md5 | the content MD5 (hex) when known; checked on every restore and verify |
| stored_etag | the ETag of the copy in the backup bucket |
| version | the backup bucket's version id of that copy (versioned buckets only) |
| stored_as | the key the copy is stored under, when not `key` (see `layout.py`) |
| content_type, content_encoding, content_disposition, content_language, cache_control | |
|   | the content headers, each only when set |
| metadata | user metadata (lower-case names, no `x-amz-meta-`), when any |
| tags | object tags; absent when the live store could not tell |

`zcat <id>.jsonl.gz | head` shows a snapshot without bucketvault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bucketvault.errors import IntegrityError
from bucketvault.store.model import ObjectAttributes

FORMAT = "bucketvault-snapshot/1"

_HEADERS = (
    "content_type",
    "content_encoding",
    "content_disposition",
    "content_language",
    "cache_control",
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One object as a snapshot records it."""

    key: str
    size: int
    etag: str
    md5: str | None
    stored_etag: str
    version: str | None = None
    stored_as: str | None = None
    attributes: ObjectAttributes = field(default_factory=ObjectAttributes)

    @property
    def location(self) -> str:
        return self.stored_as if self.stored_as is not None else self.key

    def to_line(self) -> str:
        record: dict[str, Any] = {
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "md5": self.md5,
            "stored_etag": self.stored_etag,
        }
        if self.version is not None:
            record["version"] = self.version
        if self.stored_as is not None:
            record["stored_as"] = self.stored_as
        attrs = self.attributes
        for name in _HEADERS:
            value = getattr(attrs, name)
            if value is not None:
                record[name] = value
        if attrs.metadata:
            record["metadata"] = dict(attrs.metadata)
        if attrs.tags is not None:
            record["tags"] = dict(attrs.tags)
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_line(cls, line: str) -> Entry:
        try:
            record = json.loads(line)
            return cls(
                key=record["key"],
                size=int(record["size"]),
                etag=record["etag"],
                md5=record.get("md5"),
                stored_etag=record["stored_etag"],
                version=record.get("version"),
                stored_as=record.get("stored_as"),
                attributes=ObjectAttributes(
                    **{name: record.get(name) for name in _HEADERS},
                    metadata=record.get("metadata") or {},
                    tags=record.get("tags"),
                ),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(
                f"a snapshot record is malformed ({exc}): {line[:120]!r}"
            ) from None

    def checked_attributes(self) -> ObjectAttributes:
        """The attributes a reader of this entry carries: the user's own, plus the MD5
        the bytes must hash to (so every restore and verify checks it)."""
        if self.md5 is None:
            return self.attributes
        return self.attributes.with_recorded(md5=self.md5)


@dataclass(frozen=True, slots=True)
class Header:
    """What a snapshot is: its id, bucket, times and counts (`<id>.json`, and the first
    line of `<id>.jsonl.gz`)."""

    id: str
    service: str
    bucket: str
    backup_bucket: str
    started: datetime
    completed: datetime
    parent: str | None
    objects: int
    bytes: int
    added: int
    changed: int
    deleted: int
    versioned: bool

    @property
    def time(self) -> datetime:
        """When the snapshot was complete: what `AT=` and retention go by."""
        return self.completed

    def to_record(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "service": self.service,
            "bucket": self.bucket,
            "backup_bucket": self.backup_bucket,
            "started": self.started.isoformat(),
            "completed": self.completed.isoformat(),
            "parent": self.parent,
            "objects": self.objects,
            "bytes": self.bytes,
            "added": self.added,
            "changed": self.changed,
            "deleted": self.deleted,
            "versioned": self.versioned,
        }

    def to_line(self) -> str:
        return json.dumps(self.to_record(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Header:
        if record.get("format") != FORMAT:
            raise IntegrityError(
                f"snapshot {record.get('id')!r} has format {record.get('format')!r}; this "
                f"bucketvault reads {FORMAT}: upgrade bucketvault"
            )
        try:
            return cls(
                id=record["id"],
                service=record["service"],
                bucket=record["bucket"],
                backup_bucket=record["backup_bucket"],
                started=datetime.fromisoformat(record["started"]),
                completed=datetime.fromisoformat(record["completed"]),
                parent=record.get("parent"),
                objects=int(record["objects"]),
                bytes=int(record["bytes"]),
                added=int(record["added"]),
                changed=int(record["changed"]),
                deleted=int(record["deleted"]),
                versioned=bool(record["versioned"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"a snapshot header is malformed ({exc})") from None
