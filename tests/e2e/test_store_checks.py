"""`service add` and `alias set` test a store before saving it, and a store that refuses
is named — live store, backup store or alias — with where its credentials come from.

`rclone serve s3` checks credentials (moto accepts any), so wrong secrets are tried on it.
"""

from __future__ import annotations

import uuid

from bucketvault.errors import ExitCode
from bucketvault.loopback import LoopbackServer, free_port
from tests.conftest import boto_client, new_bucket_name
from tests.e2e.conftest import Own
from tests.e2e.helpers import Result, alias_env, put, run_cli

WRONG = "wrong-secret-" + uuid.uuid4().hex


def one_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines
    return lines[0]


def add(
    live: LoopbackServer, backup_url: str, secret: str, *extra: str, name: str = "minio"
) -> Result:
    return run_cli(
        "service", "add", name, "--endpoint", live.url, "--backup-endpoint", backup_url,
        "--access-key", live.access_key, *extra,
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": secret},
    )  # fmt: skip


def saved(name: str) -> bool:
    return run_cli("service", "show", name).exit_code == 0


def test_service_add_checks_the_live_credentials(rclone: LoopbackServer) -> None:
    refused = add(rclone, rclone.url, WRONG)
    assert refused.exit_code == ExitCode.STORE
    line = one_line(refused)
    assert f"the live store of service 'minio' at {rclone.url}: access denied" in line
    assert "access key or secret key is wrong" in line
    assert "bucketvault service add minio" in line and "not saved" in line
    assert "--no-check" in line
    assert "ACCESS_KEY_ID" not in line  # those are the backup store's plan parameters
    assert WRONG not in refused.stdout + refused.stderr
    assert not saved("minio")

    assert add(rclone, rclone.url, rclone.secret_key).exit_code == 0
    assert saved("minio")


def test_service_add_checks_that_the_backup_store_answers(rclone: LoopbackServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    refused = add(rclone, dead, rclone.secret_key)
    assert refused.exit_code == ExitCode.STORE
    line = one_line(refused)
    assert "the backup store of service 'minio'" in line and "cannot reach" in line, line
    assert dead in line and "not saved" in line
    assert not saved("minio")
    # without backup credentials, an answer that refuses anonymous access still proves
    # the backup store is there
    assert add(rclone, rclone.url, rclone.secret_key).exit_code == 0


def test_service_add_checks_backup_credentials_when_given(rclone: LoopbackServer) -> None:
    result = run_cli(
        "service", "add", "minio", "--endpoint", rclone.url, "--backup-endpoint", rclone.url,
        "--access-key", rclone.access_key,
        env={
            "BUCKETVAULT_SECRET_ACCESS_KEY": rclone.secret_key,
            "BUCKETVAULT_BACKUP_ACCESS_KEY_ID": rclone.access_key,
            "BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY": WRONG,
        },
    )  # fmt: skip
    assert result.exit_code == ExitCode.STORE
    line = one_line(result)
    assert "the backup store of service 'minio'" in line
    assert "$BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY" in line
    assert WRONG not in result.stderr
    assert not saved("minio")


def test_no_check_saves_untested() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = run_cli(
        "service", "add", "later", "--endpoint", dead, "--backup-endpoint", dead, "--no-check"
    )
    assert result.exit_code == 0, result.stderr
    assert saved("later")
    alias = run_cli("alias", "set", "later", dead, "--no-check")
    assert alias.exit_code == 0, alias.stderr


def test_alias_set_checks_credentials(rclone: LoopbackServer) -> None:
    refused = run_cli(
        "alias", "set", "live", rclone.url, "--access-key", rclone.access_key,
        "--secret-stdin", input=WRONG + "\n",
    )  # fmt: skip
    assert refused.exit_code == ExitCode.STORE
    line = one_line(refused)
    assert f"alias 'live' at {rclone.url}" in line and "bucketvault alias set live" in line
    assert "not saved" in line and "ACCESS_KEY_ID" not in line
    assert WRONG not in refused.stderr
    assert run_cli("alias", "list").stdout == ""

    dead = run_cli("alias", "set", "dead", f"http://127.0.0.1:{free_port()}")
    assert dead.exit_code == ExitCode.STORE and "cannot reach" in one_line(dead)

    good = run_cli(
        "alias", "set", "live", rclone.url, "--access-key", rclone.access_key,
        "--secret-stdin", input=rclone.secret_key + "\n",
    )  # fmt: skip
    assert good.exit_code == 0, good.stderr
    assert run_cli("alias", "list").stdout.startswith("live\t")


def test_wrong_live_secret_names_the_live_store(rclone: LoopbackServer) -> None:
    """The plan's -p credentials are right; the live store's saved secret is not."""
    assert add(rclone, rclone.url, WRONG, "--no-check").exit_code == 0
    creds = (
        "-p",
        f"ACCESS_KEY_ID={rclone.access_key}",
        "-p",
        f"SECRET_ACCESS_KEY={rclone.secret_key}",
    )
    for plan in ("backup", "verify"):
        result = run_cli("--name=minio", "plan", "start", plan, *creds)
        assert result.exit_code == ExitCode.STORE, (plan, result.stderr)
        line = one_line(result)
        assert f"the live store of service 'minio' at {rclone.url}" in line, line
        assert "bucketvault service add minio" in line and "--replace" in line, line
        assert "ACCESS_KEY_ID" not in line, line
        assert WRONG not in result.stdout + result.stderr


def test_wrong_backup_secret_names_the_backup_store(
    rclone: LoopbackServer, moto: LoopbackServer, owned: Own
) -> None:
    bucket = owned(moto, new_bucket_name("live"))
    boto_client(moto).create_bucket(Bucket=bucket)
    assert add(moto, rclone.url, moto.secret_key).exit_code == 0
    creds = ("-p", f"ACCESS_KEY_ID={rclone.access_key}", "-p", f"SECRET_ACCESS_KEY={WRONG}")
    result = run_cli("--name=minio", "plan", "start", "verify", *creds)
    assert result.exit_code == ExitCode.STORE, result.stderr
    text = result.stdout + result.stderr
    assert f"the backup store of service 'minio' at {rclone.url}" in text, text
    assert "ACCESS_KEY_ID and SECRET_ACCESS_KEY" in text
    assert WRONG not in text


def test_mirror_names_the_alias_that_refused(
    rclone: LoopbackServer, moto: LoopbackServer, owned: Own
) -> None:
    bucket = owned(moto, new_bucket_name("src"))
    boto_client(moto).create_bucket(Bucket=bucket)
    put(moto, bucket, "a.txt", b"a")
    env = {
        **alias_env(m=moto),
        "BUCKETVAULT_ALIAS_R": f"http://{rclone.access_key}:{WRONG}@127.0.0.1:{rclone.port}",
    }
    result = run_cli("mirror", f"m/{bucket}", f"r/{bucket}", env=env)
    assert result.exit_code == ExitCode.STORE
    line = one_line(result)
    assert "alias 'r'" in line and "$BUCKETVAULT_ALIAS_R" in line, line
    assert "ACCESS_KEY_ID" not in line and WRONG not in line
