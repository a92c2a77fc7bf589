"""`service add --notify URL`: checked before anything is saved, kept private, shown
without its path, dropped with the service (with its schedules)."""

from __future__ import annotations

import json
from pathlib import Path

from bucketvault.errors import ExitCode
from bucketvault.notify import load_targets
from bucketvault.schedules import ScheduleStore
from tests.e2e.helpers import run_cli

HOOK = "https://hooks.example/services/T0KEN/B1/secretpath"


def _add(*extra: str) -> tuple[int, str]:
    result = run_cli(
        "service", "add", "minio", "--endpoint", "http://127.0.0.1:9", "--no-check", *extra
    )
    return result.exit_code, result.stderr


def test_notify_targets(bucketvault_home: Path) -> None:
    code, err = _add("--notify", HOOK, "--notify", "http://127.0.0.1:8080/hook", "--notify", HOOK)
    assert code == 0, err
    assert load_targets("minio") == [HOOK, "http://127.0.0.1:8080/hook"]
    assert (bucketvault_home / "notify.json").stat().st_mode & 0o777 == 0o600
    shown = run_cli("service", "show", "minio")
    assert json.loads(shown.stdout)["notify"] == [
        "https://hooks.example/…",
        "http://127.0.0.1:8080/…",
    ]
    assert "T0KEN" not in shown.stdout + shown.stderr
    listed = run_cli("service", "list", "--json")
    assert "T0KEN" not in listed.stdout

    ScheduleStore().add(service="minio", plan="backup", params={"ACCESS_KEY_ID": "a"}, every_s=60)
    removed = run_cli("service", "remove", "minio")
    assert removed.exit_code == 0 and "1 schedule(s)" in removed.stderr
    assert load_targets("minio") == [] and ScheduleStore().list_schedules() == []


def test_bad_notify_url_saves_nothing(bucketvault_home: Path) -> None:
    for bad in ("ftp://x/y", "hooks.example/x"):
        code, err = _add("--notify", bad)
        assert code == ExitCode.USAGE and "is not a webhook URL" in err, err
        assert err.count("\n") == 1
    assert run_cli("service", "list").stdout == ""
    assert not (bucketvault_home / "notify.json").exists()
    code, err = _add(*[f"--notify=http://127.0.0.1/{i}" for i in range(11)])
    assert code == ExitCode.USAGE and "at most 10" in err
