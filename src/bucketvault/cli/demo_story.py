"""The story `bucketvault demo` tells, on two loopback S3 servers.

It starts a live store and a backup store on 127.0.0.1, fills a few buckets (odd keys,
metadata, tags, a multipart-sized object), registers a service, runs `backup`, loses
the live data, runs the documented `restore` command for each bucket, runs `verify`,
and proves the restored data identical — all through the real command line.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import shlex
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.errors import IntegrityError
from bucketvault.loopback import LoopbackServer, loopback_server
from bucketvault.store import open_endpoint
from bucketvault.store.model import ObjectAttributes

SERVICE = "minio"
console = Console(highlight=False)

Fingerprint = dict[str, dict[str, tuple[str, int, str]]]


def _demo_objects(seed: int) -> dict[str, list[tuple[str, bytes, ObjectAttributes]]]:
    rng = random.Random(seed)
    photos = [
        (
            f"2026/trip/IMG_{i:04d}.jpg",
            rng.randbytes(rng.randint(10_000, 200_000)),
            ObjectAttributes(
                content_type="image/jpeg",
                cache_control="max-age=86400",
                metadata={"camera": "x100v", "album": "trip"},
                tags={"visibility": "family"} if i % 3 == 0 else {},
            ),
        )
        for i in range(60)
    ]
    documents = [
        (
            key,
            f"contents of {key}\n".encode() * rng.randint(1, 400),
            ObjectAttributes(
                content_type="text/plain; charset=utf-8",
                content_language="fr" if "é" in key else "en",
                content_disposition="attachment",
                metadata={"author": "ann"},
                tags={"class": "confidential"},
            ),
        )
        for key in (
            "reports/Q3 report (final).txt",
            "reports/résumé.txt",
            "notes//double-slash.txt",
            "/leading-slash.txt",
            "plus+and%percent.txt",
            "empty-is-fine.txt",
        )
    ]
    documents[-1] = (documents[-1][0], b"", documents[-1][2])
    logs = [
        (
            f"app/2026-11-{day:02d}.log.gz",
            rng.randbytes(50_000),
            ObjectAttributes(content_type="text/plain", content_encoding="gzip"),
        )
        for day in range(1, 25)
    ]
    logs.append(("archive/big.tar", rng.randbytes(24 * 1024 * 1024 + 123), ObjectAttributes()))
    return {"photos": photos, "documents": documents, "logs": logs}


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _fill(config: EndpointConfig, objects: dict[str, list[Any]]) -> None:
    endpoint = open_endpoint(config)
    try:
        for bucket_name, items in objects.items():
            bucket = endpoint.bucket(bucket_name)
            await bucket.create()
            for key, data, attributes in items:
                await bucket.write(key, _one(data), size=len(data), attributes=attributes)
    finally:
        await endpoint.close()


async def _fingerprint(config: EndpointConfig) -> Fingerprint:
    """md5, size and attributes of every object in every bucket, read back in full."""
    endpoint = open_endpoint(config)
    result: Fingerprint = {}
    try:
        for name in await endpoint.list_buckets():
            bucket = endpoint.bucket(name)
            result[name] = {}
            async for info in bucket.list():
                async with bucket.open(info.key) as reader:
                    digest = hashlib.md5()
                    async for chunk in reader.chunks():
                        digest.update(chunk)
                    attrs = reader.attributes
                canonical = (
                    attrs.content_type,
                    attrs.content_encoding,
                    attrs.content_disposition,
                    attrs.content_language,
                    attrs.cache_control,
                    sorted(attrs.metadata.items()),
                    sorted((attrs.tags or {}).items()),
                )
                result[name][info.key] = (digest.hexdigest(), info.size, repr(canonical))
    finally:
        await endpoint.close()
    return result


async def _lose_everything(config: EndpointConfig) -> int:
    endpoint = open_endpoint(config)
    lost = 0
    try:
        for name in await endpoint.list_buckets():
            bucket = endpoint.bucket(name)
            async for info in bucket.list():
                await bucket.delete(info.key)
                lost += 1
            await endpoint.delete_bucket(name)
    finally:
        await endpoint.close()
    return lost


def _run(args: list[str], *, shown: list[str] | None = None) -> int:
    from bucketvault.cli.main import app

    console.print(f"\n[bold]$ bucketvault {shlex.join(shown or args)}[/bold]")
    try:
        app(args, standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@contextmanager
def _private_home(root: Path) -> Iterator[None]:
    """The demo uses its own config and state, never the user's."""
    previous = os.environ.get("BUCKETVAULT_HOME")
    os.environ["BUCKETVAULT_HOME"] = str(root / "home")
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("BUCKETVAULT_HOME", None)
        else:
            os.environ["BUCKETVAULT_HOME"] = previous


