"""A user's own metadata named `bucketvault-md5` / `bucketvault-source-etag` (the names of
bucketvault's first backup format) is the user's: `mirror` and backup + restore keep it
exactly, and it is never read as bucketvault's records (a wrong MD5 there refuses
nothing; a matching source ETag there makes no differing object look copied)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bucketvault.loopback import LoopbackServer, loopback_server
from bucketvault.store.model import META_MD5, META_SOURCE_ETAG
from tests.conftest import boto_client, new_bucket_name
from tests.e2e.conftest import Own
from tests.e2e.helpers import alias_env, put, run_cli, snapshot

MiB = 1024 * 1024
WRONG_MD5 = "0" * 32


def put_multipart(
    server: LoopbackServer, bucket: str, key: str, body: bytes, metadata: dict[str, str]
) -> str:
    """Upload in 5 MiB parts (an ETag that is no MD5); its ETag."""
    client = boto_client(server)
    upload = client.create_multipart_upload(Bucket=bucket, Key=key, Metadata=metadata)
    parts = []
    for n, start in enumerate(range(0, len(body), 5 * MiB), start=1):
        answer = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=n,
            Body=body[start : start + 5 * MiB],
        )  # fmt: skip
        parts.append({"ETag": answer["ETag"], "PartNumber": n})
    done = client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    return str(done["ETag"]).strip('"')


def fill(server: LoopbackServer, bucket: str) -> str:
    """Objects whose metadata uses both names; the multipart object's ETag."""
    boto_client(server).create_bucket(Bucket=bucket)
    put(server, bucket, "small.txt", b"small", ContentType="text/plain",
        Metadata={META_MD5: WRONG_MD5, META_SOURCE_ETAG: "mine", "owner": "ann"})  # fmt: skip
    put(server, bucket, "exact.txt", b"exact",
        Metadata={META_MD5: "a2ab5ed1a8c2b8e1e2ad2acc2d5b4b0c", "other": "x"})  # fmt: skip
    return put_multipart(
        server, bucket, "big.bin", os.urandom(11 * MiB),
        {META_MD5: WRONG_MD5, META_SOURCE_ETAG: "x-3", "owner": "bob"},
    )  # fmt: skip


def view(server: LoopbackServer, bucket: str, *, tags: bool = True) -> dict[str, dict[str, Any]]:
    """Bytes, headers, metadata and tags (rclone serve s3 keeps no tags)."""
    return snapshot(server, bucket, tags=tags and server.kind != "rclone")


@pytest.mark.parametrize("target_kind", ["moto", "rclone"])
def test_mirror_keeps_them_and_never_reads_them(
    moto: LoopbackServer, target_kind: str, request: pytest.FixtureRequest, owned: Own
) -> None:
    target: LoopbackServer = request.getfixturevalue(target_kind)
    src, dst = owned(moto, new_bucket_name("bk")), owned(target, new_bucket_name("bk"))
    fill(moto, src)
    env = alias_env(s=moto, t=target)
    first = run_cli("mirror", f"s/{src}", f"t/{dst}", "--json", env=env)
    assert first.exit_code == 0, first.stderr
    assert first.json_lines()[-1]["copied"] == 3
    copied = view(target, dst)
    assert copied == view(moto, src, tags=target.kind != "rclone")
    assert copied["small.txt"]["metadata"][META_MD5] == WRONG_MD5
    assert copied["big.bin"]["metadata"][META_SOURCE_ETAG] == "x-3"
    again = run_cli("mirror", f"s/{src}", f"t/{dst}", "--json", env=env)
    summary = again.json_lines()[-1]
    assert summary["copied"] == 0 and summary["failed"] == 0
    # rclone serve s3 reports the MD5 of a file, not the multipart ETag it was uploaded
    # with: the copy is read and recognised as the same, never taken for a change
    assert summary["conflict_keys"] == [] and summary["skipped"] == 3


def test_a_target_naming_the_source_etag_in_its_metadata_is_not_taken_for_a_copy(
    moto: LoopbackServer, owned: Own
) -> None:
    """Same size, other bytes, other part layout: the target's metadata claims to be a
    copy of the source's ETag, which only bucketvault's own records could say."""
    src, dst = owned(moto, new_bucket_name("bk")), owned(moto, new_bucket_name("bk"))
    client = boto_client(moto)
    client.create_bucket(Bucket=src)
    client.create_bucket(Bucket=dst)
    body = os.urandom(11 * MiB)
    etag = put_multipart(moto, src, "k", body, {"owner": "ann"})
    other = os.urandom(11 * MiB)
    put_multipart(moto, dst, "k", other, {META_SOURCE_ETAG: etag})  # a lookalike
    env = alias_env(m=moto)
    kept = run_cli("mirror", f"m/{src}", f"m/{dst}", "--json", env=env)
    assert kept.json_lines()[-1]["conflicts"] == 1  # differs: kept and reported, not skipped
    replaced = run_cli("mirror", f"m/{src}", f"m/{dst}", "--overwrite", "--json", env=env)
    assert replaced.exit_code == 0, replaced.stderr
    assert replaced.json_lines()[-1]["copied"] == 1
    assert view(moto, dst) == view(moto, src)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    """A live store and a backup store of the test's own (a backup takes every bucket)."""
    with (
        loopback_server("moto", tmp_path / "live") as live,
        loopback_server("rclone", tmp_path / "backup") as backup,
    ):
        yield live, backup


def test_backup_and_restore_keep_them(stores: tuple[LoopbackServer, LoopbackServer]) -> None:
    live, backup = stores
    bucket = new_bucket_name("bk")
    fill(live, bucket)
    original = view(live, bucket)
    added = run_cli(
        "service", "add", "minio", "--endpoint", live.url, "--backup-endpoint", backup.url,
        "--access-key", live.access_key,
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key},
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    creds = ["-p", f"ACCESS_KEY_ID={backup.access_key}",
             "-p", f"SECRET_ACCESS_KEY={backup.secret_key}"]  # fmt: skip
    for _ in range(2):  # the second run finds every copy unchanged
        backed = run_cli("--name=minio", "plan", "start", "backup", *creds)
        assert backed.exit_code == 0, backed.stderr
    # the copies in the backup store carry the user's metadata exactly, nothing added
    stored = snapshot(backup, f"minio-{bucket}", tags=False)
    for key, record in original.items():
        assert stored[key]["metadata"] == record["metadata"]
    restored = run_cli(
        "--name=minio", "plan", "start", "restore", *creds,
        "-p", f"S3_BUCKET=minio-{bucket}", "-p", f"TARGET_BUCKET={bucket}-back",
    )  # fmt: skip
    assert restored.exit_code == 0, restored.stderr
    assert view(live, f"{bucket}-back") == original
    verified = run_cli("--name=minio", "plan", "start", "verify", *creds,
                       "-p", f"S3_BUCKET=minio-{bucket}")  # fmt: skip
    assert verified.exit_code == 0, verified.stderr
