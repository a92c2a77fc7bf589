"""History end to end through the CLI, on real servers: back up, damage the live bucket,
back up again, and restore the first backup — by time, by id, in part, and from a
machine that knows nothing but the service's stores."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bucketvault.loopback import LoopbackServer, loopback_server
from tests.conftest import boto_client
from tests.e2e.helpers import Result, put, run_cli, snapshot

ODD_KEYS = ("a//b", "/leading", "trailing/", ".bucketvault/mine", "./dot", "résumé.txt")


def creds(backup: LoopbackServer) -> list[str]:
    return [
        "-p",
        f"ACCESS_KEY_ID={backup.access_key}",
        "-p",
        f"SECRET_ACCESS_KEY={backup.secret_key}",
    ]


def plan(*args: str) -> Result:
    return run_cli("--name=minio", "plan", *args)


def add_service(live: LoopbackServer, backup: LoopbackServer, *extra: str) -> None:
    result = run_cli(
        "service", "add", "minio", "--endpoint", live.url, "--backup-endpoint", backup.url,
        "--access-key", live.access_key, *extra,
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr


def fill(live: LoopbackServer, bucket: str, *, odd: bool) -> None:
    boto_client(live).create_bucket(Bucket=bucket)
    for i in range(12):
        put(
            live, bucket, f"docs/{i:02d}.txt", os.urandom(200 + i),
            ContentType="text/plain", Metadata={"owner": f"u{i}"}, Tagging=f"n={i}",
        )  # fmt: skip
    put(live, bucket, "photos/big.bin", os.urandom(6 * 1024 * 1024), CacheControl="max-age=9")
    for key in ODD_KEYS if odd else ():
        put(live, bucket, key, key.encode(), ContentLanguage="fr")


def damage(live: LoopbackServer, bucket: str) -> None:
    client = boto_client(live)
    for i in range(0, 12, 3):  # ransomware: same keys, other bytes, same size
        put(live, bucket, f"docs/{i:02d}.txt", os.urandom(200 + i), ContentType="text/plain")
    for i in (1, 2):
        client.delete_object(Bucket=bucket, Key=f"docs/{i:02d}.txt")
    client.delete_object(Bucket=bucket, Key="photos/big.bin")
    put(live, bucket, "docs/new.txt", b"new")


def view(server: LoopbackServer, bucket: str) -> dict[str, dict[str, Any]]:
    """Every object's bytes, headers, metadata and (where the server keeps them) tags."""
    return snapshot(server, bucket, tags=server.kind != "rclone")


@pytest.fixture(scope="module")
def backup_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    with loopback_server("moto", tmp_path_factory.mktemp("backup-moto")) as server:
        yield server


@pytest.fixture(scope="module")
def backup_rclone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    with loopback_server("rclone", tmp_path_factory.mktemp("backup-rclone")) as server:
        yield server


@pytest.fixture(scope="module")
def backup_seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    with loopback_server("seaweed", tmp_path_factory.mktemp("backup-seaweed")) as server:
        yield server


@pytest.fixture
def live_seaweed(tmp_path: Path) -> Iterator[LoopbackServer]:
    with loopback_server("seaweed", tmp_path / "live") as server:
        yield server


@pytest.fixture
def live_rclone(tmp_path: Path) -> Iterator[LoopbackServer]:
    with loopback_server("rclone", tmp_path / "live") as server:
        yield server


@pytest.fixture
def live_moto(tmp_path: Path) -> Iterator[LoopbackServer]:
    """A live store of the test's own: a backup plan backs up every bucket it holds."""
    with loopback_server("moto", tmp_path / "live") as server:
        yield server


@pytest.fixture
def pair(request: pytest.FixtureRequest) -> tuple[LoopbackServer, LoopbackServer]:
    live_kind, backup_kind = request.param
    live: LoopbackServer = request.getfixturevalue(f"live_{live_kind}")
    backup: LoopbackServer = request.getfixturevalue(f"backup_{backup_kind}")
    return live, backup


PAIRS = {
    "moto to moto (versioned backup bucket)": ("moto", "moto"),
    "moto to rclone (no versioning: archived copies)": ("moto", "rclone"),
    "moto to seaweed (odd keys the backup store rewrites)": ("moto", "seaweed"),
    "seaweed to seaweed": ("seaweed", "seaweed"),
    "rclone to moto": ("rclone", "moto"),
}


