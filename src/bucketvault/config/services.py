"""Services: the object stores bucketvault protects.

A service is a name, the S3 endpoint of the live store (MinIO) with its credentials,
and the URL of its backup store (default AWS S3). Backup-store credentials are not
kept here: the plans take them as ACCESS_KEY_ID / SECRET_ACCESS_KEY parameters, as
the DC/OS MinIO service did. Services live in `<home>/services.json`, mode 0600.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bucketvault.config.aliases import endpoint_from_record, endpoint_to_record
from bucketvault.config.endpoint import (
    AWS_S3_URL,
    Encryption,
    EndpointConfig,
    validate_endpoint_url,
)
from bucketvault.config.home import home_dir, read_json, write_private
from bucketvault.errors import ConfigError, NotFoundError, PlanInputError

MAX_BUCKET_NAME = 63
_SERVICE = re.compile(r"^/?[a-z0-9]([a-z0-9-]*[a-z0-9])?(/[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def check_service_name(name: str) -> str:
    if not _SERVICE.match(name):
        raise ConfigError(
            f"service name {name!r} is invalid: use lower-case letters, digits and '-' "
            "(folders separated by '/'), as it becomes part of backup bucket names"
        )
    return name


def check_bucket_name(name: str, what: str = "bucket") -> str:
    if len(name) > MAX_BUCKET_NAME:
        raise PlanInputError(
            f"{what} name {name!r} is {len(name)} characters; S3 allows at most {MAX_BUCKET_NAME}"
        )
    if not _BUCKET.match(name) or ".." in name:
        raise PlanInputError(
            f"{what} name {name!r} is invalid: 3-63 lower-case letters, digits, '.' or '-'"
        )
    return name


@dataclass(frozen=True, slots=True)
class BackupStore:
    url: str = AWS_S3_URL
    region: str = "us-east-1"
    ca_bundle: str | None = None
    insecure: bool = False
    # server-side encryption of every object written to the backup store
    encryption: Encryption | None = None

    def endpoint(self, access_key_id: str | None, secret: Any) -> EndpointConfig:
        """The backup store with these credentials (None: anonymous, to probe it)."""
        return EndpointConfig(
            url=self.url,
            access_key_id=access_key_id,
            secret_access_key=secret,
            region=self.region,
            ca_bundle=self.ca_bundle,
            insecure=self.insecure,
            encryption=self.encryption,
        )


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    name: str
    endpoint: EndpointConfig
    backup: BackupStore = field(default_factory=BackupStore)
    retention_days: float = 7.0
    # ("GOVERNANCE" | "COMPLIANCE", days): backup buckets are created with S3 Object Lock
    object_lock: tuple[str, int] | None = None
    # the snapshot retention policy (`history.retention.RetentionPolicy.to_record()`)
    retention: Mapping[str, Any] = field(default_factory=dict)
    # which live buckets the plans back up, restore and verify: fnmatch globs on the
    # live bucket name; no include means every bucket
    include_buckets: tuple[str, ...] = ()
    exclude_buckets: tuple[str, ...] = ()
    # live bucket -> backup bucket, for names the <service>-<bucket> rule cannot give
    # (over 63 characters); every mapped name still starts with the bucket prefix
    bucket_map: Mapping[str, str] = field(default_factory=dict)
    # bytes per second each backup or restore step may move (`--bwlimit`); None: no limit
    bwlimit: int | None = None
    # where each backup and restore step runs (`--executor`, `scaleout.choice`): inline,
    # processes or ray; `executor_workers` None means one per CPU of the machine or cluster
    executor: str = "inline"
    executor_workers: int | None = None

    def selects(self, bucket: str) -> bool:
        """Whether the service's plans cover the live bucket `bucket`."""
        if self.include_buckets and not any(
            fnmatch.fnmatchcase(bucket, glob) for glob in self.include_buckets
        ):
            return False
        return not any(fnmatch.fnmatchcase(bucket, glob) for glob in self.exclude_buckets)

    @property
    def bucket_prefix(self) -> str:
        """`<service-name>-` with '/' removed: the prefix of every backup bucket."""
        return self.name.replace("/", "") + "-"

    def backup_bucket(self, bucket: str) -> str:
        """The backup bucket of live bucket `bucket`: its --map-bucket name, else
        `<service>-<bucket>`; PlanInputError when that is no valid bucket name."""
        reason = self.unbackable(bucket)
        if reason is not None:
            raise PlanInputError(f"bucket {bucket!r}: {reason}")
        return self.bucket_map.get(bucket) or self.bucket_prefix + bucket

    def unbackable(self, bucket: str) -> str | None:
        """Why `bucket` has no backup bucket name, and what to do; None when it has one.
        Kept short: a step's message holds 300 characters, and names can be long."""
        if bucket in self.bucket_map:
            return None
        name = self.bucket_prefix + bucket
        if len(name) > MAX_BUCKET_NAME:
            why = f"would be {len(name)} characters (S3 allows {MAX_BUCKET_NAME})"
        elif not _BUCKET.match(name) or ".." in name:
            why = f"{name!r} is invalid (lower-case letters, digits, '.', '-')"
        else:
            owner = self._mapped_from(name)
            if owner is None:
                return None
            return f"its backup bucket {name!r} is --map-bucket {owner}'s: map one of them"
        return (
            f"its backup name {why}; add `--map-bucket {bucket}={self.bucket_prefix}<name>` "
            f"(service add {self.name} … --replace) or --exclude-bucket it"
        )

    def _mapped_from(self, backup_bucket: str) -> str | None:
        for live, backup in self.bucket_map.items():
            if backup == backup_bucket:
                return live
        return None

    def live_bucket(self, backup_bucket: str) -> str:
        mapped = self._mapped_from(backup_bucket)
        if mapped is not None:
            return mapped
        if not backup_bucket.startswith(self.bucket_prefix) or backup_bucket == self.bucket_prefix:
            raise PlanInputError(
                f"S3_BUCKET {backup_bucket!r} is not a backup of service {self.name!r}: "
                f"its name must start with {self.bucket_prefix!r}"
            )
        return backup_bucket[len(self.bucket_prefix) :]


