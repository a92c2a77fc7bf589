"""`bucketvault service add|list|show|remove`: the stores bucketvault protects.

`config.services` is imported only when a service command runs: other commands skip it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bucketvault.cli import output
from bucketvault.cli.credentials import read_secret
from bucketvault.config.endpoint import (
    AWS_S3_URL,
    Encryption,
    EndpointConfig,
    validate_endpoint_url,
)
from bucketvault.errors import (
    ConflictError,
    UsageError,
)
from bucketvault.scaleout.choice import check_executor
from bucketvault.units import bandwidth_limit

if TYPE_CHECKING:
    from bucketvault.config.services import BackupStore, ServiceConfig

app = typer.Typer(help="Register the object stores to protect.", no_args_is_help=True)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Service name (becomes the backup bucket prefix).")],
    endpoint: Annotated[
        str, typer.Option(help="S3 URL of the live store, e.g. http://minio:9000.")
    ],
    backup_endpoint: Annotated[
        str, typer.Option(help="S3 URL of the backup store (default AWS S3).")
    ] = AWS_S3_URL,
    access_key: Annotated[
        str | None,
        typer.Option(envvar="BUCKETVAULT_ACCESS_KEY_ID", help="Access key of the live store."),
    ] = None,
    secret_file: Annotated[
        Path | None, typer.Option(help="Read the live store's secret key from this file.")
    ] = None,
    secret_stdin: Annotated[
        bool, typer.Option(help="Read the live store's secret key from standard input.")
    ] = False,
    region: Annotated[str, typer.Option(help="Signing region of the live store.")] = "us-east-1",
    backup_region: Annotated[str, typer.Option(help="Region of the backup store.")] = "us-east-1",
    ca_bundle: Annotated[str | None, typer.Option(help="CA bundle for the live store.")] = None,
    backup_ca_bundle: Annotated[
        str | None, typer.Option(help="CA bundle for the backup store.")
    ] = None,
    insecure: Annotated[bool, typer.Option(help="Skip TLS verification (unsafe).")] = False,
    retention_days: Annotated[
        float,
        typer.Option(help="Keep a backup bucket this long after its source bucket disappears."),
    ] = 7.0,
    replace: Annotated[
        bool, typer.Option(help="Replace an existing service of that name.")
    ] = False,
    keep_last: Annotated[int, typer.Option(help="Retention: keep the last N snapshots.")] = 0,
    keep_hourly: Annotated[int, typer.Option(help="Retention: one per hour, N hours.")] = 0,
    keep_daily: Annotated[int, typer.Option(help="Retention: one per day, N days.")] = 0,
    keep_weekly: Annotated[int, typer.Option(help="Retention: one per week, N weeks.")] = 0,
    keep_monthly: Annotated[int, typer.Option(help="Retention: one per month, N months.")] = 0,
    keep_yearly: Annotated[int, typer.Option(help="Retention: one per year, N years.")] = 0,
    keep_within: Annotated[
        str | None,
        typer.Option(help="Retention: keep every snapshot this close to the latest (2y5m7d3h)."),
    ] = None,
    object_lock: Annotated[
        str | None,
        typer.Option(
            help="Create backup buckets with S3 Object Lock: governance or compliance. "
            "Checked against the backup store now, with $BUCKETVAULT_BACKUP_ACCESS_KEY_ID "
            "and $BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY."
        ),
    ] = None,
    lock_days: Annotated[
        int, typer.Option(help="With --object-lock: days each backed-up object is locked.")
    ] = 30,
    include_bucket: Annotated[
        list[str] | None,
        typer.Option(
            help="Back up, restore and verify only live buckets matching this glob "
            "(repeatable; default every bucket)."
        ),
    ] = None,
    exclude_bucket: Annotated[
        list[str] | None,
        typer.Option(help="Leave out live buckets matching this glob (repeatable)."),
    ] = None,
    map_bucket: Annotated[
        list[str] | None,
        typer.Option(
            help="LIVE=BACKUP: back up live bucket LIVE into backup bucket BACKUP instead of "
            "<service>-LIVE, e.g. when that name would be over 63 characters (repeatable; "
            "BACKUP starts with <service>-)."
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            help="Test the live store (reachable, credentials valid) and that the backup "
            "store answers before saving; --no-check saves without testing."
        ),
    ] = True,
    sse: Annotated[
        str | None,
        typer.Option(
            help="Server-side encryption of the backups: s3 (SSE-S3), kms (SSE-KMS; "
            "--sse-kms-key-id) or c (SSE-C; --sse-c-key-file)."
        ),
    ] = None,
    sse_kms_key_id: Annotated[
        str | None, typer.Option(help="With --sse kms: the KMS key id (default: the store's).")
    ] = None,
    sse_c_key_file: Annotated[
        Path | None,
        typer.Option(
            help="With --sse c: a 0600 file holding the 256-bit key (32 bytes or their base64); "
            "only its path is saved, and it must stay readable for every backup and restore."
        ),
    ] = None,
    bwlimit: Annotated[
        str | None,
        typer.Option(help="Bandwidth limit of each backup and restore step: 10M = 10 MiB/s."),
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            help="Where each backup and restore step runs: inline (the plan's process), "
            "processes (worker processes on its machine) or ray (the Ray cluster at "
            "$RAY_ADDRESS); see docs/scale-out.md."
        ),
    ] = "inline",
    executor_workers: Annotated[
        int | None,
        typer.Option(help="Workers for --executor processes/ray (default: one per CPU)."),
    ] = None,
    notify: Annotated[
        list[str] | None,
        typer.Option(
            "--notify",
            help="Webhook URL that gets a JSON POST when a plan run of `bucketvault serve` "
            "ends COMPLETE or ERROR (repeatable; kept in a 0600 file).",
        ),
    ] = None,
) -> None:
    """Register a service. Its secret comes from --secret-file, --secret-stdin,
    $BUCKETVAULT_SECRET_ACCESS_KEY or a hidden prompt — never the command line.

    Both stores are tested first, as `mc alias set` does: the live store lists its
    buckets with the credentials given; the backup store must answer (with
    $BUCKETVAULT_BACKUP_ACCESS_KEY_ID and $BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY set, its
    credentials are tested too). On failure nothing is saved."""
    from bucketvault.config.services import (
        BackupStore,
        ServiceConfig,
        check_globs,
        check_service_name,
        load_services,
        parse_bucket_map,
        save_service,
    )
    from bucketvault.notify import check_targets, save_targets

    check_service_name(name)
    targets = check_targets(notify or [])
    includes = check_globs("--include-bucket", include_bucket or [])
    excludes = check_globs("--exclude-bucket", exclude_bucket or [])
    bucket_map = parse_bucket_map(name, map_bucket or [])
    validate_endpoint_url(endpoint)
    validate_endpoint_url(backup_endpoint)
    if retention_days < 0:
        raise UsageError("--retention-days must be 0 or more")
    if name in load_services() and not replace:
        raise ConflictError(f"service {name!r} exists: pass --replace to change it")
    from bucketvault.history.retention import RetentionPolicy, parse_duration

    retention = RetentionPolicy(
        last=keep_last,
        hourly=keep_hourly,
        daily=keep_daily,
        weekly=keep_weekly,
        monthly=keep_monthly,
        yearly=keep_yearly,
        within=parse_duration(keep_within) if keep_within else None,
    )
    lock = _object_lock(object_lock, lock_days)
    encryption = _encryption(sse, sse_kms_key_id, sse_c_key_file)
    rate = bandwidth_limit(bwlimit)
    check_executor(executor, executor_workers)
    secret = read_secret(
        env_names=("BUCKETVAULT_SECRET_ACCESS_KEY",),
        file=secret_file,
        stdin=secret_stdin,
        what="secret access key",
    )
    if access_key and secret is None:
        raise UsageError(
            "an access key without a secret: pass --secret-file, --secret-stdin "
            "or set BUCKETVAULT_SECRET_ACCESS_KEY"
        )
    backup = BackupStore(
        url=backup_endpoint,
        region=backup_region,
        ca_bundle=backup_ca_bundle,
        insecure=insecure,
        encryption=encryption,
    )
    service = ServiceConfig(
        name=name,
        endpoint=EndpointConfig(
            url=endpoint,
            access_key_id=access_key,
            secret_access_key=secret,
            region=region,
            ca_bundle=ca_bundle,
            insecure=insecure,
        ),
        backup=backup,
        retention_days=retention_days,
        object_lock=lock,
        retention=retention.to_record(),
        include_buckets=includes,
        exclude_buckets=excludes,
        bucket_map=bucket_map,
        bwlimit=rate,
        executor=executor,
        executor_workers=executor_workers,
    )
    if check:
        from bucketvault.cli.store_checks import check_service

        check_service(service)
    if lock is not None:
        _check_object_lock(backup, name, lock)
    save_service(service)
    save_targets(name, targets)
    prefix = name.replace("/", "")
    output.info(f"Service {name!r} added: backups go to {backup_endpoint} as {prefix}-<bucket>.")


def _encryption(
    mode: str | None, kms_key_id: str | None, key_file: Path | None
) -> Encryption | None:
    """The backup store's encryption; an SSE-C key file is read (and its mode checked)
    now, so a bad one is refused before anything is saved."""
    if mode is None:
        if kms_key_id or key_file:
            raise UsageError("--sse-kms-key-id and --sse-c-key-file go with --sse")
        return None
    encryption = Encryption(
        mode=mode.lower(),
        kms_key_id=kms_key_id,
        key_file=str(key_file.resolve()) if key_file else None,
    )
    if encryption.key_file:
        from bucketvault.store.s3_sse import read_key

        read_key(Path(encryption.key_file))
    return encryption


def _object_lock(mode: str | None, days: int) -> tuple[str, int] | None:
    if mode is None:
        return None
    if mode.lower() not in ("governance", "compliance"):
        raise UsageError(f"--object-lock {mode!r}: use governance or compliance")
    if days < 1:
        raise UsageError("--lock-days must be 1 or more")
    return mode.upper(), days


def _check_object_lock(store: BackupStore, name: str, lock: tuple[str, int]) -> None:
    """Create and remove a probe bucket with Object Lock: a store without it is refused
    now, not silently downgraded at the first backup."""
    import os
    import secrets

    from bucketvault import event_loop
    from bucketvault.config.secret import Secret
    from bucketvault.store import open_endpoint
    from bucketvault.store.model import ObjectLock

    key = os.environ.get("BUCKETVAULT_BACKUP_ACCESS_KEY_ID")
    secret = os.environ.get("BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY")
    if not key or not secret:
        raise UsageError(
            "--object-lock is checked against the backup store: set "
            "$BUCKETVAULT_BACKUP_ACCESS_KEY_ID and $BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY"
        )

    async def probe() -> None:
        endpoint = open_endpoint(store.endpoint(key, Secret(secret)))
        bucket = endpoint.bucket(f"{name.replace('/', '')}-lock-probe-{secrets.token_hex(4)}")
        try:
            await bucket.create(object_lock=ObjectLock(mode=lock[0], days=lock[1]))
            await endpoint.delete_bucket(bucket.name)
        finally:
            await endpoint.close()

    event_loop.run(probe())


def _describe(service: ServiceConfig) -> dict[str, object]:
    from bucketvault.notify import load_targets
    from bucketvault.notify.targets import shown

    return {
        "name": service.name,
        "endpoint": service.endpoint.url,
        "access_key_id": service.endpoint.access_key_id,
        "secret_access_key": "set" if service.endpoint.secret_access_key else "not set",
        "backup_endpoint": service.backup.url,
        "backup_bucket_prefix": service.bucket_prefix,
        "retention_days": service.retention_days,
        "retention": service.retention,
        "object_lock": list(service.object_lock) if service.object_lock else None,
        "include_buckets": list(service.include_buckets),
        "exclude_buckets": list(service.exclude_buckets),
        "bucket_map": dict(service.bucket_map),
        "encryption": service.backup.encryption.mode if service.backup.encryption else None,
        "bwlimit": service.bwlimit,
        "executor": service.executor,
        "executor_workers": service.executor_workers,
        "notify": [shown(url) for url in load_targets(service.name)],  # paths hold tokens
    }


def _selection(service: ServiceConfig) -> str:
    """The buckets a service covers, in one column of `service list`."""
    parts = [f"include={','.join(service.include_buckets)}"] if service.include_buckets else []
    if service.exclude_buckets:
        parts.append(f"exclude={','.join(service.exclude_buckets)}")
    parts.extend(f"map:{live}={backup}" for live, backup in sorted(service.bucket_map.items()))
    return " ".join(parts) or "all buckets"


@app.command("list")
def list_services(
    json_output: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Registered services."""
    from bucketvault.config.services import load_services

    services = load_services()
    if json_output:
        output.print_json([_describe(s) for s in services.values()])
        return
    for service in services.values():
        output.print_data(
            f"{service.name}\t{service.endpoint.url}\t{service.backup.url}\t{_selection(service)}"
        )


@app.command("show")
def show(name: str) -> None:
    """One service's settings (secrets are never shown)."""
    from bucketvault.config.services import get_service

    output.print_data(json.dumps(_describe(get_service(name)), indent=2))


@app.command("remove")
def remove(name: str) -> None:
    """Forget a service (its backups are not touched)."""
    from bucketvault.config.services import remove_service
    from bucketvault.notify import remove_targets
    from bucketvault.plans.secrets import delete_service
    from bucketvault.schedules import ScheduleStore

    remove_service(name)
    kept = delete_service(name)
    remove_targets(name)
    dropped = ScheduleStore().remove_service(name)
    secrets = f", with the secrets kept for {kept} of its plans" if kept else ""
    if dropped:
        secrets += f" and its {dropped} schedule(s)"
    output.info(f"Service {name!r} removed{secrets}; its backup buckets were left untouched.")
