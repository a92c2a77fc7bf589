"""Backups encrypted on the backup store (`service add --sse …`), end to end through the
CLI: every copy in the backup bucket is encrypted the way the service says, a restore
gives the live bucket back exactly, and `--bwlimit` reaches the plan's steps."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bucketvault.loopback import LoopbackServer, loopback_server
from tests.conftest import boto_client
from tests.e2e.helpers import run_cli
from tests.history.test_history_e2e import add_service, creds, fill, plan, view
from tests.security.leaks import leaks
from tests.store.test_sse import kms_key


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LoopbackServer]:
    with loopback_server("moto", tmp_path / "live") as server:
        yield server


def backed_up_keys(server: LoopbackServer, bucket: str) -> list[str]:
    client = boto_client(server)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [
        item["Key"]
        for page in pages
        for item in page.get("Contents", [])
        if not item["Key"].startswith(".bucketvault/")
    ]


@pytest.mark.parametrize("mode", ["s3", "kms", "c"])
def test_encrypted_backup_restores_exactly(
    live: LoopbackServer, tmp_path: Path, bucketvault_home: Path, mode: str
) -> None:
    # moto keeps SSE-S3 and SSE-KMS; SeaweedFS keeps SSE-C (moto ignores it)
    kind = "seaweed" if mode == "c" else "moto"
    sse_key = b""
    with loopback_server(kind, tmp_path / "backup") as backup:
        options = ["--sse", mode, "--bwlimit", "64M"]
        read_extra: dict[str, Any] = {}
        if mode == "kms":
            key_id = kms_key(backup)
            options += ["--sse-kms-key-id", key_id]
        if mode == "c":
            sse_key = os.urandom(32)
            key_file = tmp_path / "backup.key"
            key_file.write_bytes(sse_key)
            key_file.chmod(0o600)
            options += ["--sse-c-key-file", str(key_file)]
            read_extra = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": sse_key}
        add_service(live, backup, *options)
        fill(live, "data", odd=False)
        before = view(live, "data")
        started = plan("start", "backup", *creds(backup))
        assert started.exit_code == 0, started.stderr
        client = boto_client(backup)
        keys = backed_up_keys(backup, "minio-data")
        assert len(keys) == len(before)
        for key in keys:
            head = client.head_object(Bucket="minio-data", Key=key, **read_extra)
            if mode == "c":
                assert head.get("SSECustomerAlgorithm") == "AES256", key
            else:
                assert head.get("ServerSideEncryption") == ("AES256" if mode == "s3" else "aws:kms")
        client_live = boto_client(live)
        for key in list(before):
            client_live.delete_object(Bucket="data", Key=key)
        restored = plan("start", "restore", *creds(backup), "-p", "S3_BUCKET=minio-data")
        assert restored.exit_code == 0, restored.stderr
        assert view(live, "data") == before
        if mode == "c":  # the key is nowhere but in its own file
            said = [started, restored, plan("status", "backup"), plan("logs", "backup")]
            said.append(run_cli("service", "show", "minio"))
            key_forms = [base64.b64encode(sse_key).decode(), sse_key.hex()]
            for result in said:
                assert not leaks(key_forms, result.stdout + result.stderr)
            for path in bucketvault_home.rglob("*"):
                if path.is_file():
                    data = path.read_bytes()
                    assert sse_key not in data and not leaks(key_forms, data), path


def test_bad_encryption_options_save_nothing(
    live: LoopbackServer, tmp_path: Path, bucketvault_home: Path
) -> None:
    loose = tmp_path / "loose.key"
    loose.write_bytes(os.urandom(32))
    loose.chmod(0o644)
    cases = [
        (["--sse", "aes"], "not one of"),
        (["--sse", "c"], "--sse-c-key-file"),
        (["--sse", "c", "--sse-c-key-file", str(loose)], "chmod 600"),
        (["--sse-kms-key-id", "k"], "go with --sse"),
        (["--bwlimit", "fast"], "not a rate"),
    ]
    for extra, message in cases:
        result = run_cli(
            "service", "add", "minio", "--endpoint", live.url, "--no-check", *extra,
            env={"BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key},
        )  # fmt: skip
        assert result.exit_code == 2, (extra, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (extra, result.stderr)
    listed = run_cli("service", "list")
    assert "minio" not in listed.stdout
