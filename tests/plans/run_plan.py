"""Run one plan of the fake service in this process and print its final status.

Used by the crash and cross-process tests: `python -m tests.plans.run_plan SERVICE PLAN`.
"""

from __future__ import annotations

import asyncio
import sys

from tests.plans.fakes import make_manager


def main() -> None:
    service, plan = sys.argv[1:3]
    status = asyncio.run(make_manager(service).run(plan))
    print(status, flush=True)


if __name__ == "__main__":
    main()
