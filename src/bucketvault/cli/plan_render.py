"""How `plan status` looks: the tree of REFERENCE.md §2, progress on running steps, and
the live display shown on a terminal while a plan runs in the foreground.

    restore (serial strategy) (IN_PROGRESS)
    ├─ init (serial strategy) (COMPLETE)
    │  └─ init-0:[init] (COMPLETE)
    └─ restore (serial strategy) (STARTED)
       └─ restore-0:[restore] (STARTED) 1,234/5,000 objects, 12.3 MiB/48.0 MiB, 8.1 MiB/s, ETA 4s

followed, once steps have finished, by what each did (`Results:`, failed steps too, so
a verify lists every bucket's outcome) and the errors; and `plan logs`, the history.

Everything here works on the status JSON, so both back-ends (in-process, HTTP) render
the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from bucketvault.units import count, human_bytes, human_duration

__all__ = ["human_bytes", "log_lines", "progress_text", "render_tree", "result_lines"]

_RUNNING = {"STARTING", "STARTED", "DELAYED"}


def progress_text(progress: Mapping[str, Any] | None) -> str:
    """`1,234/5,000 objects, 12.3 MiB/48.0 MiB, 8.1 MiB/s, ETA 4s` (parts that are known)."""
    if not progress:
        return ""
    parts = []
    done, total = progress.get("objects_done") or 0, progress.get("objects_total")
    parts.append(
        f"{done:,}/{count(total, 'object')}" if total is not None else count(done, "object")
    )
    bdone, btotal = progress.get("bytes_done") or 0, progress.get("bytes_total")
    if bdone or btotal:
        size = human_bytes(bdone)
        parts.append(f"{size}/{human_bytes(btotal)}" if btotal is not None else size)
    rate = progress.get("rate_bytes_per_s") or 0
    if rate:
        parts.append(f"{human_bytes(rate)}/s")
    eta = progress.get("eta_s")
    if eta is not None:
        parts.append(f"ETA {human_duration(eta)}")
    failed = progress.get("failed") or 0
    if failed:
        parts.append(f"{failed:,} failed")
    return ", ".join(parts)


def tree_lines(plan: str, status: Mapping[str, Any]) -> list[str]:
    lines = [f"{plan} ({status['strategy']} strategy) ({status['status']})"]
    phases = status.get("phases", [])
    for i, phase in enumerate(phases):
        last_phase = i == len(phases) - 1
        lines.append(
            f"{'└─' if last_phase else '├─'} {phase['name']} "
            f"({phase['strategy']} strategy) ({phase['status']})"
        )
        indent = "   " if last_phase else "│  "
        steps = phase.get("steps", [])
        for j, step in enumerate(steps):
            branch = "└─" if j == len(steps) - 1 else "├─"
            line = f"{indent}{branch} {step['name']} ({step['status']})"
            if step["status"] in _RUNNING:
                extra = progress_text(step.get("progress"))
                if extra:
                    line += f" {extra}"
            lines.append(line)
    results = result_lines(status)
    if results:
        lines += ["", "Results:", *results]
    errors = status.get("errors") or []
    if errors:
        lines += ["", "Errors:", *(f"- {error}" for error in errors)]
    return lines


def result_lines(status: Mapping[str, Any]) -> list[str]:
    """What each finished step did (`- backup-photos: backed up photos → 12 objects …`);
    a failed step's line says so, so every bucket's outcome is listed."""
    lines = []
    errors = set(status.get("errors") or ())
    for phase in status.get("phases", []):
        for step in phase.get("steps", []):
            if not step.get("message") or step["status"] in _RUNNING:
                continue
            if step["message"] in errors:
                continue  # a step that failed as a whole: its line is under Errors
            failed = "FAILED: " if step["status"] == "ERROR" else ""
            lines.append(f"- {step['name']}: {failed}{step['message']}")
    return lines


def outcome_code(status: Mapping[str, Any]) -> int:
    """The exit code a plan's status JSON means: 0 COMPLETE with all work done; the
    highest code a completed step recorded (7 partial over 4 conflicts kept); 7 in ERROR."""
    if status.get("status") == "ERROR":
        return 7
    if status.get("status") != "COMPLETE":
        return 0
    codes = [
        int(step.get("exit_code") or 0)
        for phase in status.get("phases", [])
        for step in phase.get("steps", [])
    ]
    return max(codes, default=0)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def log_lines(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """`plan logs` as text: one line per entry (time, step or `plan`, status, message),
    then its counts and first errors indented under it."""
    lines = []
    for event in events:
        who = event.get("step") or (f"phase {event['phase']}" if event.get("phase") else "plan")
        head = f"{_when(float(event['at']))}  {who}  {event['status']}"
        attempt = event.get("attempt")
        if attempt and attempt > 1:
            head += f" (attempt {attempt})"
        if event.get("message"):
            head += f"  {event['message']}"
        lines.append(head)
        progress = event.get("progress")
        if progress:
            lines.append(f"    {progress_text({**progress, 'rate_bytes_per_s': 0, 'eta_s': None})}")
        errors = event.get("first_errors") or []
        if errors:
            total = int(event.get("error_count") or len(errors))
            lines.append(f"    first errors ({len(errors)} of {total:,}):")
            lines += [f"      {line}" for line in errors]
        lines += [f"    {line}" for line in event.get("details") or []]
    return lines


def render_tree(plan: str, status: Mapping[str, Any]) -> str:
    return "\n".join(tree_lines(plan, status))
