"""`GET /metrics`: the scheduler's state in the Prometheus text format (`prometheus_client`).

Two sources:

- what survives a restart, read from the state database at each scrape: each backup
  bucket's last successful backup (the recovery point an operator alerts on), each
  plan's last run, each schedule's interval, next slot and counts;
- what this process saw since it started, as counters and a histogram updated when a
  run ends (`observe`): runs, their durations, objects and bytes copied, objects failed
  by kind (`transient`: still failing after the retries, `permanent`), retries.

Labels are service, plan, bucket, schedule, status and kind names: never a parameter
value, so never a secret. Example alert rules: `docs/alerts.yml`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from bucketvault.runs import RunRecord, RunStore
from bucketvault.schedules import ScheduleStore

if TYPE_CHECKING:
    from bucketvault.notify import Notifier
    from bucketvault.plans.scheduler import Scheduler
    from bucketvault.schedules import ScheduleTicker

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = ("COMPLETE", "ERROR")
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400)


class _Stored:
    """Metrics read from the state database at each scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration; names are unique by construction

    def collect(self) -> Iterator[Metric]:
        m = self.m
        success = GaugeMetricFamily(
            "bucketvault_backup_last_success_timestamp_seconds",
            "When the backup of the bucket last completed (Unix time): the recovery point.",
            labels=["service", "bucket"],
        )
        for (service, bucket), at in sorted(m.runs.last_backup_success().items()):
            success.add_metric([service, bucket], at)
        yield success

        kept_family = GaugeMetricFamily(
            "bucketvault_snapshots",
            "Snapshots the backup bucket keeps (read after the last backup run).",
            labels=["service", "bucket"],
        )
        oldest_family = GaugeMetricFamily(
            "bucketvault_snapshot_oldest_timestamp_seconds",
            "When the oldest snapshot kept was complete (Unix time).",
            labels=["service", "bucket"],
        )
        for (service, bucket), (kept, first) in sorted(m.runs.snapshots().items()):
            kept_family.add_metric([service, bucket], kept)
            if first is not None:
                oldest_family.add_metric([service, bucket], first)
        yield kept_family
        yield oldest_family

        status = GaugeMetricFamily(
            "bucketvault_plan_last_run_status",
            "1 for the status the plan's last run ended in (COMPLETE or ERROR), else 0.",
            labels=["service", "plan", "status"],
        )
        ended = GaugeMetricFamily(
            "bucketvault_plan_last_run_timestamp_seconds",
            "When the plan's last run ended (Unix time).",
            labels=["service", "plan"],
        )
        last_duration = GaugeMetricFamily(
            "bucketvault_plan_last_run_duration_seconds",
            "How long the plan's last run took.",
            labels=["service", "plan"],
        )
        for run in m.runs.last_runs():
            for name in STATUSES:
                status.add_metric([run.service, run.plan, name], float(run.status == name))
            ended.add_metric([run.service, run.plan], run.ended)
            last_duration.add_metric([run.service, run.plan], run.duration_s)
        yield status
        yield ended
        yield last_duration

        running = GaugeMetricFamily(
            "bucketvault_plans_running",
            "Plans running in the background of this scheduler now.",
            labels=["service"],
        )
        counts: dict[str, int] = {}
        for service, _plan in m.scheduler.running():
            counts[service] = counts.get(service, 0) + 1
        for service, count in sorted(counts.items()):
            running.add_metric([service], count)
        yield running

        yield from self._schedules()
        yield from self._ticker()
        yield from self._notifications()

    def _notifications(self) -> Iterator[Metric]:
        notifier = self.m.notifier
        if notifier is None:
            return
        sent = CounterMetricFamily(
            "bucketvault_notifications",
            "Webhook deliveries, by result (delivered, failed: given up, dropped: too many "
            "pending) and their retries.",
            labels=["result"],
        )
        stats = notifier.stats
        for result, count in (
            ("delivered", stats.delivered),
            ("failed", stats.failed),
            ("dropped", stats.dropped),
            ("retried", stats.retries),
        ):
            sent.add_metric([result], count)
        yield sent

    def _schedules(self) -> Iterator[Metric]:
        labels = ["service", "schedule", "plan"]
        interval = GaugeMetricFamily(
            "bucketvault_schedule_interval_seconds",
            "Time between two slots of the schedule (alert when a backup is older than 2x).",
            labels=labels,
        )
        nxt = GaugeMetricFamily(
            "bucketvault_schedule_next_run_timestamp_seconds",
            "The schedule's next slot (Unix time); absent while paused.",
            labels=labels,
        )
        paused = GaugeMetricFamily(
            "bucketvault_schedule_paused", "1 while the schedule is paused.", labels=labels
        )
        started = CounterMetricFamily(
            "bucketvault_schedule_runs_started",
            "Runs the schedule started.",
            labels=labels,
        )
        skipped = CounterMetricFamily(
            "bucketvault_schedule_runs_skipped",
            "Slots skipped because the previous run was still going.",
            labels=labels,
        )
        failed = CounterMetricFamily(
            "bucketvault_schedule_runs_failed_to_start",
            "Slots whose plan could not be started (the reason is in `schedule list`).",
            labels=labels,
        )
        for s in self.m.schedules.list_schedules():
            values = [s.service, s.id, s.plan]
            interval.add_metric(values, s.interval_s)
            paused.add_metric(values, float(s.paused))
            if not s.paused:
                nxt.add_metric(values, s.next_run)
            started.add_metric(values, s.runs)
            skipped.add_metric(values, s.skipped)
            failed.add_metric(values, s.failed)
        yield from (interval, nxt, paused, started, skipped, failed)

    def _ticker(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "bucketvault_scheduler_up", "1: the scheduler answers (this process)."
        )
        up.add_metric([], 1.0)
        yield up
        start = GaugeMetricFamily(
            "bucketvault_scheduler_start_time_seconds", "When this scheduler started."
        )
        start.add_metric([], self.m.started)
        yield start
        ticker = self.m.ticker
        if ticker is None:
            return
        health = ticker.health
        last = GaugeMetricFamily(
            "bucketvault_scheduler_last_tick_timestamp_seconds",
            "When the schedule ticker last looked for due schedules (alert if it stalls).",
        )
        if health.last_tick is not None:
            last.add_metric([], health.last_tick)
        yield last
        for name, text, value in (
            ("bucketvault_scheduler_ticks", "Schedule ticks done.", health.ticks),
            (
                "bucketvault_scheduler_tick_errors",
                "Schedule ticks that failed.",
                health.tick_errors,
            ),
        ):
            counter = CounterMetricFamily(name, text)
            counter.add_metric([], value)
            yield counter


