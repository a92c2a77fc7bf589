"""Live progress of a mirror: a rich bar on a terminal, JSON lines with --json, else nothing.

Sizes and rates are binary (`units.human_bytes`), and the rate and ETA shown are the
summary's own (`mirror.stats`: measured over recent transfer, none until it is sane),
not rich's columns, which use decimal units and their own start-up estimate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from bucketvault.cli import output
from bucketvault.units import count, human_bytes, human_duration

if TYPE_CHECKING:
    from bucketvault.mirror.stats import MirrorSummary

Snapshot = Callable[[], "MirrorSummary"]


@contextlib.asynccontextmanager
async def live_progress(
    snapshot: Snapshot, *, json_lines: bool, enabled: bool, interval: float = 1.0
) -> AsyncIterator[None]:
    if json_lines:
        task = asyncio.create_task(_json_ticker(snapshot, interval))
    elif enabled and output.err.is_terminal:
        task = asyncio.create_task(_bar(snapshot))
    else:
        yield
        return
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _json_ticker(snapshot: Snapshot, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        output.print_json(snapshot().as_dict())


def bar_text(s: MirrorSummary) -> str:
    """`12/40 objects, 3.0 MiB/9.5 MiB, 1.2 MiB/s, ETA 5s (listed 52, failed 0)`."""
    parts = [
        f"{s.copied:,}/{count(s.planned_objects, 'object')}",
        f"{human_bytes(s.transferred_bytes)}/{human_bytes(s.planned_bytes)}",
    ]
    if s.rate_bytes_per_s:
        parts.append(f"{human_bytes(s.rate_bytes_per_s)}/s")
    if s.eta_s is not None:
        parts.append(f"ETA {human_duration(s.eta_s)}")
    return ", ".join(parts) + f" (listed {s.listed_source:,}, failed {s.failed:,})"


async def _bar(snapshot: Snapshot) -> None:
    from rich.progress import BarColumn, Progress, TextColumn

    with Progress(
        BarColumn(),
        TextColumn("{task.description}"),
        console=output.err,
        transient=True,
    ) as bar:
        task = bar.add_task("mirroring", total=None)
        for _ in range(10**9):  # until cancelled
            s = snapshot()
            bar.update(
                task,
                completed=s.transferred_bytes,
                total=s.planned_bytes or None,
                description=bar_text(s),
            )
            await asyncio.sleep(0.2)


def human_size(n: float) -> str:
    """Kept for callers of the old name: the same binary units as everywhere."""
    return human_bytes(n)


def summary_lines(s: MirrorSummary) -> list[str]:
    verb = "would copy" if s.dry_run else "copied"
    lines = [
        f"{s.source} → {s.target}" + (" (dry run: nothing changed)" if s.dry_run else ""),
        f"  {verb} {count(s.copied if not s.dry_run else s.planned_objects, 'object')} "
        f"({human_size(s.copied_bytes if not s.dry_run else s.planned_bytes)}), "
        f"unchanged {s.skipped:,}, deleted {s.deleted:,}, failed {s.failed:,}, "
        f"conflicts {s.conflicts:,}, retries {s.retries:,}, "
        f"in {s.elapsed_s:.1f} s ({human_size(s.rate_bytes_per_s)}/s)",
    ]
    if s.conflicts:
        lines.append(
            f"  {count(s.conflicts, 'object')} "
            f"{'differs' if s.conflicts == 1 else 'differ'} at the target and "
            f"{'was' if s.conflicts == 1 else 'were'} kept (pass --overwrite to replace them):"
        )
        lines += [f"    {key}" for key in s.conflict_keys[:20]]
        if s.conflicts > 20:
            lines.append(f"    … and {s.conflicts - 20:,} more (see --json)")
    if s.failed:
        lines.append(f"  {count(s.failed, 'object')} failed:")
        lines += [f"    {f.key}: {f.error}" for f in s.failed_objects[:20]]
        if s.failed > 20:
            lines.append(f"    … and {s.failed - 20:,} more (see --json)")
    if s.delete_skipped_reason:
        lines.append(f"  deletes skipped: {s.delete_skipped_reason}")
    if s.kept_extra and not s.delete_skipped_reason:
        only = f"{count(s.kept_extra, 'object')} only at the target"
        lines.append(f"  {only} {'was' if s.kept_extra == 1 else 'were'} kept (see --remove)")
    return lines
