"""Helpers for end-to-end tests: run the CLI, seed and read servers with boto3."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from typer.testing import CliRunner

from bucketvault.cli.main import app
from bucketvault.loopback import LoopbackServer
from tests.conftest import boto_client


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]


def run_cli(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    runner = CliRunner()
    result = runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def alias_env(**servers: LoopbackServer) -> dict[str, str]:
    return {
        f"BUCKETVAULT_ALIAS_{name.upper()}": (
            f"http://{server.access_key}:{server.secret_key}@127.0.0.1:{server.port}"
        )
        for name, server in servers.items()
    }


def put(server: LoopbackServer, bucket: str, key: str, body: bytes, **extra: Any) -> None:
    client = boto_client(server)
    client.put_object(Bucket=bucket, Key=key, Body=body, **extra)


def snapshot(server: LoopbackServer, bucket: str, *, tags: bool) -> dict[str, dict[str, Any]]:
    """Every object's md5, content headers, metadata and (optionally) tags, read with boto3."""
    client = boto_client(server)
    result: dict[str, dict[str, Any]] = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key = item["Key"]
            obj = client.get_object(Bucket=bucket, Key=key)
            body = obj["Body"].read()
            record = {
                "md5": hashlib.md5(body).hexdigest(),
                "size": len(body),
                "content_type": obj.get("ContentType"),
                "content_encoding": obj.get("ContentEncoding"),
                "content_disposition": obj.get("ContentDisposition"),
                "content_language": obj.get("ContentLanguage"),
                "cache_control": obj.get("CacheControl"),
                "metadata": {k.lower(): v for k, v in obj.get("Metadata", {}).items()},
            }
            if tags:
                tag_set = client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
                record["tags"] = {t["Key"]: t["Value"] for t in tag_set}
            result[key] = record
    return result


def remove_bucket(server: LoopbackServer, bucket: str) -> None:
    """Delete a bucket with everything in it (every version too), if it exists: tests on
    the session's shared servers leave no bucket another test's backup would pick up."""
    client = boto_client(server)
    try:
        client.head_bucket(Bucket=bucket)
    except client.exceptions.ClientError:
        return  # not there (never made, or the test removed it)
    try:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                client.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    except client.exceptions.ClientError:
        pass  # no versions on this server (rclone serve s3): plain objects below
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)
