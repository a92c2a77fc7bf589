"""A bit flipped in one stored backup object.

The backup store is an rclone server (its objects are files on disk, and its directory
cache keeps the ETag it computed when the object was written). After a clean backup, one
bit of one backup object's file is flipped in place. `verify` must report exactly that
key; `restore` must not present it as good: it is reported as corrupt, absent from the
restored bucket, and everything else is restored intact.
"""

from __future__ import annotations

import os

import pytest

from bucketvault.loopback import LoopbackServer
from tests.reliability.conftest import RowFactory
from tests.reliability.support import (
    add_service,
    compare,
    corpus,
    creds,
    plan,
    plan_status,
    seed,
    snapshot,
)

OBJECTS = corpus(30, large=1, seed=31)


def flip_bit(path: os.PathLike[str], offset: int) -> None:
    stat = os.stat(path)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([byte ^ 0x10]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime


@pytest.mark.parametrize("victim", [7, 30], ids=["small-object", "multipart-object"])
def test_bit_flip_in_a_backup_object(
    victim: int, rclone_pair: tuple[LoopbackServer, LoopbackServer], table: RowFactory
) -> None:
    live, backup = rclone_pair
    obj = OBJECTS[victim]
    row = table(
        "a bit flipped in one stored backup object",
        f"verify + restore ({'small' if obj.size < 2**20 else 'multipart-sized'} object)",
        done=(
            f"backup of {len(OBJECTS)} objects; one bit of the backup file of {obj.key!r} "
            f"({obj.size:,} bytes) flipped on disk; verify; restore into a new bucket"
        ),
        expected=str(len(OBJECTS) - 1),
    )
    seed(live, "photos", OBJECTS)
    add_service("minio", live.url, backup.url, live)
    assert plan("minio", "start", "backup", *creds(backup)).exit_code == 0
    flip_bit(backup.root / "minio-photos" / obj.key, obj.size // 2)

    verified = plan("minio", "start", "verify", *creds(backup))
    errors = plan_status("minio", "verify")["errors"]
    row.note(f"verify: exit {verified.exit_code}, errors {errors}")
    assert verified.exit_code != 0
    # rclone re-hashes the file for its listing, so verify sees a backup that no longer
    # matches the live object ("differs"); a stale ETag would make it "corrupt"
    assert len(errors) == 1 and errors[0].endswith(obj.key), errors
    assert "corrupt" in errors[0] or "differs" in errors[0], errors

    restored = plan(
        "minio", "start", "restore", *creds(backup),
        "-p", "S3_BUCKET=minio-photos", "-p", "TARGET_BUCKET=photos-restored",
    )  # fmt: skip
    status = plan_status("minio", "restore")
    row.note(f"restore: exit {restored.exit_code}, {restored.stderr.strip()[:200]}")
    assert restored.exit_code != 0
    assert any(obj.key in e and "corrupt" in e for e in status["errors"]), status["errors"]
    original = snapshot(live, "photos")
    got = snapshot(live, "photos-restored")
    comparison = compare({k: v for k, v in original.items() if k != obj.key}, got)
    row.intact = str(comparison.intact)
    assert obj.key not in got, "the corrupt object was restored as good"
    assert comparison.identical, comparison
