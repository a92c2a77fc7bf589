"""PlanManager: status, start validation, running, failures and retries."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bucketvault.errors import ConflictError, NotFoundError, PlanInputError
from bucketvault.plans import secrets
from bucketvault.plans.state import StateStore
from bucketvault.plans.status import Status
from tests.plans.fakes import (
    FAST,
    RESTORE_PARAMS,
    SECRET,
    FakeWork,
    make_manager,
    state_bytes,
    step_status,
    wait_until,
)

RESTORE = "restore-0:[restore]"


def test_status_before_start_shows_template_waiting() -> None:
    m = make_manager()
    st = m.status("restore")
    assert st["status"] == "WAITING"
    assert st["strategy"] == "serial"
    assert [p["name"] for p in st["phases"]] == ["init", "restore"]
    assert all(p["status"] == "PENDING" for p in st["phases"])
    assert st["phases"][1]["steps"][0]["name"] == RESTORE
    assert st["errors"] == []
    assert m.status("restore")["phases"][0]["id"] == st["phases"][0]["id"]  # stable ids


def test_unknown_plan_names_the_known_ones() -> None:
    with pytest.raises(NotFoundError, match=r"plan 'nope' not found.*backup, restore, verify"):
        make_manager().status("nope")


async def test_start_and_run_to_complete(bucketvault_home: Path) -> None:
    work = FakeWork()
    m = make_manager(work=work)
    await m.start("restore", RESTORE_PARAMS)
    assert m.status("restore")["status"] == "PENDING"
    assert (bucketvault_home / "secrets" / "svc.restore.json").exists()
    assert await m.run("restore") is Status.COMPLETE
    st = m.status("restore")
    assert st["status"] == "COMPLETE"
    assert [p["status"] for p in st["phases"]] == ["COMPLETE", "COMPLETE"]
    assert work.runs == ["init-0:[init]", RESTORE]
    assert work.params_seen[0]["SECRET_ACCESS_KEY"] == SECRET  # steps get the real secret
    assert m.exit_code("restore") == 0
    assert not (bucketvault_home / "secrets" / "svc.restore.json").exists()
    assert SECRET.encode() not in state_bytes(bucketvault_home)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        pytest.param({**RESTORE_PARAMS, "bad-name": "x"}, "'bad-name'", id="bad-name"),
        pytest.param({**RESTORE_PARAMS, "1X": "x"}, "'1X'", id="leading-digit"),
        pytest.param({"ACCESS_KEY_ID": "a", "S3_BUCKET": "b"}, "SECRET_ACCESS_KEY", id="missing"),
    ],
)
async def test_start_validation_persists_nothing(
    params: dict[str, str], match: str, bucketvault_home: Path
) -> None:
    m = make_manager()
    with pytest.raises(PlanInputError, match=match):
        await m.start("restore", params)
    assert StateStore().load("svc", "restore") is None
    assert not (bucketvault_home / "secrets").exists()
    assert m.status("restore")["status"] == "WAITING"


async def test_parallel_steps_run_side_by_side() -> None:
    m = make_manager()
    await m.start("backup", {"KIND": "block"})
    run = asyncio.create_task(m.run("backup"))
    await wait_until(
        lambda: (
            step_status(m, "backup", "backup", "backup-a:[backup]") == "STARTED"
            and step_status(m, "backup", "backup", "backup-b:[backup]") == "STARTED"
        ),
        what="both parallel steps started",
    )
    assert m.status("backup")["phases"][1]["status"] == "STARTED"  # rule 12
    assert m.status("backup")["status"] == "IN_PROGRESS"
    m.stop("backup")
    assert await asyncio.wait_for(run, 5) is Status.WAITING


async def test_progress_is_reported() -> None:
    m = make_manager()
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "block"})
    run = asyncio.create_task(m.run("restore"))

    def progress() -> dict[str, object] | None:
        p: dict[str, object] | None = m.status("restore")["phases"][1]["steps"][0]["progress"]
        return p

    await wait_until(lambda: (progress() or {}).get("objects_done", 0) > 3, what="progress")
    assert set(progress() or {}) >= {"objects_done", "bytes_done", "rate_bytes_per_s"}
    assert m.interrupt("restore")
    await asyncio.wait_for(run, 5)


async def test_transient_failure_delays_then_succeeds() -> None:
    config = dataclasses.replace(FAST, backoff_initial=0.3, backoff_max=1.0, max_attempts=3)
    m = make_manager(config=config)
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "flaky", "FAILS": "2"})
    run = asyncio.create_task(m.run("restore"))
    await wait_until(lambda: step_status(m, "restore", "restore", RESTORE) == "DELAYED")
    step = m.status("restore")["phases"][1]["steps"][0]
    assert step["message"].startswith("attempt 1/3 failed, retrying in 0.3s: SlowDown"), step
    assert await asyncio.wait_for(run, 10) is Status.COMPLETE
    assert m.status("restore")["phases"][1]["steps"][0]["message"] == "ok on attempt 3"


async def test_transient_failure_errors_after_budget() -> None:
    m = make_manager()
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "flaky", "FAILS": "9"})
    assert await m.run("restore") is Status.ERROR
    st = m.status("restore")
    msg = f"{RESTORE} failed after 3 attempts: SlowDown: please reduce your request rate"
    assert st["phases"][1]["steps"][0]["message"] == msg
    assert st["errors"] == [msg]
    assert st["status"] == "ERROR"
    assert m.exit_code("restore") == 5


@pytest.mark.parametrize(
    ("kind", "message", "code"),
    [
        pytest.param("fail", f"{RESTORE} failed: access denied to bucket svc-photos", 5, id="perm"),
        pytest.param("crash", f"{RESTORE} failed: ValueError: boom", 1, id="crash-one-line"),
    ],
)
async def test_permanent_failure_errors_at_once(kind: str, message: str, code: int) -> None:
    work = FakeWork()
    m = make_manager(work=work)
    await m.start("restore", {**RESTORE_PARAMS, "KIND": kind})
    assert await m.run("restore") is Status.ERROR
    assert work.runs.count(RESTORE) == 1
    assert m.status("restore")["phases"][1]["steps"][0]["message"] == message
    assert m.exit_code("restore") == code


async def test_outcome_errors_are_listed_and_capped() -> None:
    m = make_manager(config=dataclasses.replace(FAST, max_error_lines=10))
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "errors", "COUNT": "25"})
    assert await m.run("restore") is Status.ERROR
    st = m.status("restore")
    assert st["phases"][1]["steps"][0]["message"] == "25 objects failed"
    assert len(st["errors"]) == 11
    assert st["errors"][0] == f"{RESTORE}: key-0: AccessDenied"
    assert st["errors"][-1] == f"{RESTORE}: ... and 15 more errors"
    assert m.exit_code("restore") == 7


async def test_secret_in_an_error_is_scrubbed(bucketvault_home: Path) -> None:
    m = make_manager()
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "leak"})
    assert await m.run("restore") is Status.ERROR
    st = m.status("restore")
    assert SECRET not in repr(st)
    assert "********" in st["phases"][1]["steps"][0]["message"]
    assert SECRET.encode() not in state_bytes(bucketvault_home)


async def test_secrets_file_is_private(bucketvault_home: Path) -> None:
    m = make_manager()
    await m.start("restore", RESTORE_PARAMS)
    path = bucketvault_home / "secrets" / "svc.restore.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert secrets.load("svc", "restore") == {"SECRET_ACCESS_KEY": SECRET}
    with StateStore().read() as tx:
        stored = tx.load("svc", "restore")
    assert stored is not None and stored.params["SECRET_ACCESS_KEY"] == "********"
    assert (bucketvault_home / "state.db").stat().st_mode & 0o777 == 0o600


async def test_start_again_after_complete_reruns_everything() -> None:
    work = FakeWork()
    m = make_manager(work=work)
    await m.start("restore", RESTORE_PARAMS)
    await m.run("restore")
    await m.start("restore", RESTORE_PARAMS)
    assert m.status("restore")["status"] == "PENDING"
    assert await m.run("restore") is Status.COMPLETE
    assert work.runs.count(RESTORE) == 2


async def test_start_after_error_keeps_completed_steps() -> None:
    work = FakeWork()
    m = make_manager(work=work)
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "fail"})
    assert await m.run("restore") is Status.ERROR
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "fail"})
    assert m.status("restore")["errors"] == []
    assert await m.run("restore") is Status.ERROR
    assert work.runs.count("init-0:[init]") == 1
    assert work.runs.count(RESTORE) == 2


async def test_start_while_running_conflicts() -> None:
    m = make_manager()
    await m.start("restore", {**RESTORE_PARAMS, "KIND": "block"})
    run = asyncio.create_task(m.run("restore"))
    await wait_until(lambda: m.running_pid("restore") is not None)
    with pytest.raises(ConflictError, match=r"plan 'restore' is already running \(pid \d+\)"):
        await m.start("restore", RESTORE_PARAMS)
    with pytest.raises(ConflictError, match="already running"):
        await make_manager().run("restore")
    m.stop("restore")
    await asyncio.wait_for(run, 5)


async def test_lock_conflict_between_two_plans() -> None:
    m = make_manager()
    await m.start("restore", {**RESTORE_PARAMS, "S3_BUCKET": "a", "KIND": "block"})
    run = asyncio.create_task(m.run("restore"))
    await wait_until(lambda: m.running_pid("restore") is not None)
    other = make_manager("other-svc")
    with pytest.raises(ConflictError, match="minio/a is in use by plan 'restore' of service 'svc'"):
        await other.start("backup", {"BUCKETS": "a"})
    assert StateStore().load("other-svc", "backup") is None
    await other.start("backup", {"BUCKETS": "b"})  # a different bucket is fine
    m.stop("restore")
    await asyncio.wait_for(run, 5)
    await other.start("backup", {"BUCKETS": "a"})  # released when the runner ended
    assert await other.run("backup") is Status.COMPLETE


def test_unknown_resolver_kind_is_an_error_not_a_crash() -> None:
    async def go() -> None:
        m = make_manager()
        await m.start("restore", {**RESTORE_PARAMS, "KIND": "nonexistent"})
        assert await m.run("restore") is Status.ERROR
        msg = m.status("restore")["phases"][1]["steps"][0]["message"]
        assert msg == f"{RESTORE} cannot run: ValueError: no work for kind nonexistent"

    asyncio.run(go())
