"""`verify <bucket>`: compare a service bucket with its backup; change nothing.

By default every backup object is read back and checked against its checksum, so
rot in the backup store is found (READ_DATA=false compares listings and recorded
checksums only).
"""

from __future__ import annotations

from collections.abc import Mapping

from bucketvault.config.services import ServiceConfig
from bucketvault.mirror.compare import CompareReport, KeyList, compare_buckets
from bucketvault.tasks.endpoints import service_stores
from bucketvault.tasks.result import MAX_ERROR_LINES, TaskResult


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
        message += f"; read back {report.read_back:,} objects ({report.read_bytes:,} bytes)"
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
    async with service_stores(service, params) as stores:
        report = await compare_buckets(
            stores.live.bucket(bucket),
            stores.backup.bucket(service.backup_bucket(bucket)),
            read_data=read_data,
        )
    return verify_result(bucket, report)
