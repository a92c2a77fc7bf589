"""`prune <bucket>`: apply the service's retention policy to one backup bucket."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from bucketvault.config.services import ServiceConfig
from bucketvault.history.prune import prune
from bucketvault.history.retention import RetentionPolicy
from bucketvault.tasks.endpoints import service_stores
from bucketvault.tasks.result import TaskResult
from bucketvault.units import count, human_bytes


def policy_of(service: ServiceConfig) -> RetentionPolicy:
    return RetentionPolicy.from_record(service.retention)


async def run_prune(
    service: ServiceConfig,
    params: Mapping[str, str],
    backup_bucket: str,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> TaskResult:
    policy = policy_of(service)
    if policy.is_empty:
        return TaskResult(
            f"{backup_bucket}: no retention policy, every snapshot is kept "
            f"(set one with `service add {service.name} … --keep-daily 7` and --replace)"
        )
    async with service_stores(service, params) as stores:
        report = await prune(
            stores.backup, backup_bucket, policy, now=now or datetime.now(UTC), dry_run=dry_run
        )
    decision = report.decision
    verb = "would forget" if dry_run else "forgot"
    message = (
        f"{backup_bucket} ({policy.describe()}): kept {count(len(decision.keep), 'snapshot')}, "
        f"{verb} {len(decision.forget)}"
    )
    if decision.forget:
        message += ": " + ", ".join(h.id for h in decision.forget[:20])
        if len(decision.forget) > 20:
            message += f" … and {len(decision.forget) - 20} more"
    if not dry_run:
        message += (
            f"; removed {report.removed_versions:,} old versions and "
            f"{report.removed_archived:,} archived copies ({human_bytes(report.removed_bytes)})"
        )
        if report.retained_locked:
            message += f"; {report.retained_locked:,} retained by Object Lock"
    return TaskResult(message, tuple(report.errors))