@pytest.mark.parametrize("pair", list(PAIRS.values()), ids=list(PAIRS), indirect=True)
def test_point_in_time_restore(
    pair: tuple[LoopbackServer, LoopbackServer], bucketvault_home: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    live, backup = pair
    bucket = "data-" + os.urandom(4).hex()
    backup_bucket = f"minio-{bucket}"
    add_service(live, backup)
    # keys with path oddities can only be seeded on a live store that keeps them (moto)
    fill(live, bucket, odd=live.kind == "moto")
    original = view(live, bucket)

    first = plan("start", "backup", *creds(backup))
    assert first.exit_code == 0, first.stderr
    between = datetime.now(UTC)
    time.sleep(1.1)
    damage(live, bucket)
    damaged = view(live, bucket)
    second = plan("start", "backup", *creds(backup))
    assert second.exit_code == 0, second.stderr

    listed = run_cli("--name=minio", "snapshot", "list", backup_bucket, *creds(backup), "--json")
    assert listed.exit_code == 0, listed.stderr
    snaps = listed.json_lines()
    assert [s["bucket"] for s in snaps] == [bucket, bucket]
    assert snaps[1]["changed"] == 4 and snaps[1]["deleted"] == 3 and snaps[1]["added"] == 1
    first_id = snaps[0]["id"]

    # the latest copy stays browsable under its own key
    latest = snapshot(backup, backup_bucket, tags=False)
    assert "docs/new.txt" in latest and "docs/01.txt" not in latest

    def restore(target: str, *extra: str) -> dict[str, dict[str, Any]]:
        args = ("-p", f"S3_BUCKET={backup_bucket}", "-p", f"TARGET_BUCKET={target}", *extra)
        result = plan("start", "restore", *creds(backup), *args)
        assert result.exit_code == 0, result.stderr
        return view(live, target)

    at = between.isoformat().replace("+00:00", "Z")
    assert restore(f"{bucket}-at", "-p", f"AT={at}") == original
    assert restore(f"{bucket}-id", "-p", f"SNAPSHOT={first_id}") == original
    part = restore(f"{bucket}-part", "-p", f"SNAPSHOT={first_id[:17]}", "-p", "PREFIX=docs/")
    assert part == {k: v for k, v in original.items() if k.startswith("docs/")}
    assert restore(f"{bucket}-now") == damaged

    diff = run_cli("--name=minio", "snapshot", "diff", first_id, snaps[1]["id"],
                   "--bucket", backup_bucket, *creds(backup))  # fmt: skip
    assert diff.exit_code == 0, diff.stderr
    assert "- docs/01.txt" in diff.stdout and "+ docs/new.txt" in diff.stdout
    assert "M docs/00.txt" in diff.stdout

    # verify compares the live bucket with the latest snapshot, reading every copy back
    verified = plan("start", "verify", *creds(backup), "-p", f"S3_BUCKET={backup_bucket}")
    assert verified.exit_code == 0, verified.stderr

    # the bucket back as of the first backup, over the damaged live data
    back = plan("start", "restore", *creds(backup), "-p", f"S3_BUCKET={backup_bucket}",
                "-p", f"SNAPSHOT={first_id}", "-p", "OVERWRITE=true")  # fmt: skip
    assert back.exit_code == 0, back.stderr
    now = view(live, bucket)
    assert {k: v for k, v in now.items() if k != "docs/new.txt"} == original
    assert "docs/new.txt" in now  # a restore never deletes

    # a new machine: an empty home, the same service, and every snapshot is there
    monkeypatch.setenv("BUCKETVAULT_HOME", str(tmp_path / "new-machine"))
    add_service(live, backup)
    assert restore(f"{bucket}-dr", "-p", f"SNAPSHOT={first_id}") == original


def all_versions(server: LoopbackServer, bucket: str) -> list[tuple[str, str, bool]]:
    found = []
    pages = boto_client(server).get_paginator("list_object_versions").paginate(Bucket=bucket)
    for page in pages:
        for v in page.get("Versions", []):
            found.append((v["Key"], v["VersionId"], v["IsLatest"]))
    return found


@pytest.mark.parametrize("pair", list(PAIRS.values()), ids=list(PAIRS), indirect=True)
def test_prune_keeps_exactly_what_kept_snapshots_name(
    pair: tuple[LoopbackServer, LoopbackServer], bucketvault_home: Path
) -> None:
    live, backup = pair
    bucket = "prune-" + os.urandom(4).hex()
    backup_bucket = f"minio-{bucket}"
    add_service(live, backup, "--keep-last", "1")
    fill(live, bucket, odd=False)
    assert plan("start", "backup", *creds(backup)).exit_code == 0
    damage(live, bucket)
    damaged = view(live, bucket)
    dry = plan("start", "prune", *creds(backup), "-p", "DRY_RUN=true")
    assert dry.exit_code == 0, dry.stderr
    assert "would forget 0" in plan("status", "prune", "--json").stdout
    second = plan("start", "backup", *creds(backup))  # its prune phase forgets the first
    assert second.exit_code == 0, second.stderr
    status = plan("status", "backup", "--json").stdout
    assert "forgot 1" in status, status

    listed = run_cli("--name=minio", "snapshot", "list", bucket, *creds(backup), "--json")
    assert len(listed.json_lines()) == 1
    keys = set(snapshot(backup, backup_bucket, tags=False))
    assert not [k for k in keys if k.startswith(".bucketvault/archive/")]
    if backup.kind == "moto":
        stale = [v for v in all_versions(backup, backup_bucket) if not v[2]]
        assert stale == [], stale
    restored = plan(
        "start", "restore", *creds(backup), "-p", f"S3_BUCKET={backup_bucket}",
        "-p", f"TARGET_BUCKET={bucket}-after-prune",
    )  # fmt: skip
    assert restored.exit_code == 0, restored.stderr
    assert view(live, f"{bucket}-after-prune") == damaged


def test_object_lock_refused_where_the_store_has_none(
    live_moto: LoopbackServer, backup_rclone: LoopbackServer
) -> None:
    moto, rclone = live_moto, backup_rclone
    env = {
        "BUCKETVAULT_SECRET_ACCESS_KEY": moto.secret_key,
        "BUCKETVAULT_BACKUP_ACCESS_KEY_ID": rclone.access_key,
        "BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY": rclone.secret_key,
    }
    args = ("service", "add", "locked", "--endpoint", moto.url, "--backup-endpoint", rclone.url)
    lock = ("--access-key", moto.access_key, "--object-lock", "governance")
    refused = run_cli(*args, *lock, env=env)
    assert refused.exit_code != 0
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "lock" in refused.stderr.lower(), refused.stderr
    assert run_cli("service", "show", "locked").exit_code != 0  # nothing was saved


@pytest.mark.parametrize(
    "pair", [("moto", "moto"), ("moto", "seaweed")], ids=["moto", "seaweed"], indirect=True
)
def test_object_locked_backups_survive_prune(
    pair: tuple[LoopbackServer, LoopbackServer], bucketvault_home: Path
) -> None:
    live, backup = pair
    bucket = "locked-" + os.urandom(4).hex()
    env = {
        "BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key,
        "BUCKETVAULT_BACKUP_ACCESS_KEY_ID": backup.access_key,
        "BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY": backup.secret_key,
    }
    added = run_cli(
        "service", "add", "minio", "--endpoint", live.url, "--backup-endpoint", backup.url,
        "--access-key", live.access_key, "--object-lock", "governance", "--lock-days", "1",
        "--keep-last", "1", env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    fill(live, bucket, odd=False)
    original = snapshot(live, bucket, tags=True)
    assert plan("start", "backup", *creds(backup)).exit_code == 0
    first_id = run_cli("--name=minio", "snapshot", "list", bucket, *creds(backup), "--json")
    damage(live, bucket)
    second = plan("start", "backup", *creds(backup))
    assert second.exit_code == 0, second.stderr
    assert "retained by Object Lock" in plan("status", "backup", "--json").stdout
    # the forgotten snapshot's header is gone, but every byte it named is still locked
    versions = all_versions(backup, f"minio-{bucket}")
    assert len([v for v in versions if not v[2]]) >= 4
    assert first_id.json_lines()
    assert original


def test_one_bucket_failing_does_not_stop_the_others(
    live_moto: LoopbackServer, backup_rclone: LoopbackServer, bucketvault_home: Path
) -> None:
    live, backup = live_moto, backup_rclone
    # more buckets than steps run at once: later ones start after earlier ones failed
    names = [f"{n}-" + os.urandom(3).hex() for n in ("first", "second", "third")]
    add_service(live, backup)
    for name in names:
        fill(live, name, odd=False)
    assert plan("start", "backup", *creds(backup)).exit_code == 0
    for name in names:  # both buckets drift from their backups
        put(live, name, "docs/03.txt", b"changed since the backup")
    verified = plan("start", "verify", *creds(backup))
    assert verified.exit_code != 0
    status = plan("status", "verify")
    assert status.exit_code != 0
    for name in names:  # every bucket was checked and reported
        assert f"verify-{name} (ERROR)" in status.stdout, status.stdout
        assert f"verify-{name}: differs: docs/03.txt" in status.stdout, status.stdout


def test_a_bucket_whose_backup_name_is_too_long_does_not_block_the_others(
    live_moto: LoopbackServer, backup_rclone: LoopbackServer, bucketvault_home: Path
) -> None:
    live, backup = live_moto, backup_rclone
    add_service(live, backup)
    short, long = "short-" + os.urandom(3).hex(), "l" * 60
    for name in (short, long):
        boto_client(live).create_bucket(Bucket=name)
        put(live, name, "k", b"v")
    result = plan("start", "backup", *creds(backup))
    assert result.exit_code != 0
    # what each step did (the other bucket was backed up), then the one failure line
    *results, error = result.stderr.strip().splitlines()
    assert error.startswith("Error: ") and all(r.startswith("- ") for r in results), result.stderr
    assert f"bucket '{long}' is not backed up" in result.stderr, result.stderr
    status = plan("status", "backup").stdout
    assert f"backup-{short} (COMPLETE)" in status and f"backup-{long} (ERROR)" in status
    assert "k" in snapshot(backup, f"minio-{short}", tags=False)


def test_backup_secret_from_a_file_or_the_environment(
    live_moto: LoopbackServer,
    backup_rclone: LoopbackServer,
    bucketvault_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    live, backup = live_moto, backup_rclone
    add_service(live, backup)
    bucket = "secrets-" + os.urandom(3).hex()
    fill(live, bucket, odd=False)
    key = f"ACCESS_KEY_ID={backup.access_key}"
    secret_file = tmp_path / "backup.secret"
    secret_file.write_text(backup.secret_key + "\n")
    from_file = plan("start", "backup", "-p", key, "--secret-file", str(secret_file))
    assert from_file.exit_code == 0, from_file.stderr
    both = plan("start", "backup", *creds(backup), "--secret-file", str(secret_file))
    assert both.exit_code == 2 and "given twice" in both.stderr
    monkeypatch.setenv("BUCKETVAULT_BACKUP_ACCESS_KEY_ID", backup.access_key)
    monkeypatch.setenv("BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY", backup.secret_key)
    from_env = plan("start", "backup")
    assert from_env.exit_code == 0, from_env.stderr
    listed = run_cli("--name=minio", "snapshot", "list", bucket, "--json")
    assert len(listed.json_lines()) == 2
    for result in (from_file, both, from_env, listed):
        assert backup.secret_key not in result.stdout + result.stderr


def test_service_remove_removes_the_secrets_of_failed_plans(
    live_moto: LoopbackServer, backup_rclone: LoopbackServer, bucketvault_home: Path
) -> None:
    live, backup = live_moto, backup_rclone
    add_service(live, backup)
    boto_client(live).create_bucket(Bucket="l" * 60)  # its backup fails: the plan ends in ERROR
    assert plan("start", "backup", *creds(backup)).exit_code != 0
    kept = list((bucketvault_home / "secrets").glob("*.json"))
    assert kept and backup.secret_key in kept[0].read_text()
    removed = run_cli("service", "remove", "minio")
    assert removed.exit_code == 0 and "secrets kept for 1" in removed.stderr
    assert list((bucketvault_home / "secrets").glob("*.json")) == []


def test_every_bucket_back_as_of_a_time(
    live_moto: LoopbackServer, backup_rclone: LoopbackServer, bucketvault_home: Path
) -> None:
    live, backup = live_moto, backup_rclone
    add_service(live, backup)
    names = [f"all{n}-" + os.urandom(3).hex() for n in (1, 2)]
    for name in names:
        fill(live, name, odd=False)
    originals = {name: view(live, name) for name in names}
    assert plan("start", "backup", *creds(backup)).exit_code == 0
    between = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(1.1)
    for name in names:
        damage(live, name)
    assert plan("start", "backup", *creds(backup)).exit_code == 0
    back = plan("start", "restore", *creds(backup), "-p", "ALL_BUCKETS=true",
                "-p", f"AT={between}", "-p", "OVERWRITE=true")  # fmt: skip
    assert back.exit_code == 0, back.stderr
    for name in names:
        now = view(live, name)
        assert {k: v for k, v in now.items() if k != "docs/new.txt"} == originals[name]
