"""`bucketvault mirror` end to end, against real loopback S3 servers."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from bucketvault.errors import ExitCode
from bucketvault.loopback import LoopbackServer
from bucketvault.units import parse_rate
from tests.conftest import boto_client, new_bucket_name
from tests.e2e.helpers import alias_env, put, run_cli, snapshot

# Keys every S3 server keeps exactly; rclone serve s3 stores files, so keys with empty
# or dot segments or a trailing '/' are only in the moto corpus.
PORTABLE_KEYS = [
    "plain.txt",
    "with space/and+plus",
    "percent%20literal",
    "percent%2Fslash",
    "question?mark",
    "hash#tag",
    "caf\u00e9-nfc",
    "cafe\u0301-nfd",
    "emoji-\U0001f600",
    "deep/nested/path/file.bin",
    ("d" * 200 + "/") * 4 + "k" * 220,  # 1,024 bytes, in segments a filesystem can hold
    "empty-object",
]
MOTO_ONLY_KEYS = ["a//b", "/leading", "trailing/", "./dot", "a/../b", "tab\tkey", "k" * 1024]


def fill(server: LoopbackServer, bucket: str, keys: list[str]) -> None:
    boto_client(server).create_bucket(Bucket=bucket)
    for key in keys:
        body = b"" if key == "empty-object" else key.encode() * 3
        put(
            server,
            bucket,
            key,
            body,
            ContentType="text/x-test",
            CacheControl="max-age=60",
            ContentDisposition='attachment; filename="x.txt"',
            ContentLanguage="en",
            ContentEncoding="identity",
            Metadata={"owner": "ann", "reason": "test"},
        )


def test_moto_to_moto_is_exact_including_tags_and_odd_keys(moto: LoopbackServer) -> None:
    src, dst = new_bucket_name(), new_bucket_name()
    fill(moto, src, PORTABLE_KEYS + MOTO_ONLY_KEYS)
    client = boto_client(moto)
    client.put_object_tagging(
        Bucket=src, Key="plain.txt", Tagging={"TagSet": [{"Key": "tier", "Value": "gold"}]}
    )
    env = alias_env(a=moto)
    result = run_cli("mirror", f"a/{src}", f"a/{dst}", env=env)
    assert result.exit_code == 0, result.stderr
    assert snapshot(moto, dst, tags=True) == snapshot(moto, src, tags=True)

    again = run_cli("mirror", f"a/{src}", f"a/{dst}", "--json", env=env)
    summary = again.json_lines()[-1]
    assert summary["type"] == "summary"
    assert (summary["copied"], summary["skipped"], summary["transferred_bytes"]) == (
        0,
        len(PORTABLE_KEYS + MOTO_ONLY_KEYS),
        0,
    )


def test_moto_to_rclone_across_endpoints(moto: LoopbackServer, rclone: LoopbackServer) -> None:
    src, dst = new_bucket_name(), new_bucket_name()
    fill(moto, src, PORTABLE_KEYS)
    result = run_cli("mirror", f"m/{src}", f"r/{dst}", env=alias_env(m=moto, r=rclone))
    assert result.exit_code == 0, result.stderr
    got, want = snapshot(rclone, dst, tags=False), snapshot(moto, src, tags=False)
    assert set(got) == set(want)
    for key in want:
        assert got[key]["md5"] == want[key]["md5"], key
        assert got[key]["metadata"] == want[key]["metadata"], key
        assert got[key]["content_type"] == want[key]["content_type"], key


def test_same_size_change_is_kept_and_reported_then_overwritten(s3: LoopbackServer) -> None:
    src, dst = new_bucket_name(), new_bucket_name()
    boto_client(s3).create_bucket(Bucket=src)
    put(s3, src, "doc.txt", b"version-1")
    env = alias_env(s=s3)
    assert run_cli("mirror", f"s/{src}", f"s/{dst}", env=env).exit_code == 0
    put(s3, src, "doc.txt", b"version-2")
    kept = run_cli("mirror", f"s/{src}", f"s/{dst}", env=env)
    assert kept.exit_code == ExitCode.CONFLICT  # kept, not replaced: not plain success
    assert "doc.txt" in kept.stderr and "--overwrite" in kept.stderr
    assert (
        snapshot(s3, dst, tags=False)["doc.txt"]["md5"]
        != snapshot(s3, src, tags=False)["doc.txt"]["md5"]
    )
    replaced = run_cli("mirror", f"s/{src}", f"s/{dst}", "--overwrite", env=env)
    assert replaced.exit_code == 0
    assert snapshot(s3, dst, tags=False) == snapshot(s3, src, tags=False)


def test_remove_and_dry_run(s3: LoopbackServer) -> None:
    src, dst = new_bucket_name(), new_bucket_name()
    client = boto_client(s3)
    client.create_bucket(Bucket=src)
    client.create_bucket(Bucket=dst)
    put(s3, src, "keep", b"1")
    put(s3, dst, "stale", b"2")
    env = alias_env(s=s3)
    dry = run_cli("mirror", f"s/{src}", f"s/{dst}", "--remove", "--dry-run", env=env)
    assert dry.exit_code == 0
    assert dry.stdout.splitlines() == ["copy\tkeep", "delete\tstale"]
    assert set(snapshot(s3, dst, tags=False)) == {"stale"}
    real = run_cli("mirror", f"s/{src}", f"s/{dst}", "--remove", env=env)
    assert real.exit_code == 0
    assert set(snapshot(s3, dst, tags=False)) == {"keep"}


def test_large_object_multipart_round_trip(s3: LoopbackServer) -> None:
    src, dst = new_bucket_name(), new_bucket_name()
    boto_client(s3).create_bucket(Bucket=src)
    put(s3, src, "big.bin", os.urandom(40 * 1024 * 1024 + 17), ContentType="application/x-big")
    env = alias_env(s=s3)
    result = run_cli("mirror", f"s/{src}", f"s/{dst}", env=env)
    assert result.exit_code == 0, result.stderr
    got, want = snapshot(s3, dst, tags=False), snapshot(s3, src, tags=False)
    assert got["big.bin"]["md5"] == want["big.bin"]["md5"]
    assert got["big.bin"]["content_type"] == "application/x-big"
    rerun = run_cli("mirror", f"s/{src}", f"s/{dst}", "--json", env=env)
    assert rerun.json_lines()[-1]["copied"] == 0


@pytest.mark.parametrize("part_mib", [16, 8, 5], ids=["mc-16MiB", "aws-8MiB", "rclone-5MiB"])
def test_multipart_source_is_copied_exactly(moto: LoopbackServer, part_mib: int) -> None:
    """A multipart source is uploaded in its own part layout: the copy's ETag is the
    source's, its metadata exactly the source's (a user's own `bucketvault-…` included,
    nothing of bucketvault's added), and the next run sees it unchanged by listing."""
    src, dst = new_bucket_name(), new_bucket_name()
    client = boto_client(moto)
    client.create_bucket(Bucket=src)
    part = part_mib * 1024 * 1024
    body = os.urandom(2 * part + 12345)
    upload = client.create_multipart_upload(
        Bucket=src, Key="big.bin", Metadata={"owner": "ann", "bucketvault-note": "mine"}
    )
    parts = []
    for number, start in enumerate(range(0, len(body), part), start=1):
        answer = client.upload_part(
            Bucket=src,
            Key="big.bin",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body[start : start + part],
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    client.complete_multipart_upload(
        Bucket=src, Key="big.bin", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    env = alias_env(m=moto)
    result = run_cli("mirror", f"m/{src}", f"m/{dst}", env=env)
    assert result.exit_code == 0, result.stderr
    source_head = client.head_object(Bucket=src, Key="big.bin")
    copy_head = client.head_object(Bucket=dst, Key="big.bin")
    assert source_head["ETag"].endswith('-3"')
    assert copy_head["ETag"] == source_head["ETag"]
    assert copy_head["Metadata"] == {"owner": "ann", "bucketvault-note": "mine"}
    assert snapshot(moto, dst, tags=False) == snapshot(moto, src, tags=False)
    rerun = run_cli("mirror", f"m/{src}", f"m/{dst}", "--json", env=env)
    assert rerun.exit_code == 0, rerun.stderr
    assert rerun.json_lines()[-1]["copied"] == 0


def test_missing_source_bucket_is_one_clear_error_and_changes_nothing(
    s3: LoopbackServer,
) -> None:
    dst = new_bucket_name()
    result = run_cli("mirror", f"s/nope-{uuid.uuid4().hex[:8]}", f"s/{dst}", env=alias_env(s=s3))
    assert result.exit_code == ExitCode.NOT_FOUND
    assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr
    names = [b["Name"] for b in boto_client(s3).list_buckets()["Buckets"]]
    assert dst not in names


def test_local_directory_round_trip(moto: LoopbackServer, tmp_path: Path) -> None:
    src, back = new_bucket_name(), new_bucket_name()
    fill(moto, src, [*PORTABLE_KEYS, "../escape", "a//b"])
    env = alias_env(m=moto)
    out = run_cli("mirror", f"m/{src}", f"file://{tmp_path}/copy", env=env)
    assert out.exit_code == ExitCode.PARTIAL
    assert "../escape" in out.stderr and "a//b" in out.stderr
    assert not (tmp_path / "escape").exists()
    back_in = run_cli("mirror", f"file://{tmp_path}/copy", f"m/{back}", env=env)
    assert back_in.exit_code == 0, back_in.stderr
    want = {k: v for k, v in snapshot(moto, src, tags=False).items() if k in PORTABLE_KEYS}
    assert snapshot(moto, back, tags=False) == want


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["nosuchalias/b", "x/y"], "no alias", id="unknown-alias"),
        pytest.param(["ftp://host/b", "file:///tmp/x"], "unknown scheme", id="bad-scheme"),
        pytest.param(["s/b", "s/b"], "overlap", id="overlap"),
        pytest.param(["s/b", "s/c", "--newer-than", "yesterday"], "not an age", id="bad-age"),
        pytest.param(["s/b", "s/c", "--bwlimit", "fast"], "not a rate", id="bad-bwlimit"),
        pytest.param(["s/b", "s/c", "--bwlimit", "10"], "below 1 KiB/s", id="tiny-bwlimit"),
    ],
)
def test_bad_input(s3: LoopbackServer, args: list[str], message: str) -> None:
    result = run_cli("mirror", *args, env=alias_env(s=s3))
    assert result.exit_code != 0
    assert message in result.stderr


