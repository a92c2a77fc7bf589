"""The plans a service offers — backup, restore, verify — and the work behind each step.

Plans are built when started: `backup` gets one step per service bucket, `restore`
one per backup bucket asked for. Parameters are checked before anything starts; a
bad one is named in a `PlanInputError`, and nothing is changed.

| plan    | parameters |
|---------|------------|
| backup  | ACCESS_KEY_ID, SECRET_ACCESS_KEY (backup store) |
| restore | ACCESS_KEY_ID, SECRET_ACCESS_KEY, and S3_BUCKET=<service>-<bucket> or     |
|         | ALL_BUCKETS=true; optional TARGET_BUCKET, OVERWRITE=true                   |
| verify  | ACCESS_KEY_ID, SECRET_ACCESS_KEY; optional S3_BUCKET, READ_DATA=false |
| prune   | ACCESS_KEY_ID, SECRET_ACCESS_KEY; optional S3_BUCKET, DRY_RUN=true      |

restore also takes AT=<RFC 3339 time> or SNAPSHOT=<id> (default: the latest snapshot)
and PREFIX=<path>: one object or a folder, by the rule of `mirror.narrow`. backup ends
with a prune phase that applies the service's retention policy. The service's
--include/--exclude-bucket globs choose the live buckets backup, restore ALL_BUCKETS and
verify cover; its --map-bucket names give backup buckets of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from bucketvault.config.secret import Secret
from bucketvault.config.services import ServiceConfig, check_bucket_name, get_service
from bucketvault.errors import PlanInputError
from bucketvault.history.layout import new_snapshot_id
from bucketvault.mirror.stats import MirrorSummary
from bucketvault.plans.engine import PlanManager
from bucketvault.plans.spec import (
    PhaseSpec,
    PlanSpec,
    StepContext,
    StepOutcome,
    StepProgress,
    StepSpec,
    StepWork,
    Strategy,
)
from bucketvault.plans.state import StateStore
from bucketvault.store import open_endpoint
from bucketvault.tasks.backup import run_backup
from bucketvault.tasks.endpoints import ACCESS_KEY_ID, SECRET_ACCESS_KEY, require, service_roles
from bucketvault.tasks.init import run_init
from bucketvault.tasks.prune import run_prune
from bucketvault.tasks.restore import run_restore
from bucketvault.tasks.result import TaskResult
from bucketvault.tasks.roles import as_store
from bucketvault.tasks.synchronize import run_synchronize
from bucketvault.tasks.verify import run_verify

PLANS = ("backup", "restore", "verify", "prune")
CREDENTIALS = (ACCESS_KEY_ID, SECRET_ACCESS_KEY)
KNOWN_PARAMS = {
    "backup": set(CREDENTIALS),
    "restore": {
        *CREDENTIALS,
        "S3_BUCKET",
        "ALL_BUCKETS",
        "TARGET_BUCKET",
        "OVERWRITE",
        "AT",
        "SNAPSHOT",
        "PREFIX",
    },
    "verify": {*CREDENTIALS, "S3_BUCKET", "READ_DATA"},
    "prune": {*CREDENTIALS, "S3_BUCKET", "DRY_RUN"},
}
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off", ""}


def flag(params: Mapping[str, str], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise PlanInputError(f"parameter {name}={value!r} must be true or false")


def point_in_time(params: Mapping[str, str]) -> tuple[datetime | None, str | None]:
    """AT= (an RFC 3339 time) or SNAPSHOT= (an id or a unique prefix of one), not both."""
    at_text, snapshot = params.get("AT"), params.get("SNAPSHOT")
    if at_text and snapshot:
        raise PlanInputError("give AT=<time> or SNAPSHOT=<id>, not both")
    if snapshot is not None and not snapshot.strip():
        raise PlanInputError("SNAPSHOT= is empty: give a snapshot id from `snapshot list`")
    if not at_text:
        return None, snapshot
    try:
        at = datetime.fromisoformat(at_text.replace("Z", "+00:00"))
    except ValueError:
        raise PlanInputError(
            f"AT={at_text!r} is not a time: use RFC 3339, e.g. AT=2026-12-01T16:00:00Z"
        ) from None
    if at.tzinfo is None:
        raise PlanInputError(f"AT={at_text!r} has no time zone: add one, e.g. {at_text}Z for UTC")
    return at, None


def _init_phase(backup_buckets: tuple[str, ...] = ()) -> PhaseSpec:
    return PhaseSpec(
        "init", (StepSpec("init-0:[init]", "init", {"backup_buckets": list(backup_buckets)}),)
    )


class ServicePlans:
    """The PlanBuilder and WorkResolver of one service."""

    def __init__(self, service: ServiceConfig) -> None:
        self.service = service

    # -- PlanBuilder -----------------------------------------------------------------

    def plan_names(self) -> list[str]:
        return list(PLANS)

    def template(self, plan: str) -> PlanSpec:
        self._known(plan)
        phases: tuple[PhaseSpec, ...]
        if plan == "backup":
            phases = (
                _init_phase(),
                PhaseSpec(
                    "synchronize-buckets",
                    (
                        StepSpec(
                            "synchronize-buckets-0:[synchronize-buckets]", "synchronize-buckets"
                        ),
                    ),
                ),
                PhaseSpec("backup", (), Strategy.PARALLEL),
                PhaseSpec("prune", (), Strategy.PARALLEL),
            )
        else:
            strategy = Strategy.SERIAL if plan == "restore" else Strategy.PARALLEL
            phases = (_init_phase(), PhaseSpec(plan, (), strategy))
        return PlanSpec(plan, phases)

    async def build(self, plan: str, params: Mapping[str, str]) -> PlanSpec:
        self._known(plan)
        unknown = sorted(set(params) - KNOWN_PARAMS[plan])
        if unknown:
            raise PlanInputError(
                f"unknown parameter(s) for plan {plan!r}: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(KNOWN_PARAMS[plan]))})"
            )
        require(params, *CREDENTIALS)
        if plan == "backup":
            return await self._backup()
        if plan == "restore":
            return await self._restore(params)
        if plan == "prune":
            return await self._prune(params)
        return await self._verify(params)

    def _known(self, plan: str) -> None:
        if plan not in PLANS:
            from bucketvault.errors import NotFoundError

            raise NotFoundError(f"no plan {plan!r}: known plans are {', '.join(PLANS)}")

    async def _live_buckets(self) -> list[str]:
        """The live buckets the service covers (its --include/--exclude-bucket globs)."""
        endpoint = open_endpoint(self.service.endpoint)
        try:
            with as_store(service_roles(self.service)[0]):
                names = await endpoint.list_buckets()
        finally:
            await endpoint.close()
        return [name for name in names if self.service.selects(name)]

    def _locks(self, live_bucket: str, backup_bucket: str) -> tuple[str, ...]:
        """Every step locks both buckets it touches, whatever it does to them: a restore
        reads the backup bucket a backup writes, a verify reads both, so no two plans
        may hold either at once."""
        return (
            f"live:{self.service.endpoint.url}/{live_bucket}",
            f"backup:{self.service.backup.url}/{backup_bucket}",
        )

    def _prune_step(self, backup_bucket: str, dry_run: bool = False) -> StepSpec:
        return StepSpec(
            f"prune-{self.service.live_bucket(backup_bucket)}",
            "prune",
            {"backup_bucket": backup_bucket, "dry_run": dry_run},
            (f"backup:{self.service.backup.url}/{backup_bucket}",),
        )

    async def _backup(self) -> PlanSpec:
        buckets = await self._live_buckets()
        started = datetime.now(UTC)
        # one id for the whole run: every bucket's snapshot of it has the same id
        snapshot_id = new_snapshot_id(started)
        run = {"snapshot": snapshot_id, "started": started.isoformat()}
        steps, prunes = [], []
        for bucket in buckets:
            reason = self.service.unbackable(bucket)
            if reason is not None:
                # this bucket cannot be backed up as named: its step fails and says why
                # (and offers a --map-bucket name), every other bucket is still backed up
                steps.append(
                    StepSpec(
                        f"backup-{bucket}",
                        "unbackable",
                        {"bucket": bucket, "reason": reason},
                        (f"live:{self.service.endpoint.url}/{bucket}",),
                    )
                )
                continue
            backup_bucket = self.service.backup_bucket(bucket)
            steps.append(
                StepSpec(
                    f"backup-{bucket}",
                    "backup",
                    {"bucket": bucket, **run},
                    self._locks(bucket, backup_bucket),
                )
            )
            prunes.append(self._prune_step(backup_bucket))
        return PlanSpec(
            "backup",
            (
                _init_phase(),
                PhaseSpec(
                    "synchronize-buckets",
                    (
                        StepSpec(
                            "synchronize-buckets-0:[synchronize-buckets]", "synchronize-buckets"
                        ),
                    ),
                ),
                # one bucket that fails does not keep the others from being backed up
                PhaseSpec("backup", tuple(steps), Strategy.PARALLEL),
                PhaseSpec("prune", tuple(prunes), Strategy.PARALLEL),
            ),
        )

    async def _prune(self, params: Mapping[str, str]) -> PlanSpec:
        dry_run = flag(params, "DRY_RUN", False)
        chosen = params.get("S3_BUCKET")
        if chosen:
            self.service.live_bucket(check_bucket_name(chosen, "S3_BUCKET"))
            backups = [chosen]
        else:
            backups = await self._backup_buckets(params)
        steps = tuple(self._prune_step(b, dry_run) for b in backups)
        return PlanSpec(
            "prune", (_init_phase(tuple(backups)), PhaseSpec("prune", steps, Strategy.PARALLEL))
        )

    async def _backup_buckets(self, params: Mapping[str, str]) -> list[str]:
        config = self.service.backup.endpoint(
            params[ACCESS_KEY_ID], Secret(params[SECRET_ACCESS_KEY])
        )
        endpoint = open_endpoint(config)
        try:
            with as_store(service_roles(self.service)[1]):
                names = await endpoint.list_buckets()
        finally:
            await endpoint.close()
        prefix = self.service.bucket_prefix
        return [n for n in names if n.startswith(prefix) and len(n) > len(prefix)]

    async def _selected_backup_buckets(self, params: Mapping[str, str]) -> list[str]:
        """The backup buckets whose live bucket the service covers."""
        return [
            name
            for name in await self._backup_buckets(params)
            if self.service.selects(self.service.live_bucket(name))
        ]

    async def _restore(self, params: Mapping[str, str]) -> PlanSpec:
        all_buckets = flag(params, "ALL_BUCKETS", False)
        overwrite = flag(params, "OVERWRITE", False)
        at, snapshot = point_in_time(params)
        prefix = params.get("PREFIX", "")
        chosen = params.get("S3_BUCKET")
        if all_buckets == bool(chosen):
            raise PlanInputError(
                "restore needs exactly one of -p S3_BUCKET=<service>-<bucket> "
                "or -p ALL_BUCKETS=true"
            )
        target = params.get("TARGET_BUCKET")
        if target is not None:
            if all_buckets:
                raise PlanInputError("TARGET_BUCKET works with S3_BUCKET, not with ALL_BUCKETS")
            check_bucket_name(target, "TARGET_BUCKET")
        if chosen:
            check_bucket_name(chosen, "S3_BUCKET")
            live = target or self.service.live_bucket(chosen)
            check_bucket_name(live, "restored bucket")
            pairs = [(chosen, live, "restore-0:[restore]")]
        else:
            backups = await self._selected_backup_buckets(params)
            if not backups:
                raise PlanInputError(
                    f"no backup buckets of service {self.service.name!r} "
                    f"(named {self.service.bucket_prefix}*) in {self.service.backup.url}"
                )
            pairs = [
                (b, self.service.live_bucket(b), f"restore-{self.service.live_bucket(b)}")
                for b in backups
            ]
        steps = tuple(
            StepSpec(
                name,
                "restore",
                {
                    "backup_bucket": backup,
                    "bucket": live,
                    "overwrite": overwrite,
                    "at": at.isoformat() if at else None,
                    "snapshot": snapshot,
                    "prefix": prefix,
                },
                self._locks(live, backup),
            )
            for backup, live, name in pairs
        )
        return PlanSpec(
            "restore",
            (_init_phase(tuple(backup for backup, _, _ in pairs)), PhaseSpec("restore", steps)),
        )

    async def _verify(self, params: Mapping[str, str]) -> PlanSpec:
        read_data = flag(params, "READ_DATA", True)
        chosen = params.get("S3_BUCKET")
        if chosen:
            buckets = [self.service.live_bucket(check_bucket_name(chosen, "S3_BUCKET"))]
        else:
            live = set(await self._live_buckets())
            backed_up = {
                self.service.live_bucket(b) for b in await self._selected_backup_buckets(params)
            }
            buckets = sorted(live | backed_up)
        steps = tuple(self._verify_step(bucket, read_data) for bucket in buckets)
        # every bucket is verified and reported, even after one differs
        return PlanSpec("verify", (_init_phase(), PhaseSpec("verify", steps, Strategy.PARALLEL)))

    def _verify_step(self, bucket: str, read_data: bool) -> StepSpec:
        reason = self.service.unbackable(bucket)
        if reason is not None:
            # no backup bucket name: this step fails and says why, the others verify
            return StepSpec(
                f"verify-{bucket}",
                "unbackable",
                {"bucket": bucket, "reason": reason},
                (f"live:{self.service.endpoint.url}/{bucket}",),
            )
        return StepSpec(
            f"verify-{bucket}",
            "verify",
            {"bucket": bucket, "read_data": read_data},
            self._locks(bucket, self.service.backup_bucket(bucket)),
        )

    # -- WorkResolver ----------------------------------------------------------------

    def __call__(self, step: StepSpec) -> StepWork:
        args = step.args

        async def work(ctx: StepContext) -> StepOutcome:
            service = get_service(self.service.name)  # fresh: credentials may have rotated
            params = ctx.params

            def progress(summary: MirrorSummary) -> None:
                ctx.report(to_progress(summary))

            result: TaskResult
            if step.kind == "init":
                result = await run_init(
                    service, params, backup_buckets=tuple(args.get("backup_buckets", ()))
                )
            elif step.kind == "synchronize-buckets":
                result = await run_synchronize(service, params)
            elif step.kind == "backup":
                result = await run_backup(
                    service,
                    params,
                    args["bucket"],
                    snapshot_id=args.get("snapshot"),
                    started=_time(args.get("started")),
                    progress=progress,
                )
            elif step.kind == "unbackable":
                bucket = args["bucket"]
                raise PlanInputError(f"bucket {bucket!r} is not backed up: {args['reason']}")
            elif step.kind == "prune":
                result = await run_prune(
                    service, params, args["backup_bucket"], dry_run=bool(args.get("dry_run"))
                )
            elif step.kind == "restore":
                result = await run_restore(
                    service,
                    params,
                    args["backup_bucket"],
                    args["bucket"],
                    overwrite=bool(args.get("overwrite", False)),
                    at=_time(args.get("at")),
                    snapshot=args.get("snapshot"),
                    prefix=args.get("prefix") or "",
                    progress=progress,
                )
            elif step.kind == "verify":
                result = await run_verify(
                    service, params, args["bucket"], read_data=bool(args.get("read_data", True))
                )
            else:
                raise PlanInputError(f"unknown step kind {step.kind!r}")
            return StepOutcome(
                result.message, result.errors, exit_code=result.exit_code, details=result.details
            )

        return work


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def to_progress(summary: MirrorSummary) -> StepProgress:
    return StepProgress(
        objects_done=summary.copied + summary.skipped,
        objects_total=summary.listed_source,
        bytes_done=summary.transferred_bytes,
        bytes_total=summary.planned_bytes,
        rate_bytes_per_s=summary.rate_bytes_per_s,
        failed=summary.failed,
        eta_s=summary.eta_s,
        copied=summary.copied,
        copied_bytes=summary.copied_bytes,
        retries=summary.retries,
        failed_transient=summary.failed_transient,
    )


def manager_for(service_name: str) -> PlanManager:
    service = get_service(service_name)
    plans = ServicePlans(service)
    return PlanManager(service.name, plans, plans, StateStore.default())
