"""`bucketvault demo`: back up a service, let ransomware hit it, and restore it as it was
before the attack — on two loopback S3 servers.

The story itself is in `demo_story.py`, imported only when the demo runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bucketvault.errors import ExitCode


def demo(
    server: Annotated[
        str, typer.Option(help="Loopback S3 server for both stores: moto (faithful) or rclone.")
    ] = "moto",
) -> None:
    """Back up a MinIO-like service, let ransomware hit it, and restore it to a point in
    time before the attack — on two loopback S3 servers."""
    if server not in ("moto", "rclone"):
        raise typer.BadParameter("use moto or rclone", param_hint="--server")
    from bucketvault.cli.demo_story import run_demo

    if not run_demo(server):
        raise SystemExit(int(ExitCode.INTEGRITY))
