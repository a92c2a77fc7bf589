"""`bucketvault mirror SRC DST`: one-shot mirror between two locations.

The mirror engine, the stores and asyncio are imported when the command runs, not when
the command line is parsed: `--help` and usage errors stay fast.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Annotated

import typer

from bucketvault.cli import output
from bucketvault.cli.context import global_options
from bucketvault.config.locations import Location, parse_location
from bucketvault.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from bucketvault.mirror import MirrorOptions, MirrorSummary
    from bucketvault.mirror.decide import Action


def _overlap(source: Location, target: Location) -> bool:
    if source.endpoint.url != target.endpoint.url or source.bucket != target.bucket:
        return False
    return source.prefix.startswith(target.prefix) or target.prefix.startswith(source.prefix)


async def _run(
    source: Location, target: Location, options: MirrorOptions, *, json_lines: bool, show: bool
) -> MirrorSummary:
    from bucketvault.cli.progress import live_progress
    from bucketvault.mirror import MirrorJob, MirrorStats, run_mirror
    from bucketvault.store import open_endpoint

    source_endpoint = open_endpoint(source.endpoint)
    target_endpoint = open_endpoint(target.endpoint)
    stats = MirrorStats()
    # what is loaded by now lives as long as the run: spare the collector from walking
    # it again and again (3% of a small-object run's samples were full collections)
    gc.freeze()

    def on_action(key: str, action: Action, size: int) -> None:
        if options.dry_run:
            if json_lines:
                output.print_json(
                    {"type": "action", "action": action.value, "key": key, "size": size}
                )
            else:
                output.print_data(f"{action.value}\t{key}")

    try:
        job = MirrorJob(
            source_endpoint.bucket(source.bucket, source.prefix),
            target_endpoint.bucket(target.bucket, target.prefix),
            options,
        )
        async with live_progress(stats.snapshot, json_lines=json_lines, enabled=show):
            return await run_mirror(job, stats=stats, on_action=on_action)
    finally:
        await source_endpoint.close()
        await target_endpoint.close()


def mirror(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="ALIAS/bucket[/prefix], http(s)://…, s3://… or file:///dir")
    ],
    target: Annotated[str, typer.Argument(help="Same forms as SOURCE.")],
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Replace target objects whose content differs (default: keep and report)."
        ),
    ] = False,
    remove: Annotated[
        bool, typer.Option(help="Delete target objects absent from the source, after a clean copy.")
    ] = False,
    max_delete: Annotated[
        int | None, typer.Option(help="Refuse to delete more than this many objects.")
    ] = None,
    allow_empty_source: Annotated[
        bool, typer.Option(help="Let --remove empty the target when the source lists nothing.")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Print what would happen; change nothing.")] = False,
    include: Annotated[
        list[str] | None, typer.Option(help="Only keys matching this glob (repeatable).")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="Skip keys matching this glob (repeatable).")
    ] = None,
    newer_than: Annotated[
        str | None, typer.Option(help="Only objects modified after this age/date (7d, 2026-01-01).")
    ] = None,
    older_than: Annotated[
        str | None, typer.Option(help="Only objects modified before this age/date.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Objects copied concurrently.")] = 32,
    json_output: Annotated[
        bool, typer.Option("--json", help="JSON lines: progress records, then a summary record.")
    ] = False,
) -> None:
    """Make TARGET hold what SOURCE holds: new and changed objects copied and verified."""
    opts = global_options(ctx)
    src, dst = parse_location(source), parse_location(target)
    if _overlap(src, dst):
        raise UsageError("source and target overlap: choose a different bucket or prefix")

    import asyncio

    from bucketvault.cli.progress import summary_lines
    from bucketvault.mirror import MirrorOptions
    from bucketvault.mirror.filters import KeyFilter, parse_age

    options = MirrorOptions(
        overwrite=overwrite,
        remove=remove,
        max_delete=max_delete,
        allow_empty_source=allow_empty_source,
        dry_run=dry_run,
        workers=workers,
        filter=KeyFilter(
            include=tuple(include or ()),
            exclude=tuple(exclude or ()),
            newer_than=parse_age(newer_than) if newer_than else None,
            older_than=parse_age(older_than) if older_than else None,
        ),
    )
    summary = asyncio.run(_run(src, dst, options, json_lines=json_output, show=opts.verbosity >= 0))
    if json_output:
        output.print_json(summary.as_dict())
    elif opts.verbosity >= 0:
        for line in summary_lines(summary):
            output.info(line)
    # not success when work was left undone: 7 failed objects or skipped deletions,
    # 4 differing objects kept (the summary above says which)
    if summary.exit_code is not ExitCode.OK:
        raise SystemExit(int(summary.exit_code))
