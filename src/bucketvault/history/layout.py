"""Where things live in a backup bucket, and the names bucketvault gives them.

    <key>                                  the latest copy of every object, as the live
                                           bucket had it (browsable with any S3 client)
    .bucketvault/snapshots/<id>.jsonl.gz   one snapshot's records (`record.py`)
    .bucketvault/snapshots/<id>.json       its header; written last, so its presence
                                           means the snapshot is published
    .bucketvault/keys/<sha256 of key>      objects whose keys some S3 servers refuse or
                                           rewrite (`a//b`, `/a`, `a/`, `./`, `../`, `\\`,
                                           control characters) and user keys under
                                           `.bucketvault/`: their real key is in the records
    .bucketvault/archive/<etag>-<size>     on stores without versioning: the previous
                                           content of an overwritten or deleted object

Snapshot ids are `YYYYMMDDTHHMMSSZ-<6 hex>`: they sort by the time the backup plan
started, and one plan run gives all its buckets' snapshots the same id.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime

RESERVED = ".bucketvault/"
SNAPSHOTS = RESERVED + "snapshots/"
MAPPED = RESERVED + "keys/"
ARCHIVE = RESERVED + "archive/"
RECORDS_SUFFIX = ".jsonl.gz"
HEADER_SUFFIX = ".json"

_SNAPSHOT_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
_RISKY = re.compile(r"//|\\|[\x00-\x1f\x7f]|(^|/)\.{1,2}(/|$)")


def new_snapshot_id(now: datetime | None = None) -> str:
    when = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{when:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def is_snapshot_id(text: str) -> bool:
    return _SNAPSHOT_ID.match(text) is not None


def needs_mapping(key: str) -> bool:
    """Keys stored under `.bucketvault/keys/` instead of their own name: ones that
    some S3 servers refuse (MinIO: `.`/`..` segments) or silently rewrite (SeaweedFS:
    `a//b`, a leading `/`; file-backed servers: a trailing `/`), and user keys that
    would fall into bucketvault's own folder."""
    return (
        key.startswith(RESERVED)
        or key.startswith("/")
        or key.endswith("/")
        or _RISKY.search(key) is not None
        or not key.isprintable()
    )


def storage_key(key: str) -> str:
    """Where `key`'s bytes live in the backup bucket."""
    if not needs_mapping(key):
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return MAPPED + digest


def archive_key(stored_etag: str, size: int) -> str:
    return f"{ARCHIVE}{stored_etag}-{size}"


def records_key(snapshot_id: str) -> str:
    return SNAPSHOTS + snapshot_id + RECORDS_SUFFIX


def header_key(snapshot_id: str) -> str:
    return SNAPSHOTS + snapshot_id + HEADER_SUFFIX