def _check(code: int, what: str) -> None:
    if code != 0:
        raise IntegrityError(f"demo step failed: {what} exited {code}")


def _story(live: LoopbackServer, backup: LoopbackServer) -> bool:
    objects = _demo_objects(seed=2026)
    asyncio.run(_fill(live.endpoint(), objects))
    before = asyncio.run(_fingerprint(live.endpoint()))
    count = sum(len(v) for v in before.values())
    console.print(
        f"[bold]1.[/bold] Live store {live.url} holds {count} objects in "
        f"{len(before)} buckets; backup store at {backup.url}."
    )
    os.environ["BUCKETVAULT_SECRET_ACCESS_KEY"] = live.secret_key
    try:
        _check(
            _run(
                [
                    "service",
                    "add",
                    SERVICE,
                    "--endpoint",
                    live.url,
                    "--backup-endpoint",
                    backup.url,
                    "--access-key",
                    live.access_key,
                ]
            ),
            "service add",
        )
    finally:
        os.environ.pop("BUCKETVAULT_SECRET_ACCESS_KEY", None)
    creds = [
        "-p",
        f"ACCESS_KEY_ID={backup.access_key}",
        "-p",
        f"SECRET_ACCESS_KEY={backup.secret_key}",
    ]
    shown_creds = ["-p", f"ACCESS_KEY_ID={backup.access_key}", "-p", "SECRET_ACCESS_KEY=********"]

    console.print("\n[bold]2.[/bold] Back up every bucket of the service.")
    _check(
        _run(
            [f"--name={SERVICE}", "plan", "start", "backup", *creds],
            shown=[f"--name={SERVICE}", "plan", "start", "backup", *shown_creds],
        ),
        "backup",
    )
    _run([f"--name={SERVICE}", "plan", "status", "backup"])

    lost = asyncio.run(_lose_everything(live.endpoint()))
    console.print(
        f"\n[bold]3.[/bold] Disaster: more disks failed than erasure coding survives — "
        f"{lost} objects and all {len(before)} buckets are gone from the live store."
    )

    console.print("\n[bold]4.[/bold] Restore each backed-up bucket with the documented command.")
    for bucket in sorted(before):
        args = [f"--name={SERVICE}", "plan", "start", "restore"]
        _check(
            _run(
                [*args, *creds, "-p", f"S3_BUCKET={SERVICE}-{bucket}"],
                shown=[*args, *shown_creds, "-p", f"S3_BUCKET={SERVICE}-{bucket}"],
            ),
            f"restore {bucket}",
        )
        _run([f"--name={SERVICE}", "plan", "status", "restore"])

    console.print(
        "\n[bold]5.[/bold] Verify: compare every bucket with its backup, reading all data back."
    )
    verify_code = _run(
        [f"--name={SERVICE}", "plan", "start", "verify", *creds],
        shown=[f"--name={SERVICE}", "plan", "start", "verify", *shown_creds],
    )
    _run([f"--name={SERVICE}", "plan", "status", "verify"])

    after = asyncio.run(_fingerprint(live.endpoint()))
    table = Table(title="Restored data compared with the original (bytes, headers, metadata, tags)")
    for column in ("bucket", "objects", "bytes", "identical"):
        table.add_column(column, justify="right" if column in ("objects", "bytes") else "left")
    all_same = verify_code == 0
    for bucket in sorted(before):
        same = after.get(bucket) == before[bucket]
        all_same &= same
        size = sum(size for _, size, _ in before[bucket].values())
        table.add_row(bucket, f"{len(before[bucket]):,}", f"{size:,}", "yes" if same else "NO")
    console.print()
    console.print(table)
    verdict = "identical to the original" if all_same else "NOT identical"
    console.print(f"[bold]Every restored bucket is {verdict}.[/bold]")
    return all_same


def run_demo(server: str) -> bool:
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bucketvault-demo-")))
        stack.enter_context(_private_home(root))
        console.print("Starting two loopback S3 servers (live store and backup store)…")
        live = stack.enter_context(loopback_server(server, root / "live"))  # type: ignore[arg-type]
        backup = stack.enter_context(loopback_server(server, root / "backup"))  # type: ignore[arg-type]
        return _story(live, backup)
