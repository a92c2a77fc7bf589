"""The seed's story through the CLI: backup → loss → restore → verify, on real servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketvault.errors import ExitCode
from bucketvault.loopback import LoopbackServer, loopback_server
from tests.conftest import boto_client
from tests.e2e.helpers import Result, put, run_cli, snapshot

BACKUP_SECRET = "backup-secret-" + uuid.uuid4().hex
LIVE_SECRET = "live-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    with loopback_server("moto", tmp_path_factory.mktemp("live")) as server:
        server.secret_key = LIVE_SECRET  # moto accepts any credentials
        yield server


@pytest.fixture(scope="module")
def backup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    with loopback_server("moto", tmp_path_factory.mktemp("backup")) as server:
        server.secret_key = BACKUP_SECRET
        yield server


def wipe(server: LoopbackServer) -> None:
    client = boto_client(server)
    for bucket in client.list_buckets()["Buckets"]:
        name = bucket["Name"]
        # backup buckets keep versions: every version and delete marker goes
        for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                client.delete_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])
        client.delete_bucket(Bucket=name)


@pytest.fixture
def service(live: LoopbackServer, backup: LoopbackServer) -> Iterator[str]:
    wipe(live)
    wipe(backup)
    name = "minio"
    result = run_cli(
        "service",
        "add",
        name,
        "--endpoint",
        live.url,
        "--backup-endpoint",
        backup.url,
        "--access-key",
        live.access_key,
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key},
    )
    assert result.exit_code == 0, result.stderr
    yield name


def creds(backup: LoopbackServer) -> list[str]:
    return [
        "-p",
        f"ACCESS_KEY_ID={backup.access_key}",
        "-p",
        f"SECRET_ACCESS_KEY={backup.secret_key}",
    ]


def fill_live(live: LoopbackServer) -> None:
    client = boto_client(live)
    for bucket in ("photos", "docs"):
        client.create_bucket(Bucket=bucket)
    for i in range(30):
        put(
            live,
            "photos",
            f"2026/IMG_{i:03d}.jpg",
            os.urandom(1000 + i),
            ContentType="image/jpeg",
            Metadata={"camera": "x100v"},
            Tagging="visibility=family",
        )
    for key in ("a//b", "/leading", "résumé.txt", "with space+plus", "empty"):
        put(live, "docs", key, b"" if key == "empty" else key.encode(), ContentLanguage="fr")
    put(live, "docs", "big.bin", os.urandom(21 * 1024 * 1024), ContentType="application/x-tar")


def plan(svc: str, *args: str) -> Result:
    return run_cli(f"--name={svc}", "plan", *args)


def test_backup_loss_restore_verify(
    service: str, live: LoopbackServer, backup: LoopbackServer, bucketvault_home: Path
) -> None:
    fill_live(live)
    original = {b: snapshot(live, b, tags=True) for b in ("photos", "docs")}

    started = plan(service, "start", "backup", *creds(backup))
    assert started.exit_code == 0, started.stderr
    status = plan(service, "status", "backup")
    assert status.stdout.splitlines()[0] == "backup (serial strategy) (COMPLETE)"
    assert "backup-photos (COMPLETE)" in status.stdout
    backed_up = snapshot(backup, "minio-photos", tags=True)
    assert {k for k in backed_up if not k.startswith(".bucketvault/")} == original["photos"].keys()

    again = plan(service, "start", "backup", *creds(backup))
    assert again.exit_code == 0
    assert "backed up photos" in plan(service, "status", "backup", "--json").stdout

    wipe(live)

    restored = plan(service, "start", "restore", *creds(backup), "-p", "S3_BUCKET=minio-photos")
    assert restored.exit_code == 0, restored.stderr
    tree = plan(service, "status", "restore").stdout.splitlines()
    assert tree[5:7] == ["", "Results:"], tree
    assert tree[8].startswith("- restore-0:[restore]: restored minio-photos@"), tree
    assert tree[:5] == [
        "restore (serial strategy) (COMPLETE)",
        "├─ init (serial strategy) (COMPLETE)",
        "│  └─ init-0:[init] (COMPLETE)",
        "└─ restore (serial strategy) (COMPLETE)",
        "   └─ restore-0:[restore] (COMPLETE)",
    ]
    assert snapshot(live, "photos", tags=True) == original["photos"]

    everything = plan(service, "start", "restore", *creds(backup), "-p", "ALL_BUCKETS=true")
    assert everything.exit_code == 0, everything.stderr
    assert {b: snapshot(live, b, tags=True) for b in ("photos", "docs")} == original

    verified = plan(service, "start", "verify", *creds(backup))
    assert verified.exit_code == 0, verified.stderr
    assert plan(service, "status", "verify").stdout.splitlines()[0].endswith("(COMPLETE)")

    # The secrets appear nowhere but in the 0600 files meant for them.
    outputs = [started, status, again, restored, everything, verified]
    for out in outputs:
        assert BACKUP_SECRET not in out.stdout + out.stderr
    for path in bucketvault_home.rglob("*"):
        if path.is_file() and BACKUP_SECRET.encode() in path.read_bytes():
            assert path.stat().st_mode & 0o077 == 0, path
            assert path.parent.name == "secrets", path
        if path.is_file() and LIVE_SECRET.encode() in path.read_bytes():
            assert path.name == "services.json" and path.stat().st_mode & 0o077 == 0


def test_restore_is_non_destructive_by_default(
    service: str, live: LoopbackServer, backup: LoopbackServer
) -> None:
    client = boto_client(live)
    client.create_bucket(Bucket="data")
    put(live, "data", "note.txt", b"original")
    assert plan(service, "start", "backup", *creds(backup)).exit_code == 0
    put(live, "data", "note.txt", b"edited!!")  # same size
    put(live, "data", "new-since-backup.txt", b"keep me")
    kept = plan(service, "start", "restore", *creds(backup), "-p", "S3_BUCKET=minio-data")
    # kept, not replaced: the plan completes, but its exit code says work was left undone
    assert kept.exit_code == ExitCode.CONFLICT, kept.stderr
    assert kept.stderr.splitlines()[-1] == (
        'Error: "restore" plan completed, but objects that differ at the target were kept '
        "in restore-0:[restore] (see the results above)"
    )
    assert client.get_object(Bucket="data", Key="note.txt")["Body"].read() == b"edited!!"
    status = plan(service, "status", "restore", "--json")
    assert status.exit_code == ExitCode.CONFLICT and "differing" in status.stdout
    logs = plan(service, "logs", "restore", "restore-0:[restore]")
    assert "kept (differs at the target): note.txt" in logs.stdout, logs.stdout
    replaced = plan(
        service,
        "start",
        "restore",
        *creds(backup),
        "-p",
        "S3_BUCKET=minio-data",
        "-p",
        "OVERWRITE=true",
    )
    assert replaced.exit_code == 0
    assert client.get_object(Bucket="data", Key="note.txt")["Body"].read() == b"original"
    assert client.get_object(Bucket="data", Key="new-since-backup.txt")["Body"].read() == b"keep me"


def test_restore_into_a_different_bucket(
    service: str, live: LoopbackServer, backup: LoopbackServer
) -> None:
    boto_client(live).create_bucket(Bucket="src")
    put(live, "src", "k", b"v")
    assert plan(service, "start", "backup", *creds(backup)).exit_code == 0
    result = plan(
        service,
        "start",
        "restore",
        *creds(backup),
        "-p",
        "S3_BUCKET=minio-src",
        "-p",
        "TARGET_BUCKET=src-copy",
    )
    assert result.exit_code == 0, result.stderr
    assert boto_client(live).get_object(Bucket="src-copy", Key="k")["Body"].read() == b"v"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ["start", "restore", "-p", "S3_BUCKET=minio-x"],
            ExitCode.USAGE,
            "ACCESS_KEY_ID",
            id="missing-credentials",
        ),
        pytest.param(
            ["start", "restore", "CREDS", "-p", "S3_BUCKET=other-x"],
            ExitCode.USAGE,
            "must start with 'minio-'",
            id="bucket-without-prefix",
        ),
        pytest.param(
            ["start", "restore", "CREDS", "-p", "S3_BUCKET=minio-" + "x" * 60],
            ExitCode.USAGE,
            "at most 63",
            id="bucket-name-too-long",
        ),
        pytest.param(
            ["start", "restore", "CREDS"], ExitCode.USAGE, "exactly one of", id="no-bucket"
        ),
        pytest.param(
            ["start", "restore", "-p", "NOEQUALS"], ExitCode.USAGE, "no '='", id="malformed-p"
        ),
        pytest.param(
            ["start", "restore", "CREDS", "-p", "S3_BUCKT=minio-x"],
            ExitCode.USAGE,
            "S3_BUCKT",
            id="misspelt-parameter",
        ),
        pytest.param(["start", "nosuchplan"], ExitCode.NOT_FOUND, "nosuchplan", id="unknown-plan"),
        pytest.param(
            ["status", "nosuchplan"], ExitCode.NOT_FOUND, "nosuchplan", id="unknown-plan-status"
        ),
    ],
)
def test_bad_plan_input_changes_nothing(
    service: str,
    backup: LoopbackServer,
    live: LoopbackServer,
    args: list[str],
    code: int,
    message: str,
) -> None:
    expanded: list[str] = []
    for arg in args:
        expanded += creds(backup) if arg == "CREDS" else [arg]
    before = boto_client(live).list_buckets()["Buckets"]
    result = plan(service, *expanded)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert BACKUP_SECRET not in result.stderr + result.stdout
    assert boto_client(live).list_buckets()["Buckets"] == before
    assert boto_client(backup).list_buckets()["Buckets"] == []


def test_unknown_service(backup: LoopbackServer) -> None:
    result = run_cli("--name=ghost", "plan", "start", "backup", *creds(backup))
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "ghost" in result.stderr and "service add" in result.stderr