class Metrics:
    """The registry behind `/metrics` of one app."""

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        runs: RunStore | None = None,
        schedules: ScheduleStore | None = None,
        ticker: ScheduleTicker | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.notifier = notifier
        self.runs = runs or RunStore(scheduler.state)
        self.schedules = schedules or ScheduleStore(scheduler.state)
        self.ticker = ticker
        self.started = time.time()
        self.registry = CollectorRegistry()
        r = self.registry
        plan = ["service", "plan"]
        bucket = ["service", "plan", "bucket"]
        self.runs_total = Counter(
            "bucketvault_plan_runs", "Plan runs ended, by status.", [*plan, "status"], registry=r
        )
        self.duration = Histogram(
            "bucketvault_plan_run_duration_seconds",
            "How long plan runs took.",
            plan,
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.copied = Counter(
            "bucketvault_objects_copied", "Objects copied by plan runs.", bucket, registry=r
        )
        self.copied_bytes = Counter(
            "bucketvault_copied_bytes", "Bytes copied by plan runs.", bucket, registry=r
        )
        self.failed = Counter(
            "bucketvault_objects_failed",
            "Objects that failed in plan runs, by kind (transient: still failing after the "
            "retries; permanent).",
            [*bucket, "kind"],
            registry=r,
        )
        self.retries = Counter(
            "bucketvault_retries",
            "Retries in plan runs (of objects, and of whole steps).",
            bucket,
            registry=r,
        )
        self.step_errors = Counter(
            "bucketvault_steps_failed",
            "Steps that ended in ERROR.",
            bucket,
            registry=r,
        )
        r.register(_Stored(self))

    def observe(self, run: RunRecord) -> None:
        """Count a run that just ended."""
        self.runs_total.labels(run.service, run.plan, run.status).inc()
        self.duration.labels(run.service, run.plan).observe(run.duration_s)
        for step in run.steps:
            labels = (run.service, run.plan, step.bucket or "")
            if step.copied:
                self.copied.labels(*labels).inc(step.copied)
            if step.bytes:
                self.copied_bytes.labels(*labels).inc(step.bytes)
            permanent = max(0, step.failed - step.failed_transient)
            if step.failed_transient:
                self.failed.labels(*labels, "transient").inc(step.failed_transient)
            if permanent:
                self.failed.labels(*labels, "permanent").inc(permanent)
            if step.retries:
                self.retries.labels(*labels).inc(step.retries)
            if step.status == "ERROR":
                self.step_errors.labels(*labels).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
