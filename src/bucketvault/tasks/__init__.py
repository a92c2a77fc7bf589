"""What each plan step does: init, synchronize-buckets, backup, restore and verify.

Tasks turn a service, the plan's parameters and a bucket into mirror jobs and bucket
operations. They know nothing of plans' state, HTTP or terminals: they report
progress through a callback and return a `TaskResult`.
"""

from bucketvault.tasks.result import ProgressCallback, TaskResult

__all__ = ["ProgressCallback", "TaskResult"]
