"""What a task reports while running and when done."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bucketvault.mirror.stats import MirrorSummary

ProgressCallback = Callable[[MirrorSummary], None]

MAX_ERROR_LINES = 1000


@dataclass(frozen=True, slots=True)
class TaskResult:
    """`errors` non-empty means the step did not fully succeed (one line per problem).

    `exit_code` (ExitCode CONFLICT or PARTIAL) marks a task that finished but left work
    undone on purpose — objects differing at the target kept, deletions skipped — so
    its plan does not report plain success; `details` says which (the first keys)."""

    message: str
    errors: tuple[str, ...] = ()
    exit_code: int | None = None
    details: tuple[str, ...] = ()
