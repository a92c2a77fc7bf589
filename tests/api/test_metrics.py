"""`GET /metrics`: after a real backup (live store on moto, backup store on rclone), the
scraped text parses with prometheus_client's own parser and carries the right values;
it needs the API token like every route; a failing run shows as ERROR and is counted."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bucketvault.api.metrics import Metrics
from bucketvault.loopback import LoopbackServer
from bucketvault.plans.factory import manager_for
from bucketvault.plans.scheduler import Scheduler
from bucketvault.runs import RunRecord, StepRecord
from bucketvault.schedules import ScheduleStore
from tests.conftest import boto_client, new_bucket_name
from tests.e2e.helpers import run_cli
from tests.plans.fakes import make_manager

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from bucketvault.api.app import create_app

TOKEN = "metrics-token-" + "m" * 20
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def wait_for_run(client: TestClient, plan: str, limit: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        runs = client.get("/v1/runs", headers=AUTH).json()
        mine = [r for r in runs if r["plan"] == plan]
        if mine:
            return dict(mine[0])
        time.sleep(0.1)
    raise AssertionError(f"no run of {plan} was recorded")


@pytest.fixture
def real_client(moto: LoopbackServer, rclone: LoopbackServer) -> Iterator[TestClient]:
    added = run_cli(
        "service", "add", "minio", "--endpoint", moto.url, "--backup-endpoint", rclone.url,
        "--access-key", moto.access_key,
        env={"BUCKETVAULT_SECRET_ACCESS_KEY": moto.secret_key},
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    scheduler = Scheduler(factory=manager_for, default="minio")
    with TestClient(create_app(scheduler, TOKEN)) as client:
        yield client


def test_metrics_after_a_backup(
    real_client: TestClient,
    moto: LoopbackServer,
    rclone: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the scheduler's own backup credentials: it reads the snapshots after each backup
    monkeypatch.setenv("BUCKETVAULT_BACKUP_ACCESS_KEY_ID", rclone.access_key)
    monkeypatch.setenv("BUCKETVAULT_BACKUP_SECRET_ACCESS_KEY", rclone.secret_key)
    bucket = new_bucket_name("met")
    seeder = boto_client(moto)
    seeder.create_bucket(Bucket=bucket)
    sizes = [100, 2000, 30000]
    for i, size in enumerate(sizes):
        seeder.put_object(Bucket=bucket, Key=f"k/{i}", Body=b"x" * size)
    before = time.time()
    creds = {"ACCESS_KEY_ID": rclone.access_key, "SECRET_ACCESS_KEY": rclone.secret_key}
    assert real_client.get("/metrics").status_code == 401
    assert real_client.get("/metrics", headers={"Authorization": "Bearer no"}).status_code == 401
    started = real_client.post("/v1/plans/backup/start", json=creds, headers=AUTH)
    assert started.status_code == 200, started.text
    run = wait_for_run(real_client, "backup")
    assert run["status"] == "COMPLETE", run
    samples = scrape(real_client)
    after = time.time()

    last = value(
        samples, "bucketvault_backup_last_success_timestamp_seconds", service="minio", bucket=bucket
    )
    assert before <= last <= after
    status = {"service": "minio", "plan": "backup"}
    assert value(samples, "bucketvault_plan_last_run_status", **status, status="COMPLETE") == 1
    assert value(samples, "bucketvault_plan_last_run_status", **status, status="ERROR") == 0
    assert value(samples, "bucketvault_plan_runs_total", **status, status="COMPLETE") == 1
    assert value(samples, "bucketvault_plan_run_duration_seconds_count", **status) == 1
    duration = value(samples, "bucketvault_plan_run_duration_seconds_sum", **status)
    assert 0 < duration <= after - before
    per_bucket = {**status, "bucket": bucket}
    assert value(samples, "bucketvault_objects_copied_total", **per_bucket) == len(sizes)
    assert value(samples, "bucketvault_copied_bytes_total", **per_bucket) == sum(sizes)
    assert not [k for k in samples if k[0] == "bucketvault_objects_failed_total"]
    assert value(samples, "bucketvault_scheduler_up") == 1
    assert value(samples, "bucketvault_scheduler_start_time_seconds") <= before
    assert rclone.secret_key not in real_client.get("/metrics", headers=AUTH).text

    # a second backup with nothing changed copies nothing: the counters stay
    again = real_client.post("/v1/plans/backup/start", json=creds, headers=AUTH)
    assert again.status_code == 200, again.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = real_client.get("/v1/runs", headers=AUTH).json()
        if len(runs) >= 2:
            break
        time.sleep(0.1)
    assert [r["status"] for r in runs] == ["COMPLETE", "COMPLETE"], runs
    assert runs[0]["objects_copied"] == 0 and runs[1]["objects_copied"] == len(sizes)
    samples = scrape(real_client)
    assert value(samples, "bucketvault_plan_runs_total", **status, status="COMPLETE") == 2
    assert value(samples, "bucketvault_objects_copied_total", **per_bucket) == len(sizes)
    assert value(samples, "bucketvault_copied_bytes_total", **per_bucket) == sum(sizes)
    newer = value(
        samples, "bucketvault_backup_last_success_timestamp_seconds", service="minio", bucket=bucket
    )
    assert newer > last
    # each run published a snapshot (no retention policy: both are kept)
    labels = {"service": "minio", "bucket": bucket}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        samples = scrape(real_client)
        if samples.get(("bucketvault_snapshots", frozenset(labels.items()))) == 2:
            break
        time.sleep(0.2)
    assert value(samples, "bucketvault_snapshots", **labels) == 2
    oldest = value(samples, "bucketvault_snapshot_oldest_timestamp_seconds", **labels)
    assert before - 1 <= oldest <= last


def test_a_failed_run_and_schedules(tmp_path: Path) -> None:
    scheduler = Scheduler(factory=lambda svc: make_manager(svc), default="svc")
    store = ScheduleStore(scheduler.state)
    store.add(service="svc", plan="verify", params={"A": "b"}, every_s=3600, now=1000.0)
    with TestClient(create_app(scheduler, TOKEN)) as client:
        started = client.post("/v1/plans/verify/start", json={"KIND": "fail"}, headers=AUTH)
        assert started.status_code == 200
        assert wait_for_run(client, "verify")["status"] == "ERROR"
        samples = scrape(client)
    status = {"service": "svc", "plan": "verify"}
    assert value(samples, "bucketvault_plan_last_run_status", **status, status="ERROR") == 1
    assert value(samples, "bucketvault_plan_last_run_status", **status, status="COMPLETE") == 0
    assert value(samples, "bucketvault_plan_runs_total", **status, status="ERROR") == 1
    assert value(samples, "bucketvault_steps_failed_total", **status, bucket="") == 1
    sched = {"service": "svc", "schedule": "verify-1", "plan": "verify"}
    assert value(samples, "bucketvault_schedule_interval_seconds", **sched) == 3600
    assert value(samples, "bucketvault_schedule_next_run_timestamp_seconds", **sched) == 4600
    assert value(samples, "bucketvault_schedule_runs_skipped_total", **sched) == 0


def test_failed_objects_by_kind_and_retries() -> None:
    scheduler = Scheduler(factory=lambda svc: make_manager(svc), default="svc")
    metrics = Metrics(scheduler)
    step = StepRecord(
        phase="backup", step="backup-b", kind="backup", bucket="b", status="ERROR",
        message="", attempts=2, objects=10, copied=7, bytes=700, failed=3,
        failed_transient=1, retries=5,
    )  # fmt: skip
    metrics.observe(RunRecord("svc", "backup", "ERROR", 10.0, 25.0, (step,), 3, ("k: x",)))
    text = metrics.render().decode()
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    labels = {"service": "svc", "plan": "backup", "bucket": "b"}
    assert value(samples, "bucketvault_objects_failed_total", **labels, kind="transient") == 1
    assert value(samples, "bucketvault_objects_failed_total", **labels, kind="permanent") == 2
    assert value(samples, "bucketvault_retries_total", **labels) == 5
    assert value(samples, "bucketvault_objects_copied_total", **labels) == 7
    assert (
        value(samples, "bucketvault_plan_run_duration_seconds_sum", service="svc", plan="backup")
        == 15
    )


def test_alert_rules_use_exported_metrics() -> None:
    """docs/alerts.yml parses, and every bucketvault metric its rules use is exported."""
    import re

    import yaml

    rules_file = Path(__file__).resolve().parents[2] / "docs" / "alerts.yml"
    groups = yaml.safe_load(rules_file.read_text())["groups"]
    exprs = [rule["expr"] for group in groups for rule in group["rules"]]
    assert len(exprs) >= 4
    used = {name for expr in exprs for name in re.findall(r"bucketvault_[a-z_]+", expr)}

    scheduler = Scheduler(factory=lambda svc: make_manager(svc), default="svc")
    ScheduleStore(scheduler.state).add(service="svc", plan="backup", params={}, every_s=60)
    metrics = Metrics(scheduler)
    step = StepRecord(
        phase="backup", step="backup-b", kind="backup", bucket="b", status="COMPLETE",
        message="", attempts=1, objects=1, copied=1, bytes=1, failed=1,
        failed_transient=0, retries=0,
    )  # fmt: skip
    record = RunRecord("svc", "backup", "COMPLETE", 10.0, 11.0, (step,))
    metrics.runs.add(record)
    metrics.observe(record)
    exported = {
        sample.name
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
    }
    ticker_only = {"bucketvault_scheduler_last_tick_timestamp_seconds"}  # with a ticker
    assert used - exported <= ticker_only, used - exported
