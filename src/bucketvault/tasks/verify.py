"""`verify <bucket>`: compare a service bucket with its backup; change nothing.

The backup side is the latest snapshot: every object it names must be in the live
bucket with the same content, and nothing else. By default every object the snapshot
names is read back from where the snapshot says it is and checked against the MD5 it
recorded, so rot in the backup store is found (READ_DATA=false compares listings and
recorded checksums only). A backup bucket without snapshots is compared as a plain copy.
"""

from __future__ import annotations

from collections.abc import Mapping

from bucketvault.config.services import ServiceConfig
from bucketvault.history.legacy import LegacyBackup
from bucketvault.mirror.compare import CompareReport, KeyList, compare_buckets
from bucketvault.scaleout.run import run_compare_spread
from bucketvault.scaleout.run import verify as spread_verify
from bucketvault.tasks.endpoints import service_stores
from bucketvault.tasks.result import MAX_ERROR_LINES, TaskResult
from bucketvault.tasks.snapshots import choose_snapshot, snapshot_source
from bucketvault.units import count, human_bytes


def _lines(label: str, keys: KeyList) -> list[str]:
    lines = [f"{label}: {key}" for key in keys.keys]
    if keys.count > len(keys.keys):
        lines.append(f"{label}: … and {keys.count - len(keys.keys):,} more")
    return lines


def verify_result(bucket: str, report: CompareReport) -> TaskResult:
    message = (
        f"{bucket}: {report.same:,} identical, {report.missing.count:,} missing from backup, "
        f"{report.differing.count:,} differing, {report.corrupt.count:,} corrupt in backup, "
        f"{report.extra.count:,} only in backup"
    )
    if report.read_back:
        message += (
            f"; read back {count(report.read_back, 'object')} ({human_bytes(report.read_bytes)})"
        )
    errors = (
        _lines("missing", report.missing)
        + _lines("differs", report.differing)
        + _lines("corrupt", report.corrupt)
        + _lines("unreadable", report.errors)
    )
    return TaskResult(message, tuple(errors[:MAX_ERROR_LINES]))


async def run_verify(
    service: ServiceConfig, params: Mapping[str, str], bucket: str, *, read_data: bool
) -> TaskResult:
    backup_name = service.backup_bucket(bucket)
    async with service_stores(service, params) as stores:
        live = stores.live.bucket(bucket)
        header = await choose_snapshot(stores.backup, backup_name)
        if header is None:
            backup = LegacyBackup(stores.backup.bucket(backup_name))
            report = await compare_buckets(live, backup, read_data=read_data)
            return verify_result(bucket, report)
        async with snapshot_source(stores.backup, backup_name, header) as source:
            if service.executor == "inline":
                report = await compare_buckets(live, source, read_data=read_data)
            else:
                describe = spread_verify(live, source, stores.live_config, stores.backup_config)
                report = await run_compare_spread(
                    describe, service.executor, service.executor_workers, read_data=read_data
                )
    result = verify_result(bucket, report)
    return TaskResult(f"{result.message} (snapshot {header.id})", result.errors)