def _path() -> Path:
    return home_dir() / "services.json"


def _to_record(service: ServiceConfig) -> dict[str, Any]:
    return {
        "endpoint": endpoint_to_record(service.endpoint),
        "backup": {
            "url": service.backup.url,
            "region": service.backup.region,
            "ca_bundle": service.backup.ca_bundle,
            "insecure": service.backup.insecure,
            "encryption": _encryption_record(service.backup.encryption),
        },
        "bwlimit": service.bwlimit,
        "executor": service.executor,
        "executor_workers": service.executor_workers,
        "retention_days": service.retention_days,
        "object_lock": list(service.object_lock) if service.object_lock else None,
        "retention": dict(service.retention),
        "include_buckets": list(service.include_buckets),
        "exclude_buckets": list(service.exclude_buckets),
        "bucket_map": dict(service.bucket_map),
    }


def _from_record(name: str, record: dict[str, Any]) -> ServiceConfig:
    where = f"service {name!r} in {_path()}"
    try:
        backup = record.get("backup") or {}
        url = str(backup.get("url") or AWS_S3_URL)
        validate_endpoint_url(url)
        return ServiceConfig(
            name=name,
            endpoint=endpoint_from_record(record["endpoint"], where),
            backup=BackupStore(
                url=url,
                region=str(backup.get("region") or "us-east-1"),
                ca_bundle=backup.get("ca_bundle"),
                insecure=bool(backup.get("insecure", False)),
                encryption=_encryption(backup.get("encryption")),
            ),
            bwlimit=int(record["bwlimit"]) if record.get("bwlimit") else None,
            executor=str(record.get("executor") or "inline"),
            executor_workers=(
                int(record["executor_workers"]) if record.get("executor_workers") else None
            ),
            retention_days=float(record.get("retention_days", 7.0)),
            object_lock=_object_lock(record.get("object_lock")),
            retention=dict(record.get("retention") or {}),
            include_buckets=tuple(str(g) for g in record.get("include_buckets") or ()),
            exclude_buckets=tuple(str(g) for g in record.get("exclude_buckets") or ()),
            bucket_map={str(k): str(v) for k, v in (record.get("bucket_map") or {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{where} is malformed ({exc}): remove and add it again") from None


def _encryption_record(encryption: Encryption | None) -> dict[str, Any] | None:
    if encryption is None:
        return None
    # the SSE-C key stays in its own 0600 file: only the file's path is kept here
    return {
        "mode": encryption.mode,
        "kms_key_id": encryption.kms_key_id,
        "key_file": encryption.key_file,
    }


def _encryption(value: Any) -> Encryption | None:
    if not value:
        return None
    return Encryption(
        mode=str(value["mode"]), kms_key_id=value.get("kms_key_id"), key_file=value.get("key_file")
    )


def _object_lock(value: Any) -> tuple[str, int] | None:
    if not value:
        return None
    mode, days = value
    return str(mode), int(days)


def parse_bucket_map(service_name: str, pairs: list[str]) -> dict[str, str]:
    """`--map-bucket LIVE=BACKUP` options: each BACKUP a valid bucket name that starts
    with the service's bucket prefix (restore, verify and synchronize-buckets find a
    service's backup buckets by that prefix), no BACKUP named twice."""
    prefix = service_name.replace("/", "") + "-"
    mapping: dict[str, str] = {}
    for pair in pairs:
        live, sep, backup = pair.partition("=")
        if not sep or not live or not backup:
            raise ConfigError(f"--map-bucket {pair!r}: use LIVE_BUCKET=BACKUP_BUCKET")
        check_bucket_name(backup, "--map-bucket backup bucket")
        if not backup.startswith(prefix) or backup == prefix:
            raise ConfigError(
                f"--map-bucket {pair!r}: the backup bucket must start with {prefix!r}, "
                f"as every backup bucket of service {service_name!r} does"
            )
        if live in mapping:
            raise ConfigError(f"--map-bucket maps bucket {live!r} twice: keep one")
        if backup in mapping.values():
            raise ConfigError(f"--map-bucket maps two buckets to {backup!r}: give each its own")
        mapping[live] = backup
    return mapping


def check_globs(option: str, globs: list[str]) -> tuple[str, ...]:
    for glob in globs:
        if not glob.strip():
            raise ConfigError(f"{option} is empty: give a bucket name or glob such as 'logs-*'")
    return tuple(globs)


def load_services() -> dict[str, ServiceConfig]:
    return {name: _from_record(name, record) for name, record in read_json(_path()).items()}


def get_service(name: str) -> ServiceConfig:
    services = load_services()
    if name not in services:
        import difflib

        known = ", ".join(sorted(services)) or "none yet"
        close = difflib.get_close_matches(name, list(services), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise NotFoundError(
            f"no service {name!r} ({hint}known: {known}): add it with "
            f"`bucketvault service add {name} --endpoint URL`"
        )
    return services[name]


def save_service(service: ServiceConfig) -> None:
    check_service_name(service.name)
    records = read_json(_path())
    records[service.name] = _to_record(service)
    write_private(_path(), json.dumps(records, indent=2, sort_keys=True))


def remove_service(name: str) -> None:
    records = read_json(_path())
    if name not in records:
        raise NotFoundError(f"no service {name!r}")
    del records[name]
    write_private(_path(), json.dumps(records, indent=2, sort_keys=True))
