"""Is the target's object the same content as the source's? Decided without trusting
size and mtime alone: a same-size edit must be seen.

Plain-MD5 ETags compare directly. Multipart ETags depend on part sizes, so when a copy
cannot be judged from the listings, bucketvault reads what it recorded at copy time (the
source ETag and the content MD5: `ObjectAttributes.source_etag` and `recorded_md5`, which
only its own backup format carries) from a HEAD. A user's metadata is never read here.
"""

from __future__ import annotations

from enum import Enum

from bucketvault.store.model import ObjectAttributes, ObjectInfo, is_plain_md5


class Identity(Enum):
    SAME = "same"
    DIFFERENT = "different"
    UNKNOWN = "unknown"


def compare_listed(source: ObjectInfo, target: ObjectInfo) -> Identity:
    if source.size != target.size:
        return Identity.DIFFERENT
    if source.etag == target.etag:
        return Identity.SAME
    if is_plain_md5(source.etag) and is_plain_md5(target.etag):
        return Identity.DIFFERENT
    return Identity.UNKNOWN


def content_md5(info: ObjectInfo, attributes: ObjectAttributes | None) -> str | None:
    """The MD5 of an object's content, when it is known without reading it."""
    if is_plain_md5(info.etag):
        return info.etag
    if attributes is not None:
        recorded = attributes.recorded_md5
        if recorded and is_plain_md5(recorded):
            return recorded
    return None


def compare_recorded(
    source: ObjectInfo,
    source_attributes: ObjectAttributes | None,
    target: ObjectInfo,
    target_attributes: ObjectAttributes,
) -> Identity:
    """Judge with what bucketvault recorded of the copy (from a HEAD)."""
    if source.size != target.size:
        return Identity.DIFFERENT
    if target_attributes.source_etag == source.etag:
        return Identity.SAME
    source_md5 = content_md5(source, source_attributes)
    target_md5 = content_md5(target, target_attributes)
    if source_md5 is not None and target_md5 is not None:
        return Identity.SAME if source_md5 == target_md5 else Identity.DIFFERENT
    return Identity.UNKNOWN
