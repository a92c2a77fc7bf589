"""schedules: plans that start on their own, run by `bucketvault serve`.

Terms:

- *schedule*: one service's plan with its parameters (secrets masked), and when it is due:
  a cron expression (UTC, via `croniter`) or a fixed interval (`--every 6h`).
- *slot*: a time the schedule is due. An interval's slots are its creation time plus
  whole multiples of the interval; a cron expression's are the times it matches.
- *fire*: the ticker starting the plan of a due schedule. A run still going when the next
  slot comes is not doubled: that slot is *skipped* (and counted). After the scheduler
  was down, the schedule's next slot is in the past: it fires once, and the slot after
  it is the first one later than now (missed slots are not run one by one).

Schedules live in the state database (table `schedules`, `store.py`); the secret
parameters of a schedule (the backup store's secret key) live beside the plans' kept
secrets in `$BUCKETVAULT_HOME/secrets/` (mode 0600), never in the database.
"""

from bucketvault.schedules.model import Schedule, next_slot, parse_every, validate_cron
from bucketvault.schedules.store import ScheduleStore
from bucketvault.schedules.ticker import ScheduleTicker, TickerHealth

__all__ = [
    "Schedule",
    "ScheduleStore",
    "ScheduleTicker",
    "TickerHealth",
    "next_slot",
    "parse_every",
    "validate_cron",
]