def test_bwlimit_holds_the_rate(moto: LoopbackServer) -> None:
    """4 MiB at --bwlimit 1M takes at least 3 s (one second's allowance is saved up at
    the start); the same copy unlimited is far quicker; the copy is exact either way."""
    src = new_bucket_name()
    boto_client(moto).create_bucket(Bucket=src)
    for n in range(4):
        put(moto, src, f"part-{n}.bin", os.urandom(1024 * 1024))
    env = alias_env(m=moto)
    started = time.monotonic()
    limited = run_cli("mirror", f"m/{src}", f"m/{new_bucket_name()}", "--bwlimit", "1M", env=env)
    took = time.monotonic() - started
    assert limited.exit_code == 0, limited.stderr
    assert 3.0 <= took < 30, took
    started = time.monotonic()
    unlimited = run_cli("mirror", f"m/{src}", f"m/{new_bucket_name()}", env=env)
    assert unlimited.exit_code == 0, unlimited.stderr
    assert time.monotonic() - started < took


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10M", 10 * 1024**2),
        ("512K", 512 * 1024),
        ("1.5G", 3 * 1024**3 // 2),
        ("4096", 4096),
        ("10MiB/s", 10 * 1024**2),
        ("2m", 2 * 1024**2),
    ],
)
def test_parse_rate(text: str, rate: int) -> None:
    assert parse_rate(text) == rate


