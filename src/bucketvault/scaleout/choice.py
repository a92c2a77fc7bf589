"""The executor a run asks for, checked before anything is opened (cheap to import)."""

from __future__ import annotations

from bucketvault.errors import UsageError

EXECUTORS = ("inline", "processes", "ray")


def check_executor(name: str, workers: int | None) -> None:
    if name not in EXECUTORS:
        raise UsageError(f"--executor {name!r} is not one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise UsageError("--executor-workers must be at least 1")
    if workers is not None and name == "inline":
        raise UsageError("--executor-workers goes with --executor processes or ray")
