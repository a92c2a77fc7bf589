"""How `plan status` looks: the tree of REFERENCE.md §2, progress on running steps, and
the live display shown on a terminal while a plan runs in the foreground.

    restore (serial strategy) (IN_PROGRESS)
    ├─ init (serial strategy) (COMPLETE)
    │  └─ init-0:[init] (COMPLETE)
    └─ restore (serial strategy) (STARTED)
       └─ restore-0:[restore] (STARTED) 1,234/5,000 objects, 12.3 MiB/48.0 MiB, 8.1 MiB/s

followed, once steps have finished, by what each did (`Results:`) and the errors.

Everything here works on the status JSON, so both back-ends (in-process, HTTP) render
the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_RUNNING = {"STARTING", "STARTED", "DELAYED"}
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: float) -> str:
    if n < 1024:
        return f"{int(n)} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def progress_text(progress: Mapping[str, Any] | None) -> str:
    """`1,234/5,000 objects, 12.3 MiB/48.0 MiB, 8.1 MiB/s` (parts that are known)."""
    if not progress:
        return ""
    parts = []
    done, total = progress.get("objects_done") or 0, progress.get("objects_total")
    parts.append(f"{done:,}/{total:,} objects" if total is not None else f"{done:,} objects")
    bdone, btotal = progress.get("bytes_done") or 0, progress.get("bytes_total")
    if bdone or btotal:
        size = human_bytes(bdone)
        parts.append(f"{size}/{human_bytes(btotal)}" if btotal is not None else size)
    rate = progress.get("rate_bytes_per_s") or 0
    if rate:
        parts.append(f"{human_bytes(rate)}/s")
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
    """What each finished step did (`- backup-photos: backed up photos → 12 objects …`)."""
    return [
        f"- {step['name']}: {step['message']}"
        for phase in status.get("phases", [])
        for step in phase.get("steps", [])
        if step.get("message") and step["status"] not in _RUNNING and step["status"] != "ERROR"
    ]


def render_tree(plan: str, status: Mapping[str, Any]) -> str:
    return "\n".join(tree_lines(plan, status))
