from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime

import pytest

from bucketvault.errors import IntegrityError
from bucketvault.mirror.checksum import MultipartETag, SourceVerifier
from bucketvault.mirror.identity import Identity, compare_recorded, content_md5
from bucketvault.store.model import META_MD5, META_SOURCE_ETAG, ObjectAttributes, ObjectInfo

MiB = 1024 * 1024
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def multipart_etag(data: bytes, part: int) -> str:
    digests = [hashlib.md5(data[i : i + part]).digest() for i in range(0, len(data), part)]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def feed(verifier: SourceVerifier, data: bytes, chunk: int = 777_777) -> None:
    for start in range(0, len(data), chunk):
        verifier.update(data[start : start + chunk])
    verifier.finish()


def test_multipart_etag_matches_reference() -> None:
    data = os.urandom(11 * MiB + 3)
    hasher = MultipartETag(5 * MiB)
    for start in range(0, len(data), 1_000_003):
        hasher.update(data[start : start + 1_000_003])
    assert hasher.hexdigest() == multipart_etag(data, 5 * MiB)


def test_plain_md5_source_verified() -> None:
    data = os.urandom(100_000)
    info = ObjectInfo("k", len(data), hashlib.md5(data).hexdigest(), T0)
    verifier = SourceVerifier(info, ObjectAttributes(), label="k")
    feed(verifier, data)
    assert verifier.content_verified


def test_bit_flip_detected_against_plain_md5() -> None:
    data = bytearray(os.urandom(100_000))
    info = ObjectInfo("k", len(data), hashlib.md5(data).hexdigest(), T0)
    data[5000] ^= 1
    with pytest.raises(IntegrityError, match="corrupt"):
        feed(SourceVerifier(info, ObjectAttributes(), label="k"), bytes(data))


def test_recorded_md5_verifies_multipart_object() -> None:
    data = os.urandom(12 * MiB)
    etag = multipart_etag(data, 7 * MiB)  # an odd part size nobody guesses
    attrs = ObjectAttributes(recorded_md5=hashlib.md5(data).hexdigest())
    verifier = SourceVerifier(ObjectInfo("k", len(data), etag, T0), attrs, label="k")
    feed(verifier, data)
    assert verifier.content_verified


def test_own_multipart_object_corruption_detected() -> None:
    data = bytearray(os.urandom(20 * MiB))
    etag = multipart_etag(bytes(data), 16 * MiB)
    attrs = ObjectAttributes(source_etag="x-2")
    data[MiB] ^= 0x80
    with pytest.raises(IntegrityError):
        feed(SourceVerifier(ObjectInfo("k", len(data), etag, T0), attrs, label="k"), bytes(data))


def test_foreign_multipart_with_unknown_part_size_is_size_checked_only() -> None:
    data = os.urandom(20 * MiB)
    etag = multipart_etag(data, 6 * MiB)  # 4 parts, like 5 MiB parts would give
    verifier = SourceVerifier(ObjectInfo("k", len(data), etag, T0), None, label="k")
    feed(verifier, data)
    assert not verifier.content_verified


def test_short_read_detected() -> None:
    data = os.urandom(1000)
    info = ObjectInfo("k", 2000, hashlib.md5(data).hexdigest(), T0)
    with pytest.raises(IntegrityError, match="read 1000 bytes"):
        feed(SourceVerifier(info, None, label="k"), data)


def test_writer_checked_md5_is_not_hashed_here_but_named() -> None:
    data = bytearray(os.urandom(100_000))
    md5 = hashlib.md5(data).hexdigest()
    data[7] ^= 1  # the writer's Content-MD5 check is what refuses this
    verifier = SourceVerifier(
        ObjectInfo("k", len(data), md5, T0), ObjectAttributes(), label="k", writer_checks_md5=True
    )
    assert verifier.expected_md5 == md5
    feed(verifier, bytes(data))  # only the size is checked here
    assert not verifier.content_verified


def test_writer_checked_md5_refuses_a_recorded_md5_that_contradicts_the_etag() -> None:
    data = os.urandom(1000)
    rotten_etag = hashlib.md5(data[:-1] + b"!").hexdigest()  # a store that re-hashed rot
    attrs = ObjectAttributes(recorded_md5=hashlib.md5(data).hexdigest())
    with pytest.raises(IntegrityError, match="bucketvault recorded"):
        SourceVerifier(
            ObjectInfo("k", len(data), rotten_etag, T0), attrs, label="k", writer_checks_md5=True
        )


def test_writer_checked_md5_still_hashes_an_unknown_multipart_md5() -> None:
    data = bytearray(os.urandom(20 * MiB))
    etag = multipart_etag(bytes(data), 16 * MiB)
    attrs = ObjectAttributes(source_etag="x-2")
    data[MiB] ^= 0x80
    verifier = SourceVerifier(
        ObjectInfo("k", len(data), etag, T0), attrs, label="k", writer_checks_md5=True
    )
    assert verifier.expected_md5 is None
    with pytest.raises(IntegrityError):
        feed(verifier, bytes(data))


def test_user_metadata_named_like_bookkeeping_is_not_read_as_records() -> None:
    """A user's own `bucketvault-md5` / `bucketvault-source-etag` are plain metadata: a
    wrong MD5 there neither refuses the object nor is trusted as its checksum, and a
    multipart ETag no part size reproduces only means the layout is unknown."""
    data = os.urandom(1000)
    md5 = hashlib.md5(data).hexdigest()
    attrs = ObjectAttributes(metadata={META_MD5: "0" * 32, META_SOURCE_ETAG: "x-2"})
    verifier = SourceVerifier(
        ObjectInfo("k", len(data), md5, T0), attrs, label="k", writer_checks_md5=True
    )
    assert verifier.expected_md5 == md5
    feed(verifier, data)

    big = os.urandom(20 * MiB)
    etag = multipart_etag(big, 6 * MiB)  # a layout no common part size reproduces
    verifier = SourceVerifier(ObjectInfo("k", len(big), etag, T0), attrs, label="k")
    feed(verifier, big)  # size-checked only: the user's metadata makes it no "own" object
    assert not verifier.content_verified
    assert content_md5(ObjectInfo("k", len(big), etag, T0), attrs) is None


def test_recorded_identity_ignores_user_metadata_named_like_bookkeeping() -> None:
    source = ObjectInfo("k", 10, "a" * 32 + "-2", T0)
    target = ObjectInfo("k", 10, "b" * 32 + "-2", T0)
    mimic = ObjectAttributes(metadata={META_SOURCE_ETAG: source.etag, META_MD5: "c" * 32})
    assert compare_recorded(source, mimic, target, mimic) is Identity.UNKNOWN
    recorded = ObjectAttributes(source_etag=source.etag)
    assert compare_recorded(source, None, target, recorded) is Identity.SAME
