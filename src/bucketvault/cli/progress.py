"""Live progress of a mirror: a rich bar on a terminal, JSON lines with --json, else nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from bucketvault.cli import output

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


async def _bar(snapshot: Snapshot) -> None:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=output.err,
        transient=True,
    ) as bar:
        task = bar.add_task("mirroring", total=None)
        while True:
            s = snapshot()
            bar.update(
                task,
                completed=s.transferred_bytes,
                total=s.planned_bytes or None,
                description=(
                    f"{s.copied:,}/{s.planned_objects:,} objects "
                    f"(listed {s.listed_source:,}, failed {s.failed:,})"
                ),
            )
            await asyncio.sleep(0.2)


def human_size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} TiB"  # pragma: no cover


def summary_lines(s: MirrorSummary) -> list[str]:
    verb = "would copy" if s.dry_run else "copied"
    lines = [
        f"{s.source} → {s.target}" + (" (dry run: nothing changed)" if s.dry_run else ""),
        f"  {verb} {s.copied if not s.dry_run else s.planned_objects:,} objects "
        f"({human_size(s.copied_bytes if not s.dry_run else s.planned_bytes)}), "
        f"unchanged {s.skipped:,}, deleted {s.deleted:,}, failed {s.failed:,}, "
        f"conflicts {s.conflicts:,}, retries {s.retries:,}, "
        f"in {s.elapsed_s:.1f} s ({human_size(s.rate_bytes_per_s)}/s)",
    ]
    if s.conflicts:
        lines.append(
            f"  {s.conflicts:,} object(s) differ at the target and were kept "
            "(pass --overwrite to replace them):"
        )
        lines += [f"    {key}" for key in s.conflict_keys[:20]]
        if s.conflicts > 20:
            lines.append(f"    … and {s.conflicts - 20:,} more (see --json)")
    if s.failed:
        lines.append(f"  {s.failed:,} object(s) failed:")
        lines += [f"    {f.key}: {f.error}" for f in s.failed_objects[:20]]
        if s.failed > 20:
            lines.append(f"    … and {s.failed - 20:,} more (see --json)")
    if s.delete_skipped_reason:
        lines.append(f"  deletes skipped: {s.delete_skipped_reason}")
    if s.kept_extra and not s.delete_skipped_reason:
        lines.append(f"  {s.kept_extra:,} object(s) only at the target were kept (see --remove)")
    return lines
