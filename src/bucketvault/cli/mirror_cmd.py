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
from bucketvault.scaleout.choice import check_executor
from bucketvault.units import bandwidth_limit

if TYPE_CHECKING:
    from bucketvault.mirror import MirrorJob, MirrorOptions, MirrorSummary
    from bucketvault.mirror.decide import Action
    from bucketvault.store.base import Bucket, Endpoint
    from bucketvault.tasks.roles import StoreRole


def _overlap(source: Location, target: Location) -> bool:
    from bucketvault.mirror.narrow import as_folder

    if source.endpoint.url != target.endpoint.url or source.bucket != target.bucket:
        return False
    # paths compared as folders (`a/b` and `a/bc` are apart); an object `a/b` copied
    # into the folder `a/` would land on itself, and `a/b/` contains `a/b/`
    src, dst = as_folder(source.prefix), as_folder(target.prefix)
    return src.startswith(dst) or dst.startswith(src)


def _role(location: Location) -> StoreRole:
    from bucketvault.tasks.roles import alias_role, environment_role

    if location.alias is not None:
        return alias_role(location.alias, location.endpoint.url)
    return environment_role(location.endpoint.url)


async def _buckets(
    source_endpoint: Endpoint, source: Location, target_endpoint: Endpoint, target: Location
) -> tuple[Bucket, Bucket]:
    """The source and target of the mirror, by the path rule of `mirror.narrow`: a source
    path names one object (copied into the target folder under its own name) or a
    folder; the target path is always a folder."""
    from bucketvault.mirror.narrow import Narrowed, as_folder, names_object, split_object

    target_folder = target_endpoint.bucket(target.bucket, as_folder(target.prefix))
    # checked in a dry run as in a real one: a target the run would have to create
    # must have a name the store accepts (an existing one is used as it is)
    await _check_new_bucket(target_folder, target)
    path = source.prefix
    if path and not path.endswith("/"):
        folder, name = split_object(path)
        parent = source_endpoint.bucket(source.bucket, folder)
        if await names_object(parent, name):
            return Narrowed(parent, key=name), Narrowed(target_folder, key=name)
    return source_endpoint.bucket(source.bucket, as_folder(path)), target_folder


async def _check_new_bucket(bucket: Bucket, location: Location) -> None:
    from bucketvault.config.services import check_bucket_name
    from bucketvault.errors import PlanInputError

    if location.endpoint.is_local:
        return  # a directory name: the local store checks it when the bucket is opened
    try:
        check_bucket_name(location.bucket, "target bucket")
    except PlanInputError as exc:
        if not await bucket.exists():
            raise UsageError(f"{exc}, so it cannot be created: choose a valid name") from None


async def _run(
    source: Location,
    target: Location,
    options: MirrorOptions,
    *,
    json_lines: bool,
    show: bool,
    executor: str = "inline",
    executor_workers: int | None = None,
) -> MirrorSummary:
    from bucketvault.cli.progress import live_progress
    from bucketvault.mirror import MirrorJob, MirrorStats, run_mirror
    from bucketvault.store import open_endpoint
    from bucketvault.tasks.roles import as_stores

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
        # an error names the store by how it was given (alias or URL) and where its
        # credentials come from
        with as_stores((_role(source), _role(target))):
            pair = await _buckets(source_endpoint, source, target_endpoint, target)
            job = MirrorJob(*pair, options)
            async with live_progress(stats.snapshot, json_lines=json_lines, enabled=show):
                if executor == "inline" or not _spreadable(job):
                    return await run_mirror(job, stats=stats, on_action=on_action)
                from bucketvault.scaleout.run import plain, run_spread

                return await run_spread(
                    plain(job, source.endpoint, target.endpoint),
                    executor,
                    executor_workers,
                    stats=stats,
                    on_action=on_action,
                )
    finally:
        await source_endpoint.close()
        await target_endpoint.close()


def _spreadable(job: MirrorJob) -> bool:
    """A single object is not worth spreading: it goes the one-process way."""
    from bucketvault.mirror.narrow import Narrowed

    return not isinstance(job.source, Narrowed)


def mirror(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            help="ALIAS/bucket[/path], http(s)://…, s3://… or file:///dir. A path ending in "
            "'/' is a folder; one without is the object of that key (copied into TARGET "
            "under its own name), or else the folder."
        ),
    ],
    target: Annotated[str, typer.Argument(help="Same forms as SOURCE; a path is a folder.")],
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
    workers: Annotated[
        int, typer.Option(help="Objects copied concurrently (by each executor worker).")
    ] = 32,
    executor: Annotated[
        str,
        typer.Option(
            help="Where the work runs: inline (this process), processes (worker processes "
            "on this machine) or ray (the Ray cluster at $RAY_ADDRESS, or a local one)."
        ),
    ] = "inline",
    executor_workers: Annotated[
        int | None,
        typer.Option(help="Workers for --executor processes/ray (default: one per CPU)."),
    ] = None,
    bwlimit: Annotated[
        str | None,
        typer.Option(
            help="Bandwidth limit for the whole run, like rclone's: 10M = 10 MiB/s "
            "(each byte is read once and written once)."
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="JSON lines: progress records, then a summary record.")
    ] = False,
) -> None:
    """Make TARGET hold what SOURCE holds: new and changed objects copied and verified."""
    opts = global_options(ctx)
    src, dst = parse_location(source), parse_location(target)
    if _overlap(src, dst):
        raise UsageError("source and target overlap: choose a different bucket or prefix")
    rate = bandwidth_limit(bwlimit)

    from bucketvault import event_loop
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
        bwlimit=rate,
        filter=KeyFilter(
            include=tuple(include or ()),
            exclude=tuple(exclude or ()),
            newer_than=parse_age(newer_than) if newer_than else None,
            older_than=parse_age(older_than) if older_than else None,
        ),
    )
    check_executor(executor, executor_workers)
    summary = event_loop.run(
        _run(
            src,
            dst,
            options,
            json_lines=json_output,
            show=opts.verbosity >= 0,
            executor=executor,
            executor_workers=executor_workers,
        )
    )
    if json_output:
        output.print_json(summary.as_dict())
    elif opts.verbosity >= 0:
        for line in summary_lines(summary):
            output.info(line)
    # not success when work was left undone: 7 failed objects or skipped deletions,
    # 4 differing objects kept (the summary above says which)
    if summary.exit_code is not ExitCode.OK:
        raise SystemExit(int(summary.exit_code))