def test_moto_to_seaweed_and_back(moto: LoopbackServer, seaweed: LoopbackServer) -> None:
    """SeaweedFS as target and as source: every portable key exact, and keys SeaweedFS
    would store under another name (`a//b`, `/leading`) reported as not representable,
    with nothing left behind under a wrong name."""
    src, mid, back = new_bucket_name(), new_bucket_name(), new_bucket_name()
    fill(moto, src, [*PORTABLE_KEYS, "a//b", "/leading"])
    env = alias_env(m=moto, w=seaweed)
    there = run_cli("mirror", f"m/{src}", f"w/{mid}", env=env)
    assert there.exit_code == 7, there.stderr  # the two keys SeaweedFS cannot hold
    assert "a//b" in there.stderr and "/leading" in there.stderr
    got = snapshot(seaweed, mid, tags=False)
    want = snapshot(moto, src, tags=False)
    assert set(got) == set(PORTABLE_KEYS), set(got) ^ set(PORTABLE_KEYS)
    for key in PORTABLE_KEYS:
        assert got[key] == want[key], key
    boto_client(moto).create_bucket(Bucket=back)
    home = run_cli("mirror", f"w/{mid}", f"m/{back}", env=env)
    assert home.exit_code == 0, home.stderr
    assert snapshot(moto, back, tags=False) == got


def test_multipart_copy_on_a_store_that_rewrites_its_etag_is_recognised(
    moto: LoopbackServer, rclone: LoopbackServer
) -> None:
    """rclone serve s3 answers a multipart upload with the content's MD5, so the copy's
    ETag is not the source's: the next run reads the copy and finds it the same (no false
    conflict); a same-size change at the target is still found."""
    src, dst = new_bucket_name(), new_bucket_name()
    client = boto_client(moto)
    client.create_bucket(Bucket=src)
    part = 5 * 1024 * 1024
    body = os.urandom(2 * part + 999)
    upload = client.create_multipart_upload(Bucket=src, Key="big.bin")
    parts = []
    for number, start in enumerate(range(0, len(body), part), start=1):
        answer = client.upload_part(
            Bucket=src, Key="big.bin", UploadId=upload["UploadId"], PartNumber=number,
            Body=body[start : start + part],
        )  # fmt: skip
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    client.complete_multipart_upload(
        Bucket=src, Key="big.bin", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    env = alias_env(m=moto, r=rclone)
    first = run_cli("mirror", f"m/{src}", f"r/{dst}", env=env)
    assert first.exit_code == 0, first.stderr
    copy_etag = boto_client(rclone).head_object(Bucket=dst, Key="big.bin")["ETag"]
    assert "-" not in copy_etag  # the store rewrote it: the case this test is about
    again = run_cli("mirror", f"m/{src}", f"r/{dst}", "--json", env=env)
    assert again.exit_code == 0, again.stderr
    summary = again.json_lines()[-1]
    assert (summary["skipped"], summary["copied"], summary["conflicts"]) == (1, 0, 0)
    changed = bytearray(body)
    changed[-1] ^= 1
    put(rclone, dst, "big.bin", bytes(changed))
    found = run_cli("mirror", f"m/{src}", f"r/{dst}", "--json", env=env)
    assert found.exit_code == ExitCode.CONFLICT, found.stderr
    assert found.json_lines()[-1]["conflicts"] == 1
