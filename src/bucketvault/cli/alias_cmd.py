"""`bucketvault alias set|list|remove`: named S3 endpoints for `mirror`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bucketvault.cli import output
from bucketvault.cli.credentials import read_secret
from bucketvault.config.aliases import check_name, load_aliases, remove_alias, save_alias
from bucketvault.config.endpoint import EndpointConfig
from bucketvault.errors import UsageError

app = typer.Typer(
    help="Named S3 endpoints with credentials (like `mc alias`).", no_args_is_help=True
)


@app.command("set")
def set_alias(
    name: Annotated[str, typer.Argument(help="Alias name, used as ALIAS/bucket.")],
    url: Annotated[str, typer.Argument(help="Endpoint URL: http(s)://host[:port].")],
    access_key: Annotated[
        str | None, typer.Option(envvar="BUCKETVAULT_ACCESS_KEY_ID", help="Access key ID.")
    ] = None,
    secret_file: Annotated[
        Path | None, typer.Option(help="Read the secret access key from this file.")
    ] = None,
    secret_stdin: Annotated[
        bool, typer.Option(help="Read the secret access key from standard input.")
    ] = False,
    region: Annotated[str, typer.Option(help="Signing region.")] = "us-east-1",
    ca_bundle: Annotated[
        str | None, typer.Option(help="PEM file of CA certificates to trust for HTTPS.")
    ] = None,
    insecure: Annotated[
        bool, typer.Option(help="Do not verify TLS certificates (unsafe).")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            help="List the buckets first to test the endpoint and credentials (like "
            "`mc alias set`); --no-check saves without testing."
        ),
    ] = True,
) -> None:
    """Add or replace an alias. The secret comes from --secret-file, --secret-stdin,
    $BUCKETVAULT_SECRET_ACCESS_KEY or a hidden prompt — never the command line."""
    check_name(name)
    secret = read_secret(
        env_names=("BUCKETVAULT_SECRET_ACCESS_KEY",),
        file=secret_file,
        stdin=secret_stdin,
        what="secret access key",
    )
    if access_key and secret is None:
        raise UsageError(
            "an access key without a secret: pass --secret-file, --secret-stdin "
            "or set BUCKETVAULT_SECRET_ACCESS_KEY"
        )
    config = EndpointConfig(
        url=url,
        access_key_id=access_key,
        secret_access_key=secret,
        region=region,
        ca_bundle=ca_bundle,
        insecure=insecure,
    )
    if check:
        from bucketvault.cli.store_checks import check_alias

        check_alias(name, config)
    save_alias(name, config)
    output.info(f"Alias {name!r} saved.")


@app.command("list")
def list_aliases() -> None:
    """Aliases and their endpoints (never their secrets)."""
    for name, config in sorted(load_aliases().items()):
        key = config.access_key_id or "-"
        output.print_data(f"{name}\t{config.url}\t{key}")


@app.command("remove")
def remove(name: str) -> None:
    """Forget an alias."""
    remove_alias(name)
    output.info(f"Alias {name!r} removed.")
