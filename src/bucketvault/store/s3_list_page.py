"""One ListObjectsV2 answer read into objects, common prefixes and the continuation token.

A no-op mirror of a big bucket spends most of its client CPU reading listing pages:
ElementTree builds ~6,000 elements for a page of 1,000 keys (3-5 ms) to hand back four
fields of each. Answers almost always come in one shape (`<Contents><Key>..
<LastModified>..<ETag>..<Size>..`, the order AWS, MinIO, rclone, moto and SeaweedFS all
write), which one regular expression reads in a sixth of the time. That fast path is
taken only when it provably saw everything: every `Contents` and `CommonPrefixes`
element matched, no field holds an XML escape other than the ETag's `&quot;`, and the
answer has no CDATA, comments or namespace prefixes. Any other answer, or any doubt, is
read by ElementTree, which stays the reference (the tests hold the two to the same
result on generated answers).
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote_plus

from bucketvault.store.model import ObjectInfo, normalize_etag
from bucketvault.store.s3_wire import xml_children


@dataclass(frozen=True, slots=True)
class ListPage:
    """Keys are relative to the bucket (not yet to a listing prefix), decoded."""

    objects: list[ObjectInfo]
    prefixes: list[str]  # common prefixes, when the request named a delimiter
    next_token: str | None  # None on the last page


def decode_key(raw: str) -> str:
    """Keys are asked for URL-encoded; every server encodes `+` as `%2B` and some
    (rclone) a space as `+`, so decoding is `unquote_plus`."""
    if "%" not in raw and "+" not in raw:
        return raw  # most keys: nothing to decode, and a listing decodes thousands
    return unquote_plus(raw, encoding="utf-8", errors="surrogateescape")


_EPOCH = datetime.fromtimestamp(0, UTC)


@functools.lru_cache(maxsize=1024)
def parse_timestamp(value: str) -> datetime | None:
    """S3 sends ISO 8601 in listings and RFC 1123 in headers; both have fast parsers in
    the standard library (botocore's dateutil costs ~0.5 ms a timestamp). None when
    `value` is neither. Remembered: objects written together share their second, and an
    RFC 1123 stamp costs ~5 us to parse (the ISO attempt fails first) against ~0.1 us
    to look up."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_list_page(body: bytes) -> ListPage:
    page = _read_fast(body)
    return page if page is not None else _read_tree(body)


def _object(key: str, size: str, etag: str | None, modified: str | None) -> ObjectInfo:
    return ObjectInfo(
        key=decode_key(key),
        size=int(size or 0),
        etag=normalize_etag(etag),
        last_modified=(parse_timestamp(modified) if modified else None) or _EPOCH,
    )


_KEY = r"\s*<Key>([^<&]*)</Key>"
_MODIFIED = r"\s*<LastModified>([^<&]*)</LastModified>"
_ETAG = r"\s*<ETag>([^<]*)</ETag>"
_CHECKSUMS = r"(?:\s*<Checksum(?:Algorithm|Type)>[^<&]*</Checksum(?:Algorithm|Type)>)*"
_SIZE = r"\s*<Size>([0-9]+)</Size>"
_STORAGE_CLASS = r"\s*<StorageClass>[^<&]*</StorageClass>"
# The orders servers write an object's fields in, each with where its groups put the
# key, LastModified, ETag and Size. ASCII: `\s` is XML's whitespace, nothing more.
_CONTENTS = (
    # AWS, MinIO, rclone serve s3, moto
    (re.compile("<Contents>" + _KEY + _MODIFIED + _ETAG + _CHECKSUMS + _SIZE, re.ASCII), None),
    # SeaweedFS
    (
        re.compile("<Contents>" + _KEY + _ETAG + _SIZE + _STORAGE_CLASS + _MODIFIED, re.ASCII),
        (0, 3, 1, 2),
    ),
)
_PREFIX = re.compile(r"<CommonPrefixes>\s*<Prefix>([^<&]*)</Prefix>\s*</CommonPrefixes>", re.ASCII)
_TRUNCATED = re.compile(r"<IsTruncated>\s*(true|false)\s*</IsTruncated>", re.ASCII)
_TOKEN = re.compile(r"<NextContinuationToken>([^<&]*)</NextContinuationToken>")
_SHAPE = re.compile(r'^(?:<\?xml[^>]*\?>)?\s*<ListBucketResult(?: xmlns="[^"]*")?>', re.ASCII)


def _read_fast(body: bytes) -> ListPage | None:
    try:
        text = body.decode()  # one pass; the fields are then slices of it
    except UnicodeDecodeError:  # not UTF-8: ElementTree says what the answer is
        return None
    # `<!` begins CDATA, a comment or a declaration; a key or value holds it only escaped.
    # A `!` alone is found in microseconds, where `<!` takes a step at every `<`.
    if _SHAPE.match(text) is None or ("!" in text and "<!" in text):
        return None
    columns = _objects(text)
    if columns is None:
        return None
    # The page's other elements stand before or after its objects: only there are they
    # read, and counting their names in the whole page shows none stands elsewhere.
    first, last = text.find("<Contents"), text.rfind("</Contents>")
    outside = text if first < 0 or last < 0 else text[:first] + text[last:]
    prefixes = _PREFIX.findall(outside)
    if len(prefixes) * 2 != text.count("CommonPrefixes"):
        return None
    truncated = _TRUNCATED.findall(outside)
    if len(truncated) != 1 or text.count("IsTruncated") != 2:
        return None
    tokens = _TOKEN.findall(outside)
    if len(tokens) * 2 != text.count("NextContinuationToken"):
        return None
    if truncated[0] == "true" and len(tokens) != 1:
        return None  # a listing cut short is worse than a slow page
    objects = _records(*columns)
    if objects is None:
        return None
    return ListPage(
        objects=objects,
        prefixes=[decode_key(prefix) for prefix in prefixes],
        next_token=tokens[0] if truncated[0] == "true" else None,
    )


Columns = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def _objects(text: str) -> Columns | None:
    """The keys, LastModified, ETags and Sizes of every object on the page, if one of
    the known orders reads them all. Every other spelling of the element (a namespace
    prefix, attributes, a key holding the word) shows up as a count that does not match."""
    count = text.count("Contents")
    if count % 2:
        return None
    for pattern, order in _CONTENTS:
        found = pattern.findall(text)
        if len(found) * 2 == count:
            if not found:
                return (), (), (), ()
            columns = tuple(zip(*found, strict=True))
            if order is None:
                return columns  # type: ignore[return-value]
            key, modified, etag, size = order
            return columns[key], columns[modified], columns[etag], columns[size]
    return None


def _records(
    keys: tuple[str, ...], modified: tuple[str, ...], etags: tuple[str, ...], sizes: tuple[str, ...]
) -> list[ObjectInfo] | None:
    """The page's objects, built a column at a time: a field needs work for each key only
    when some key has it (an escape, a quoted ETag)."""
    all_keys = "".join(keys)
    if "%" in all_keys or "+" in all_keys:
        keys = tuple(decode_key(key) for key in keys)
    all_etags = "".join(etags)
    if "&" in all_etags:  # AWS and MinIO write `&quot;` here
        etags = tuple(e.replace("&quot;", '"').replace("&#34;", '"') for e in etags)
        if any("&" in etag for etag in etags):
            return None
    if '"' in all_etags or "&" in all_etags:
        etags = tuple(normalize_etag(etag) for etag in etags)
    else:
        etags = tuple(map(str.lower, etags))
    # objects written together share their timestamp: each is parsed once
    stamps = {m: (parse_timestamp(m) if m else None) or _EPOCH for m in set(modified)}
    # `tuple.__new__` builds each named tuple in C (half the time of calling the class);
    # the five fields are always there, which is all the class's own `__new__` checks
    return list(
        map(
            tuple.__new__,
            itertools.repeat(ObjectInfo),
            zip(
                keys,
                map(int, sizes),
                etags,
                map(stamps.__getitem__, modified),
                itertools.repeat(None, len(keys)),
                strict=True,
            ),
        )
    )


def _read_tree(body: bytes) -> ListPage:
    root, ns = xml_children(body)
    objects = [
        _object(
            entry.findtext(f"{ns}Key") or "",
            entry.findtext(f"{ns}Size") or "0",
            entry.findtext(f"{ns}ETag"),
            entry.findtext(f"{ns}LastModified"),
        )
        for entry in root.iterfind(f"{ns}Contents")
    ]
    prefixes = [
        decode_key(entry.findtext(f"{ns}Prefix") or "")
        for entry in root.iterfind(f"{ns}CommonPrefixes")
    ]
    token = root.findtext(f"{ns}NextContinuationToken")
    truncated = root.findtext(f"{ns}IsTruncated") == "true"
    return ListPage(objects, prefixes, token if truncated and token else None)
