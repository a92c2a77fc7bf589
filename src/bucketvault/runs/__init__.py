"""runs: what each plan run of the scheduler did, kept for the operator's console.

A *run* is one background run of a plan by `bucketvault serve` that ended COMPLETE or
ERROR (`plans.scheduler.RunEnd`). Its `RunRecord` sums its steps' last progress
(objects and bytes copied, objects failed, retries), names the buckets whose backup
step completed, and keeps the first failed keys. `RunStore` keeps the recent records
and, per backup bucket, the time of its last successful backup (the recovery point
`/metrics` exports) in the state database. No record holds a parameter value.
"""

from bucketvault.runs.record import RunRecord, StepRecord, record_run
from bucketvault.runs.store import RunStore

__all__ = ["RunRecord", "RunStore", "StepRecord", "record_run"]
