"""The story `bucketvault demo` tells, on two loopback S3 servers.

It starts a live store and a backup store on 127.0.0.1, fills a few buckets (odd keys,
metadata, tags, a multipart-sized object), registers a service and backs it up
(snapshot 1). Ransomware then encrypts some objects in place (same size, same headers)
and deletes others, and the next scheduled backup faithfully records that (snapshot 2).
The documented `restore` command with `AT=<a time before the attack>` (or
`SNAPSHOT=<id>`) and `OVERWRITE=true` puts the pre-attack state back; a backup of the
recovered state and `verify` follow, and every bucket is proved identical to what it
held before the attack — all through the real command line.
"""

from __future__ import annotations

import hashlib
import os
import random
import shlex
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bucketvault import event_loop
from bucketvault.config.endpoint import EndpointConfig
from bucketvault.errors import IntegrityError
from bucketvault.history import catalog
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


# What the ransomware does to each bucket: keys it encrypts in place, keys it deletes.
ATTACK: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "photos": (
        tuple(f"2026/trip/IMG_{i:04d}.jpg" for i in (3, 7, 12, 25, 31, 48)),
        ("2026/trip/IMG_0010.jpg", "2026/trip/IMG_0044.jpg"),
    ),
    "documents": (
        ("reports/Q3 report (final).txt", "reports/résumé.txt"),
        ("plus+and%percent.txt",),
    ),
    "logs": (
        ("app/2026-11-20.log.gz", "app/2026-11-21.log.gz"),
        ("app/2026-11-22.log.gz", "app/2026-11-23.log.gz"),
    ),
}


async def _ransomware(config: EndpointConfig) -> tuple[int, int]:
    """Overwrite the ATTACK keys with "encrypted" bytes of the same size, keeping every
    header (nothing but the content gives it away), and delete the others."""
    endpoint = open_endpoint(config)
    keystream = random.Random(666)
    encrypted = deleted = 0
    try:
        for name, (to_encrypt, to_delete) in ATTACK.items():
            bucket = endpoint.bucket(name)
            for key in to_encrypt:
                async with bucket.open(key) as reader:
                    data = b"".join([chunk async for chunk in reader.chunks()])
                    attributes = reader.attributes
                pad = keystream.randbytes(len(data))
                scrambled = (int.from_bytes(data) ^ int.from_bytes(pad)).to_bytes(len(data))
                await bucket.write(key, _one(scrambled), size=len(scrambled), attributes=attributes)
                encrypted += 1
            for key in to_delete:
                await bucket.delete(key)
                deleted += 1
    finally:
        await endpoint.close()
    return encrypted, deleted


async def _snapshot_ids(config: EndpointConfig) -> list[str]:
    """The ids of the service's backup runs, oldest first (one id per run)."""
    endpoint = open_endpoint(config)
    try:
        ids: set[tuple[datetime, str]] = set()
        for name in await endpoint.list_buckets():
            if name.startswith(f"{SERVICE}-"):
                ids.update((h.started, h.id) for h in await catalog.headers(endpoint, name))
    finally:
        await endpoint.close()
    return [snapshot_id for _, snapshot_id in sorted(ids)]


