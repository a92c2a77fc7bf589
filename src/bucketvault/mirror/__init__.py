"""The mirror: make a target bucket hold what a source bucket holds, fast and faithfully.

Stages, joined by bounded queues inside one task group:
list (both sides) → merge (pure, sorted) → filter → decide (policy only) →
N transfer workers (copy + verify, retried) → delete phase (only after a clean copy).
Memory is bounded by concurrency, never by the number of objects. Every object is
accounted in `MirrorStats`.
"""

from bucketvault.mirror.engine import MirrorJob, MirrorOptions, run_mirror
from bucketvault.mirror.stats import MirrorStats, MirrorSummary

__all__ = ["MirrorJob", "MirrorOptions", "MirrorStats", "MirrorSummary", "run_mirror"]
