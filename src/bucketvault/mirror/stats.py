"""Accounting: every object a mirror sees ends in exactly one bucket of the summary.

One `Transfer` per copy attempt counts bytes as they stream; a retry takes its bytes
back out, and an object counts as copied only after its checksums were verified.
`snapshot()` gives one frozen record used by the CLI (`--json`), the plans' stored
progress and the API alike.

The rate while running is measured over the last `RATE_WINDOW_S` seconds of transfer,
and only once at least `RATE_WARMUP_S` of it has been seen: a rate taken over the first
few milliseconds (one buffered chunk in no time) showed hundreds of MiB/s and an ETA of
nothing, and a rate averaged from the start of the run is dragged down by the listing
before any byte moved. Before that the rate is 0 (unknown) and the ETA None. A finished
run reports its average over the whole run.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bucketvault.errors import ExitCode

MAX_LISTED_KEYS = 1000  # keys kept per list (failed, conflicts); counts stay exact
RATE_WINDOW_S = 10.0  # the running rate is over this much recent time
RATE_WARMUP_S = 1.0  # and is shown only once this much transfer time has been seen
_SAMPLE_EVERY_S = 0.2


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
    failed_transient: int  # of `failed`, those still failing transiently after their retries
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

    @property
    def exit_code(self) -> ExitCode:
        """What the outcome means as an exit code: PARTIAL when objects failed or asked-for
        deletions were skipped (--max-delete, an empty source, failures), CONFLICT when
        objects that differ at the target were kept, OK when everything was done."""
        if self.failed or self.delete_skipped_reason:
            return ExitCode.PARTIAL
        if self.conflicts:
            return ExitCode.CONFLICT
        return ExitCode.OK


# what adds up across the parts of a run: every count of the summary
_COUNTS = tuple(field.name for field in fields(MirrorSummary) if field.type == "int")


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
    clock: Callable[[], float] = time.monotonic  # tests give a fake one
    _started: float = -1.0
    _finished_at: float | None = None
    _samples: deque[tuple[float, int]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if self._started < 0:
            self._started = self.clock()

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

    def count_retry(self) -> None:
        self.retries += 1

    def absorb(self, part: MirrorSummary) -> None:
        """Add the counts of one finished part of the run (a key range a worker did)."""
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(part, name))
        room = MAX_LISTED_KEYS - len(self.conflict_keys)
        self.conflict_keys.extend(part.conflict_keys[: max(0, room)])
        room = MAX_LISTED_KEYS - len(self.failed_objects)
        self.failed_objects.extend(part.failed_objects[: max(0, room)])

    def finish(self) -> None:
        self.finished = True
        self._finished_at = self.clock()

    def elapsed(self) -> float:
        end = self._finished_at if self._finished_at is not None else self.clock()
        return end - self._started

    def _recent_rate(self, now: float) -> float:
        """Bytes per second over the last RATE_WINDOW_S of transfer; 0 until RATE_WARMUP_S
        of it was seen (samples start with the first byte, so listing time is not in it)."""
        samples = self._samples
        if self.transferred_bytes > 0 and (not samples or now - samples[-1][0] >= _SAMPLE_EVERY_S):
            samples.append((now, self.transferred_bytes))
        while len(samples) > 1 and now - samples[1][0] >= RATE_WINDOW_S:
            samples.popleft()
        if not samples:
            return 0.0
        since, then = samples[0]
        if now - since < RATE_WARMUP_S:
            return 0.0
        return max(0.0, (self.transferred_bytes - then) / (now - since))

    def snapshot(self) -> MirrorSummary:
        elapsed = self.elapsed()
        if self.finished:
            rate = self.transferred_bytes / elapsed if elapsed > 0 else 0.0
        else:
            rate = self._recent_rate(self.clock())
        remaining = max(0, self.planned_bytes - self.transferred_bytes)
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
            failed_transient=self.failed_transient,
            delete_skipped_reason=self.delete_skipped_reason,
            rate_bytes_per_s=round(rate, 1),
            eta_s=round(eta, 1) if eta is not None else None,
            conflict_keys=tuple(self.conflict_keys),
            failed_objects=tuple(self.failed_objects),
        )
