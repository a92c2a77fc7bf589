"""Accounting: every object a mirror sees ends in exactly one bucket of the summary.

One `Transfer` per copy attempt counts bytes as they stream; a retry takes its bytes
back out, and an object counts as copied only after its checksums were verified.
`snapshot()` gives one frozen record used by the CLI (`--json`), the plans' stored
progress and the API alike.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_LISTED_KEYS = 1000  # keys kept per list (failed, conflicts); counts stay exact


@dataclass(frozen=True, slots=True)
class FailedObject:
    key: str
    error: str


@dataclass(frozen=True, slots=True)
class MirrorSummary:
    source: str
    target: str
    dry_run: bool
    finished: bool
    elapsed_s: float
    listed_source: int
    listed_target: int
    planned_objects: int
    planned_bytes: int
    copied: int
    copied_bytes: int
    transferred_bytes: int
    skipped: int
    conflicts: int
    deleted: int
    kept_extra: int
    ignored: int
    failed: int
    retries: int
    delete_skipped_reason: str | None
    rate_bytes_per_s: float
    eta_s: float | None
    conflict_keys: tuple[str, ...]
    failed_objects: tuple[FailedObject, ...]

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["type"] = "summary" if self.finished else "progress"
        return record

    @property
    def ok(self) -> bool:
        return self.failed == 0


@dataclass
class MirrorStats:
    source: str = ""
    target: str = ""
    dry_run: bool = False
    listed_source: int = 0
    listed_target: int = 0
    planned_objects: int = 0
    planned_bytes: int = 0
    copied: int = 0
    copied_bytes: int = 0
    transferred_bytes: int = 0
    skipped: int = 0
    conflicts: int = 0
    deleted: int = 0
    kept_extra: int = 0
    ignored: int = 0
    failed: int = 0
    retries: int = 0
    failed_transient: int = 0  # failures still transient after their retries (store down?)
    finished: bool = False
    delete_skipped_reason: str | None = None
    conflict_keys: list[str] = field(default_factory=list)
    failed_objects: list[FailedObject] = field(default_factory=list)
    _started: float = field(default_factory=time.monotonic)
    _finished_at: float | None = None

    def plan_copy(self, size: int) -> None:
        self.planned_objects += 1
        self.planned_bytes += size

    def add_bytes(self, count: int) -> None:
        self.transferred_bytes += count

    def take_back(self, count: int) -> None:
        """A failed attempt's bytes no longer count as transferred."""
        self.transferred_bytes -= count

    def copy_done(self, size: int) -> None:
        self.copied += 1
        self.copied_bytes += size

    def conflict(self, key: str) -> None:
        self.conflicts += 1
        if len(self.conflict_keys) < MAX_LISTED_KEYS:
            self.conflict_keys.append(key)

    def fail(self, key: str, error: str, *, transient: bool = False) -> None:
        self.failed += 1
        if transient:
            self.failed_transient += 1
        if len(self.failed_objects) < MAX_LISTED_KEYS:
            self.failed_objects.append(FailedObject(key, error))

    def finish(self) -> None:
        self.finished = True
        self._finished_at = time.monotonic()

    def elapsed(self) -> float:
        end = self._finished_at if self._finished_at is not None else time.monotonic()
        return end - self._started

    def snapshot(self) -> MirrorSummary:
        elapsed = self.elapsed()
        rate = self.transferred_bytes / elapsed if elapsed > 0 else 0.0
        remaining = self.planned_bytes - self.transferred_bytes
        eta = remaining / rate if rate > 0 and not self.finished else None
        return MirrorSummary(
            source=self.source,
            target=self.target,
            dry_run=self.dry_run,
            finished=self.finished,
            elapsed_s=round(elapsed, 3),
            listed_source=self.listed_source,
            listed_target=self.listed_target,
            planned_objects=self.planned_objects,
            planned_bytes=self.planned_bytes,
            copied=self.copied,
            copied_bytes=self.copied_bytes,
            transferred_bytes=self.transferred_bytes,
            skipped=self.skipped,
            conflicts=self.conflicts,
            deleted=self.deleted,
            kept_extra=self.kept_extra,
            ignored=self.ignored,
            failed=self.failed,
            retries=self.retries,
            delete_skipped_reason=self.delete_skipped_reason,
            rate_bytes_per_s=round(rate, 1),
            eta_s=round(eta, 1) if eta is not None else None,
            conflict_keys=tuple(self.conflict_keys),
            failed_objects=tuple(self.failed_objects),
        )
