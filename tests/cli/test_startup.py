"""Start-up loads only what the command needs (timings are in bench/startup.py): what
each command line imports, checked in a fresh interpreter."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

from bucketvault import __version__
from bucketvault.store.tls import _system_context, tls_for

HEAVY = ("typer", "aiohttp", "awscrt", "fastapi", "pydantic", "httpx", "rich")
COMMAND_MODULES = ("plan_cmd", "service_cmd", "schedule_cmd", "snapshot_cmd", "serve_cmd")


def loaded_after(argv: list[str], tmp_path: Path) -> tuple[str, set[str]]:
    """Run `bucketvault ARGV` in a fresh interpreter; its stdout and the modules it loaded."""
    code = (
        "import json, sys\n"
        f"sys.argv = ['bucketvault', *{argv!r}]\n"
        "from bucketvault.cli.main import run\n"
        "try:\n"
        "    run()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"open({str(tmp_path / 'modules.json')!r}, 'w').write(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"BUCKETVAULT_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )
    modules = set(json.loads((tmp_path / "modules.json").read_text()))
    return done.stdout, modules


def top(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_version_loads_no_library(tmp_path: Path) -> None:
    out, modules = loaded_after(["--version"], tmp_path)
    assert out == f"bucketvault {__version__}\n"
    assert not top(modules) & set(HEAVY)


def test_a_local_mirror_loads_neither_the_s3_client_nor_other_commands(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    src, dst = f"file://{tmp_path}/src", f"file://{tmp_path}/dst"
    out, modules = loaded_after(["mirror", src, dst, "--json"], tmp_path)
    assert json.loads(out.splitlines()[-1])["copied"] == 1
    assert (tmp_path / "dst" / "a.txt").read_text() == "a"
    assert not top(modules) & {"aiohttp", "awscrt", "fastapi", "pydantic", "httpx"}
    assert not {f"bucketvault.cli.{name}" for name in COMMAND_MODULES} & modules


def test_help_still_lists_every_command(tmp_path: Path) -> None:
    out, _ = loaded_after(["--help"], tmp_path)
    commands = out.split("Commands:")[1].split()
    listed = [word for word in commands if word.isalpha() and word.islower()]
    expected = ["mirror", "serve", "demo", "plan", "service", "alias", "snapshot", "schedule"]
    assert [name for name in listed if name in expected] == expected


def test_no_ca_store_is_loaded_for_plain_http() -> None:
    before = _system_context.cache_info().currsize
    assert tls_for("http://127.0.0.1:9000", insecure=False, ca_bundle=None) is None
    assert tls_for("http://127.0.0.1:9000", insecure=True, ca_bundle=None) is None
    assert _system_context.cache_info().currsize == before
    context = tls_for("https://s3.example", insecure=False, ca_bundle=None)
    assert context is not None and context.cert_store_stats()["x509_ca"] > 0
    unverified = tls_for("https://s3.example", insecure=True, ca_bundle=None)
    assert unverified is not None and unverified.verify_mode == ssl.CERT_NONE
    assert not unverified.check_hostname