def _run(args: list[str], *, shown: list[str] | None = None) -> int:
    from bucketvault.cli.main import app

    # One line however long, as typed: the terminal may fold it, but a copy pastes whole.
    console.print(f"\n[bold]$ bucketvault {shlex.join(shown or args)}[/bold]", soft_wrap=True)
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


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _story(live: LoopbackServer, backup: LoopbackServer, server: str) -> bool:
    objects = _demo_objects(seed=2026)
    if server == "rclone":  # a file-backed live store cannot hold `a//b` or `/a` keys
        objects["documents"] = [
            item for item in objects["documents"] if "//" not in item[0] and item[0][0] != "/"
        ]
    event_loop.run(_fill(live.endpoint(), objects))
    before = event_loop.run(_fingerprint(live.endpoint()))
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
    service = f"--name={SERVICE}"

    def cli(*args: str, then: tuple[str, ...] = ()) -> int:
        """`bucketvault --name=SVC ARGS <credentials> THEN`, shown with the secret masked."""
        return _run([service, *args, *creds, *then], shown=[service, *args, *shown_creds, *then])

    console.print("\n[bold]2.[/bold] Back up every bucket of the service: snapshot 1.")
    _check(cli("plan", "start", "backup"), "backup")
    _run([service, "plan", "status", "backup"])
    _check(cli("snapshot", "list"), "snapshot list")

    # A moment after snapshot 1, on a whole second, so that the time can be typed.
    attack = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(max(0.0, (attack - datetime.now(UTC)).total_seconds()))
    at = _rfc3339(attack)
    encrypted, deleted = event_loop.run(_ransomware(live.endpoint()))
    console.print(
        f"\n[bold]3.[/bold] Attack at {at}: ransomware encrypts {encrypted} objects in place "
        f"(same size, same headers) and deletes {deleted} others, across all {len(before)} "
        "buckets. The next scheduled backup runs anyway and faithfully records the damage: "
        "snapshot 2. Snapshot 1 is untouched — a backup never destroys what an earlier "
        "snapshot names."
    )
    _check(cli("plan", "start", "backup"), "second backup")
    _check(cli("snapshot", "list"), "snapshot list")
    first, second = event_loop.run(_snapshot_ids(backup.endpoint()))[:2]
    _check(
        cli("snapshot", "diff", first, second, "--bucket", f"{SERVICE}-photos"),
        "snapshot diff",
    )

    console.print(
        f"\n[bold]4.[/bold] Point-in-time restore into the live buckets: the documented "
        f"command with -p AT={at} (the last snapshot completed by then, snapshot 1) and "
        "-p OVERWRITE=true to replace the encrypted objects; for documents, snapshot 1 "
        "named by its id instead (-p SNAPSHOT=…)."
    )
    restores = [
        ("photos", f"AT={at}"),
        ("logs", f"AT={at}"),
        ("documents", f"SNAPSHOT={first}"),
    ]
    for bucket, when in restores:
        chosen = ("-p", f"S3_BUCKET={SERVICE}-{bucket}", "-p", when, "-p", "OVERWRITE=true")
        _check(cli("plan", "start", "restore", then=chosen), f"restore {bucket}")
    _run([service, "plan", "status", "restore"])

    console.print(
        "\n[bold]5.[/bold] Verify compares each bucket with its latest snapshot — the "
        "attacked one — so the recovered state is backed up first (snapshot 3); then "
        "verify reads all data back."
    )
    _check(cli("plan", "start", "backup"), "third backup")
    _check(cli("snapshot", "list", "photos"), "snapshot list photos")
    verify_code = cli("plan", "start", "verify")
    _run([service, "plan", "status", "verify"])

    after = event_loop.run(_fingerprint(live.endpoint()))
    table = Table(title="Restored vs. before the attack (bytes, headers, metadata, tags)")
    for column in ("bucket", "objects", "encrypted", "deleted", "bytes", "identical"):
        table.add_column(column, justify="left" if column in ("bucket", "identical") else "right")
    all_same = verify_code == 0
    for bucket in sorted(before):
        same = after.get(bucket) == before[bucket]
        all_same &= same
        size = sum(size for _, size, _ in before[bucket].values())
        hit, gone = ATTACK.get(bucket, ((), ()))
        table.add_row(
            bucket,
            f"{len(before[bucket]):,}",
            f"{len(hit):,}",
            f"{len(gone):,}",
            f"{size:,}",
            "yes" if same else "NO",
        )
    console.print()
    console.print(table)
    if all_same:
        console.print(
            "[bold]Every restored bucket is identical to the original before the attack.[/bold]"
        )
    else:
        console.print(
            "[bold]NOT every restored bucket is identical to the original before the attack.[/bold]"
        )
    return all_same


def run_demo(server: str) -> bool:
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bucketvault-demo-")))
        stack.enter_context(_private_home(root))
        console.print("Starting two loopback S3 servers (live store and backup store)…")
        live = stack.enter_context(loopback_server(server, root / "live"))  # type: ignore[arg-type]
        backup = stack.enter_context(loopback_server(server, root / "backup"))  # type: ignore[arg-type]
        return _story(live, backup, server)
