"""Everything a user can get wrong, table-driven: each case must give one clear line on
stderr, a non-zero (and the documented) exit code, and change no store: the live and
backup servers, the local directory target and the service configuration are compared
before and after."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bucketvault.errors import ExitCode
from bucketvault.loopback import LoopbackServer, free_port
from tests.conftest import boto_client, new_bucket_name
from tests.e2e.helpers import put, run_cli
from tests.reliability.conftest import RowFactory
from tests.reliability.support import (
    QUICK_ENGINE,
    add_service,
    alias_url,
    bucket_names,
    corpus,
    creds,
    engine,
    list_keys,
    seed,
)


@dataclass
class World:
    live: LoopbackServer
    backup: LoopbackServer
    moto: LoopbackServer
    home: Path
    files: Path
    odd_bucket: str
    env: dict[str, str] = field(default_factory=dict)

    def state(self) -> dict[str, object]:
        """Everything a case must leave unchanged."""
        servers = {}
        for name, server in (("live", self.live), ("backup", self.backup)):
            servers[name] = {b: list_keys(server, b) for b in bucket_names(server)}
        servers["moto"] = list_keys(self.moto, self.odd_bucket)
        files = sorted(
            (p.relative_to(self.files).as_posix(), p.stat().st_size) for p in self.files.rglob("*")
        )
        services = (self.home / "services.json").read_bytes()
        return {"servers": servers, "files": files, "services": hashlib.md5(services).hexdigest()}


@pytest.fixture
def world(
    rclone_pair: tuple[LoopbackServer, LoopbackServer],
    moto: LoopbackServer,
    bucketvault_home: Path,
    tmp_path: Path,
) -> World:
    live, backup = rclone_pair
    seed(live, "photos", corpus(5, seed=81))
    seed(backup, "minio-photos", corpus(5, seed=81))
    odd = new_bucket_name("odd")
    boto_client(moto).create_bucket(Bucket=odd)
    for key in ("a//b", "x/../y", "trailing/"):  # S3 holds them; a directory cannot
        put(moto, odd, key, b"odd")
    add_service("minio", live.url, backup.url, live)
    add_service("dead", f"http://127.0.0.1:{free_port()}", backup.url, live)
    files = tmp_path / "files"
    files.mkdir()
    env = {
        "BUCKETVAULT_ALIAS_LIVE": alias_url(live),
        "BUCKETVAULT_ALIAS_BAD": alias_url(live).replace(live.secret_key, "wrong-secret"),
        "BUCKETVAULT_ALIAS_DEAD": f"http://k:s@127.0.0.1:{free_port()}",
        "BUCKETVAULT_ALIAS_ODD": alias_url(moto),
    }
    return World(live, backup, moto, bucketvault_home, files, odd, env)


@contextlib.contextmanager
def full_disk(path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs at `path` (needs root and mount; else the case is skipped)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


Setup = Callable[[World], list[str]]

P = ["--name=minio", "plan"]
CREDS = "CREDS"
BADCREDS = "BADCREDS"


@dataclass(frozen=True)
class Case:
    what: str
    args: tuple[str, ...]
    code: int
    says: str
    setup: Callable[[World], None] | None = None
    # a copy run: what could be copied may be; the failing objects must leave no trace
    copies: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # set for this run only


def _garbage(name: str) -> Callable[[World], None]:
    def write(world: World) -> None:
        (world.home / name).write_text("{ this is not json", encoding="utf-8")

    return write


def _bad_live_service(world: World) -> None:
    result = run_cli(
        "service", "add", "badlive", "--endpoint", world.live.url, "--backup-endpoint",
        world.backup.url, "--access-key", world.live.access_key, "--no-check",
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": "wrong-secret"},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr


def _completed_backup(world: World) -> None:
    result = run_cli(*P, "start", "backup", *creds(world.backup))
    assert result.exit_code == 0, result.stderr


def _big_object(world: World) -> None:
    put(world.live, "photos", "huge.bin", b"\0" * (3 * 1024 * 1024))


CASES = [
    # malformed URLs
    Case("endpoint that is not a URL", ("service", "add", "x", "--endpoint", "not a url",
         "--access-key", "k"), ExitCode.USAGE, "not a url"),
    Case("backup endpoint with an unknown scheme", ("service", "add", "x", "--endpoint",
         "http://127.0.0.1:9", "--backup-endpoint", "ftp://example.com", "--access-key", "k"),
         ExitCode.USAGE, "ftp://"),
    Case("location with an unknown scheme", ("mirror", "ftp://h/b", "FILES"), ExitCode.USAGE,
         "scheme"),
    Case("location naming no bucket", ("mirror", "live/", "FILES"), ExitCode.USAGE, "no bucket"),
    Case("credentials inside a location URL", ("mirror", "http://k:s@127.0.0.1:9/b", "FILES"),
         ExitCode.USAGE, "credentials"),
    # unreachable endpoints, wrong credentials
    Case("unreachable endpoint (mirror)", ("mirror", "dead/b", "FILES"), ExitCode.STORE,
         "cannot reach"),
    Case("unreachable live store (plan)", ("--name=dead", "plan", "start", "backup", CREDS),
         ExitCode.STORE, "cannot reach"),
    Case("wrong secret key (mirror)", ("mirror", "bad/photos", "FILES"), ExitCode.STORE,
         "access denied"),
    Case("wrong backup credentials (plan)", (*P, "start", "backup", BADCREDS), ExitCode.STORE,
         "access denied"),
    # missing buckets, invalid names
    Case("missing source bucket", ("mirror", "live/nothere", "FILES"), ExitCode.NOT_FOUND,
         "does not exist"),
    Case("missing backup bucket", (*P, "start", "restore", CREDS, "-p", "S3_BUCKET=minio-nothere"),
         ExitCode.NOT_FOUND, "minio-nothere"),
    Case("invalid bucket name", (*P, "start", "restore", CREDS, "-p", "S3_BUCKET=minio-Bad_Name"),
         ExitCode.USAGE, "invalid"),
    Case("overlong bucket name", (*P, "start", "restore", CREDS, "-p", "S3_BUCKET=minio-photos",
         "-p", "TARGET_BUCKET=" + "b" * 64), ExitCode.USAGE, "at most 63"),
    Case("bucket of another service", (*P, "start", "restore", CREDS, "-p", "S3_BUCKET=other-x"),
         ExitCode.USAGE, "minio-"),
    # malformed -p parameters
    Case("-p without '='", (*P, "start", "backup", "-p", "NOEQUALS"), ExitCode.USAGE, "'='"),
    Case("-p with a bad name", (*P, "start", "backup", "-p", "1X=y"), ExitCode.USAGE, "1X"),
    Case("-p given twice", (*P, "start", "backup", CREDS, "-p", "ACCESS_KEY_ID=again"),
         ExitCode.USAGE, "twice"),
    Case("misspelt parameter", (*P, "start", "restore", CREDS, "-p", "S3_BUCKT=minio-photos"),
         ExitCode.USAGE, "S3_BUCKT"),
    Case("missing credentials", (*P, "start", "backup"), ExitCode.USAGE, "ACCESS_KEY_ID"),
    Case("non-boolean flag", (*P, "start", "restore", CREDS, "-p", "S3_BUCKET=minio-photos",
         "-p", "OVERWRITE=maybe"), ExitCode.USAGE, "OVERWRITE"),
    # unknown plans, phases, steps, services
    Case("unknown plan", (*P, "start", "nosuch"), ExitCode.NOT_FOUND, "nosuch"),
    Case("unknown plan (status)", (*P, "status", "nosuch"), ExitCode.NOT_FOUND, "nosuch"),
    Case("unknown phase", (*P, "pause", "backup", "nophase"), ExitCode.NOT_FOUND, "nophase"),
    Case("unknown step", (*P, "force-complete", "backup", "init", "nostep"), ExitCode.NOT_FOUND,
         "nostep"),
    Case("unknown service", ("--name=ghost", "plan", "start", "backup", CREDS),
         ExitCode.NOT_FOUND, "ghost"),
    # invalid config files
    Case("corrupt services.json", (*P, "status", "backup"), ExitCode.USAGE, "services.json",
         _garbage("services.json")),
    Case("corrupt aliases.json", ("mirror", "saved/b", "FILES"), ExitCode.USAGE, "aliases.json",
         _garbage("aliases.json")),
    # what a local directory cannot hold, and a full disk
    Case("keys a local directory cannot hold", ("mirror", "ODD", "FILES"), ExitCode.PARTIAL,
         "cannot hold", copies=("a", "x", "trailing")),
    Case("full disk on a file:// target", ("mirror", "live/photos", "FULL"), ExitCode.STORE,
         "space", _big_object, copies=("huge.bin",)),
    # stores checked before a service or alias is saved (nothing is saved)
    Case("service add: wrong live secret", ("service", "add", "new", "--endpoint", "LIVEURL",
         "--backup-endpoint", "LIVEURL", "--access-key", "k", "WRONGFILE"), ExitCode.STORE,
         "not saved"),
    Case("service add: unreachable backup store", ("service", "add", "new", "--endpoint",
         "LIVEURL", "--backup-endpoint", "DEADURL", "--access-key", "LIVEKEY", "LIVEFILE"),
         ExitCode.STORE, "the backup store of service 'new'"),
    Case("alias set: wrong secret", ("alias", "set", "new", "LIVEURL", "--access-key", "k",
         "WRONGFILE"), ExitCode.STORE, "alias 'new'"),
    Case("wrong live secret (plan)", ("--name=badlive", "plan", "start", "backup", CREDS),
         ExitCode.STORE, "the live store of service 'badlive'", _bad_live_service),
    # bucket selection and name mapping
    Case("--map-bucket without '='", ("service", "add", "new", "--endpoint", "LIVEURL",
         "--map-bucket", "photos"), ExitCode.USAGE, "LIVE_BUCKET=BACKUP_BUCKET"),
    Case("--map-bucket outside the service prefix", ("service", "add", "new", "--endpoint",
         "LIVEURL", "--map-bucket", "photos=elsewhere"), ExitCode.USAGE, "must start with"),
    Case("--map-bucket to an invalid name", ("service", "add", "new", "--endpoint", "LIVEURL",
         "--map-bucket", "photos=new-Bad_Name"), ExitCode.USAGE, "invalid"),
    Case("empty --include-bucket", ("service", "add", "new", "--endpoint", "LIVEURL",
         "--include-bucket", ""), ExitCode.USAGE, "empty"),
    # bucket names are checked in a dry run as in a real one
    Case("invalid target bucket (mirror)", ("mirror", "live/photos", "live/Bad_Name"),
         ExitCode.USAGE, "invalid"),
    Case("invalid target bucket (mirror --dry-run)", ("mirror", "--dry-run", "live/photos",
         "live/Bad_Name"), ExitCode.USAGE, "invalid"),
    Case("invalid bucket name (prune DRY_RUN)", (*P, "start", "prune", CREDS, "-p",
         "S3_BUCKET=minio-Bad_Name", "-p", "DRY_RUN=true"), ExitCode.USAGE, "invalid"),
    # plan logs, and credentials given again to force-restart / resume (issue #9)
    Case("plan logs: unknown step", (*P, "logs", "backup", "nosuch"), ExitCode.NOT_FOUND,
         "step 'nosuch' not found"),
    Case("force-restart of a completed plan without its secret", (*P, "force-restart",
         "backup"), ExitCode.USAGE, "--secret-file", _completed_backup),
    Case("force-restart changing what the plan does", (*P, "force-restart", "backup", "-p",
         "S3_BUCKET=minio-x"), ExitCode.USAGE, "start it again", _completed_backup),
    Case("resume with an unreadable --secret-file", (*P, "resume", "backup", "--secret-file",
         "/nonexistent/secret"), ExitCode.USAGE, "cannot read"),
    Case("bandwidth limit that is not a rate", ("mirror", "live/photos", "FILES", "--bwlimit",
         "fast"), ExitCode.USAGE, "not a rate"),
    Case("unknown executor", ("mirror", "live/photos", "FILES", "--executor", "threads"),
         ExitCode.USAGE, "not one of"),
    Case("no workers", ("mirror", "live/photos", "FILES", "--executor", "processes",
         "--executor-workers", "0"), ExitCode.USAGE, "at least 1"),
    Case("workers for the inline executor", ("mirror", "live/photos", "FILES",
         "--executor-workers", "4"), ExitCode.USAGE, "goes with --executor processes or ray"),
    Case("a Ray cluster nobody runs", ("mirror", "live/photos", "FILES", "--executor", "ray"),
         ExitCode.USAGE, "no Ray cluster answers", env=(("RAY_ADDRESS", "127.0.0.1:9"),)),
    Case("service with an unknown executor", ("service", "add", "x", "--endpoint",
         "http://127.0.0.1:9", "--no-check", "--executor", "threads"), ExitCode.USAGE,
         "not one of"),
    Case("unknown server-side encryption", ("service", "add", "x", "--endpoint",
         "http://127.0.0.1:9", "--no-check", "--sse", "aes"), ExitCode.USAGE, "not one of"),
    Case("SSE-C without its key file", ("service", "add", "x", "--endpoint",
         "http://127.0.0.1:9", "--no-check", "--sse", "c"), ExitCode.USAGE, "--sse-c-key-file"),
    Case("SSE-C key file missing", ("service", "add", "x", "--endpoint", "http://127.0.0.1:9",
         "--no-check", "--sse", "c", "--sse-c-key-file", "/nonexistent/key"), ExitCode.USAGE,
         "cannot read the SSE-C key file"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_bad_input(case: Case, world: World, tmp_path: Path, table: RowFactory) -> None:
    row = table("bad input", case.what, done="bucketvault " + " ".join(case.args)[:120])
    if case.setup is not None:
        case.setup(world)
    with contextlib.ExitStack() as stack:
        args: list[str] = []
        for arg in case.args:
            if arg == CREDS:
                args += creds(world.backup)
            elif arg == BADCREDS:
                args += ["-p", f"ACCESS_KEY_ID={world.backup.access_key}", "-p",
                         "SECRET_ACCESS_KEY=wrong-secret"]  # fmt: skip
            elif arg == "FILES":
                args.append(f"file://{world.files}/copy")
            elif arg == "ODD":
                args.append(f"odd/{world.odd_bucket}")
            elif arg in ("WRONGFILE", "LIVEFILE"):
                secret = tmp_path / arg.lower()
                secret.write_text("wrong-secret" if arg == "WRONGFILE" else world.live.secret_key)
                args += ["--secret-file", str(secret)]
            elif arg == "LIVEURL":
                args.append(world.live.url)
            elif arg == "LIVEKEY":
                args.append(world.live.access_key)
            elif arg == "DEADURL":
                args.append(f"http://127.0.0.1:{free_port()}")
            elif arg == "FULL":
                disk = stack.enter_context(full_disk(world.files / "full"))
                args.append(f"file://{disk}/copy")
            else:
                args.append(arg)
        before = world.state()
        with engine(QUICK_ENGINE):
            result = run_cli(*args, env={**world.env, **dict(case.env)})
        lines = result.stderr.strip().splitlines()
        row.expected = f"exit {int(case.code)}"
        row.intact = f"exit {result.exit_code}"
        row.note(lines[-1][:200] if lines else "(no message)")
        after = world.state()
    assert result.exit_code == case.code, (result.exit_code, result.stderr)
    if case.code == ExitCode.PARTIAL:  # a summary, then one line per object that failed
        failed = [line for line in lines if case.says in line]
        assert len(failed) == 3 and all("cannot hold key" in line for line in failed), lines
    else:
        assert len(lines) == 1 and lines[0].startswith("Error:"), lines
        assert case.says.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.stderr
    if case.copies:
        assert after["servers"] == before["servers"] and after["services"] == before["services"]
        written = [name for name, _ in after["files"]]  # type: ignore[union-attr]
        left = [n for n in written if n.rsplit("/", 1)[-1].startswith((".bucketvault-tmp-",))]
        bad = [n for n in written if n.rsplit("/", 1)[-1] in case.copies or "/.." in n]
        row.note(f"the target holds {len(written)} entries afterwards (what could be copied)")
        assert not left and not bad, (left, bad)
    else:
        assert after == before, "the failed command changed a store"
