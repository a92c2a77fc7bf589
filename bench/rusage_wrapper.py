"""Run a command and write its wall time, exit code and rusage to a JSON file.

Usage: python rusage_wrapper.py REPORT.json COMMAND [ARGS...]

Kept to the standard library's smallest modules on purpose: a command inherits the RSS
high-water mark of the process it was forked from, so that process must be small.
"""

import json
import os
import resource
import sys
import time


def main(report: str, argv: list[str]) -> int:
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the command: same process group, same stdio
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(report, "w") as out:
        json.dump(
            {
                "returncode": os.waitstatus_to_exitcode(status),
                "wall_s": wall,
                "maxrss_kib": usage.ru_maxrss,
                "cpu_s": usage.ru_utime + usage.ru_stime,
            },
            out,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
