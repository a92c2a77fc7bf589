"""`bucketvault --name=SVC snapshot list|diff`: the history of a service's backups.

Everything is read from the backup store itself, so this works on a machine that only
knows the service (`service add`). The backup store's credentials come from
`-p ACCESS_KEY_ID=… -p SECRET_ACCESS_KEY=…` as for plans, or from
$BUCKETVAULT_BACKUP_ACCESS_KEY_ID / $BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer

from bucketvault import event_loop
from bucketvault.cli.context import global_options
from bucketvault.cli.output import print_data, print_json
from bucketvault.cli.plan_cmd import parse_params
from bucketvault.errors import UsageError

if TYPE_CHECKING:
    from bucketvault.config.services import ServiceConfig
    from bucketvault.history.record import Header
    from bucketvault.store.base import Endpoint

app = typer.Typer(
    help="List and compare the snapshots of a service's backups.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.callback()
def _service_option(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Option("--name", help="The service (also accepted before `snapshot`)."),
    ] = None,
) -> None:
    """`bucketvault snapshot --name=SVC …` works as well as `bucketvault --name=SVC snapshot …`."""
    if name is not None:
        global_options(ctx).name = name


ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "-p",
        "--param",
        help="ACCESS_KEY_ID=… and SECRET_ACCESS_KEY=… of the backup store "
        "(or $BUCKETVAULT_BACKUP_ACCESS_KEY_ID / $BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY).",
    ),
]


def _service(ctx: typer.Context) -> ServiceConfig:
    from bucketvault.config.services import get_service

    name = global_options(ctx).name
    if not name:
        raise UsageError("which service? pass --name=SERVICE before `snapshot`")
    return get_service(name)


def _backup_endpoint(service: ServiceConfig, given: Mapping[str, str]) -> Endpoint:
    from bucketvault.cli.credentials import with_backup_credentials
    from bucketvault.config.secret import Secret
    from bucketvault.store import open_endpoint

    params = with_backup_credentials(dict(given))
    key, secret = params.get("ACCESS_KEY_ID"), params.get("SECRET_ACCESS_KEY")
    if not key or not secret:
        raise UsageError(
            "the backup store's credentials are missing: pass -p ACCESS_KEY_ID=… "
            "-p SECRET_ACCESS_KEY=… or set $BUCKETVAULT_BACKUP_ACCESS_KEY_ID and "
            "$BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY"
        )
    return open_endpoint(service.backup.endpoint(key, Secret(secret)))


async def _headers(service: ServiceConfig, endpoint: Endpoint, bucket: str | None) -> list[Header]:
    from bucketvault.history import catalog

    if bucket:
        names = [
            bucket if bucket.startswith(service.bucket_prefix) else service.backup_bucket(bucket)
        ]
    else:
        names = [b for b in await endpoint.list_buckets() if b.startswith(service.bucket_prefix)]
    found: list[Header] = []
    for name in names:
        found.extend(await catalog.headers(endpoint, name))
    return sorted(found, key=lambda h: (h.completed, h.bucket))


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@app.command("list")
def list_snapshots(
    ctx: typer.Context,
    bucket: Annotated[
        str | None, typer.Argument(help="A bucket (or its backup bucket); default: all.")
    ] = None,
    param: ParamOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Every snapshot: id, time, bucket, objects, bytes, and what changed since the one
    before."""
    service = _service(ctx)
    params = parse_params(param or [])

    async def run() -> list[Header]:
        endpoint = _backup_endpoint(service, params)
        try:
            return await _headers(service, endpoint, bucket)
        finally:
            await endpoint.close()

    found = event_loop.run(run())
    if json_output:
        for header in found:
            print_json(header.to_record())
        return
    width = max([len(h.bucket) for h in found] + [6])
    print_data(
        f"{'ID':<23}  {'TIME (UTC)':<19}  {'BUCKET':<{width}}  {'OBJECTS':>9}  {'SIZE':>10}"
        "  ADDED/CHANGED/DELETED"
    )
    for h in found:
        print_data(
            f"{h.id:<23}  {h.completed:%Y-%m-%d %H:%M:%S}  {h.bucket:<{width}}  "
            f"{h.objects:>9,}  {_size(h.bytes):>10}  +{h.added:,} ~{h.changed:,} -{h.deleted:,}"
        )


@app.command("diff")
def diff(
    ctx: typer.Context,
    first: Annotated[str, typer.Argument(help="A snapshot id (a unique prefix is enough).")],
    second: Annotated[
        str | None, typer.Argument(help="Another snapshot id; default: the one after FIRST.")
    ] = None,
    bucket: Annotated[
        str | None, typer.Option("--bucket", help="The bucket, when ids repeat across buckets.")
    ] = None,
    param: ParamOpt = None,
) -> None:
    """The keys added (+), changed (M) and deleted (-) between two snapshots."""
    service = _service(ctx)
    params = parse_params(param or [])
    event_loop.run(_diff(service, params, first, second, bucket))


async def _diff(
    service: ServiceConfig,
    params: Mapping[str, str],
    first: str,
    second: str | None,
    bucket: str | None,
) -> None:
    from bucketvault.history import catalog
    from bucketvault.history.diff import diff_entries

    endpoint = _backup_endpoint(service, params)
    try:
        found = await _headers(service, endpoint, bucket)
        old = catalog.choose(found, snapshot=first)
        same = [h for h in found if h.backup_bucket == old.backup_bucket]
        if second is None:
            later = [h for h in same if h.completed > old.completed]
            if not later:
                raise UsageError(f"snapshot {old.id} is the latest: name a second one")
            new = later[0]
        else:
            new = catalog.choose(same, snapshot=second)
        root = endpoint.bucket(old.backup_bucket)
        async for sign, key in diff_entries(
            catalog.entries(root, old.id), catalog.entries(root, new.id)
        ):
            print_data(f"{sign} {key}")
    finally:
        await endpoint.close()
