"""`service add --include-bucket/--exclude-bucket/--map-bucket`: which live buckets the
plans cover, and a backup name for a bucket whose `<service>-<bucket>` is too long.

Live store: the session's moto server; backup store: its rclone server. Each test uses
its own service name and bucket names, so buckets other tests leave there do not count.
"""

from __future__ import annotations

import json
import uuid

from bucketvault.errors import ExitCode
from bucketvault.loopback import LoopbackServer
from tests.conftest import boto_client
from tests.e2e.conftest import Own
from tests.e2e.helpers import Result, put, run_cli


def names() -> tuple[str, str]:
    """A service name and a bucket tag, both unique to the test."""
    tag = uuid.uuid4().hex[:6]
    return f"s{tag}", f"b{tag}"


def add(name: str, live: LoopbackServer, backup: LoopbackServer, *extra: str) -> Result:
    return run_cli(
        "service", "add", name, "--endpoint", live.url, "--backup-endpoint", backup.url,
        "--access-key", live.access_key, *extra,
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": live.secret_key},
    )  # fmt: skip


def start(name: str, backup: LoopbackServer, plan: str, *params: str) -> Result:
    creds = [f"ACCESS_KEY_ID={backup.access_key}", f"SECRET_ACCESS_KEY={backup.secret_key}"]
    args = [x for p in (*creds, *params) for x in ("-p", p)]
    return run_cli(f"--name={name}", "plan", "start", plan, *args)


def buckets(server: LoopbackServer, prefix: str) -> set[str]:
    listed = boto_client(server).list_buckets()["Buckets"]
    return {b["Name"] for b in listed if b["Name"].startswith(prefix)}


def seed(server: LoopbackServer, own: Own, *bucket_names: str) -> None:
    client = boto_client(server)
    for bucket in bucket_names:
        client.create_bucket(Bucket=own(server, bucket))
        put(server, bucket, "k.txt", bucket.encode())


def test_include_exclude_and_map(moto: LoopbackServer, rclone: LoopbackServer, owned: Own) -> None:
    service, tag = names()
    long_name = f"{tag}-keep-" + "x" * (60 - len(tag) - 6)
    assert len(f"{service}-{long_name}") > 63
    short = f"{service}-long"
    seed(moto, owned, f"{tag}-keep-a", f"{tag}-keep-tmp1", f"{tag}-other", long_name)
    owned(rclone, f"{service}-{tag}-keep-a")
    owned(rclone, short)
    added = add(
        service, moto, rclone,
        "--include-bucket", f"{tag}-keep-*", "--exclude-bucket", "*-tmp*",
        "--map-bucket", f"{long_name}={short}", "--retention-days", "0",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr

    shown = json.loads(run_cli("service", "show", service).stdout)
    assert shown["include_buckets"] == [f"{tag}-keep-*"]
    assert shown["exclude_buckets"] == ["*-tmp*"]
    assert shown["bucket_map"] == {long_name: short}
    listed = run_cli("service", "list").stdout
    row = next(line for line in listed.splitlines() if line.startswith(service + "\t"))
    assert f"include={tag}-keep-*" in row and "exclude=*-tmp*" in row and short in row

    # retention 0: a backup bucket synchronize-buckets took for an orphan would go at
    # once; the mapped one must not be taken for the backup of a bucket named "long"
    for _ in range(2):
        result = start(service, rclone, "backup")
        assert result.exit_code == 0, result.stdout + result.stderr
    assert buckets(rclone, f"{service}-") == {f"{service}-{tag}-keep-a", short}
    assert boto_client(rclone).get_object(Bucket=short, Key="k.txt")["Body"].read() == (
        long_name.encode()
    )

    # restore ALL_BUCKETS puts the mapped backup back under its long live name
    client = boto_client(moto)
    client.delete_object(Bucket=long_name, Key="k.txt")
    client.delete_bucket(Bucket=long_name)
    restored = start(service, rclone, "restore", "ALL_BUCKETS=true")
    assert restored.exit_code == 0, restored.stdout + restored.stderr
    assert client.get_object(Bucket=long_name, Key="k.txt")["Body"].read() == long_name.encode()

    verified = start(service, rclone, "verify")
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    status = run_cli(f"--name={service}", "plan", "status", "verify", "--json").stdout
    steps = {s["name"] for p in json.loads(status)["phases"] for s in p["steps"]}
    assert steps == {"init-0:[init]", f"verify-{tag}-keep-a", f"verify-{long_name}"}


def test_too_long_name_offers_a_mapping(
    moto: LoopbackServer, rclone: LoopbackServer, owned: Own
) -> None:
    service, tag = names()
    long_name = f"{tag}-" + "y" * (60 - len(tag) - 1)
    seed(moto, owned, f"{tag}-fine", long_name)
    owned(rclone, f"{service}-{tag}-fine")
    assert add(service, moto, rclone, "--include-bucket", f"{tag}-*").exit_code == 0
    result = start(service, rclone, "backup")
    assert result.exit_code != 0
    # every other bucket is still backed up
    assert buckets(rclone, f"{service}-") == {f"{service}-{tag}-fine"}
    # the run's error names the bucket and offers the mapping
    line = next(x for x in result.stderr.splitlines() if f"backup-{long_name}" in x)
    assert "63" in line, line
    assert f"--map-bucket {long_name}={service}-<name>" in line, line
    assert "--exclude-bucket" in line
    # verify checks the other bucket and reports this one the same way
    verified = start(service, rclone, "verify")
    assert verified.exit_code != 0
    line = next(x for x in verified.stderr.splitlines() if f"verify-{long_name}" in x)
    assert f"bucket '{long_name}' is not backed up" in line and "--map-bucket" in line, line
    status = run_cli(f"--name={service}", "plan", "status", "verify").stdout
    assert f"verify-{tag}-fine (COMPLETE)" in status, status


def test_map_bucket_checked_at_add(moto: LoopbackServer, rclone: LoopbackServer) -> None:
    service, _ = names()
    for pair, message in [
        ("nothing", "LIVE_BUCKET=BACKUP_BUCKET"),
        ("a=Bad_Name", "invalid"),
        ("a=other-prefix", f"must start with '{service}-'"),
        (f"a={service}-" + "z" * 70, "at most 63"),
    ]:
        result = add(service, moto, rclone, "--map-bucket", pair)
        assert result.exit_code == ExitCode.USAGE, (pair, result.stderr)
        assert message in result.stderr, (pair, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    twice = add(service, moto, rclone, "--map-bucket", f"a={service}-x", "--map-bucket",
                f"b={service}-x")  # fmt: skip
    assert twice.exit_code == ExitCode.USAGE and "two buckets" in twice.stderr
    assert run_cli("service", "show", service).exit_code == ExitCode.NOT_FOUND
