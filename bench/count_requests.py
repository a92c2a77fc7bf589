"""Count the S3 requests each tool sends, per server, for a mirror and its no-op re-run.

    python bench/count_requests.py --objects 20 --size 4096 --tools bucketvault,rclone[t32]

Both servers run `rclone serve s3` at debug level, which logs one line per operation
("GET OBJECT", "CREATE OBJECT", "HEAD OBJECT", "LIST BUCKET", ...); the lines written
during each command are counted. (Multipart-upload calls are not logged by the server.)
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
from pathlib import Path

from bucketvault.loopback import LoopbackServer, free_port
from measure import run_measured
from run import list_sizes, s3_client
from tools import TOOLS, Job
from workloads import Workload, write_source

OPERATION = re.compile(r"serve s3: ([A-Z][A-Z ]*[A-Z])(?=[ :]|$)", re.MULTILINE)


class LoggingServer(LoopbackServer):
    def command(self) -> list[str]:
        return [c for c in super().command() if c != "-q"] + ["-vv"]

    @property
    def log(self) -> Path:
        return self.root.parent / f"{self.kind}-{self.port}.log"


def start(root: Path) -> LoggingServer:
    root.mkdir(parents=True, exist_ok=True)
    server = LoggingServer(kind="rclone", port=free_port(), root=root)
    server.start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--tools", default="bucketvault,rclone[t32],rclone[t32+checksum]")
    args = parser.parse_args()
    wanted = args.tools.split(",")
    workload = Workload("count", "request count", args.objects, args.size, args.size, 9)
    with tempfile.TemporaryDirectory(prefix="bv-count-") as tmp:
        work = Path(tmp)
        write_source(workload, work / "src" / "rclone-data")
        src = start(work / "src" / "rclone-data")
        try:
            list_sizes(src, workload.bucket)  # hash the files now, not during a tool's run
            for tool in (t for t in TOOLS if t.label in wanted):
                scratch = work / tool.family / "scratch"
                scratch.mkdir(parents=True, exist_ok=True)
                dst = start(work / tool.family / tool.label / "rclone-data")
                try:
                    s3_client(dst).create_bucket(Bucket=workload.bucket)
                    job = Job(workload.bucket, src, dst, scratch)
                    for phase in ("mirror", "no-op"):
                        seen = {s.port: len(s.log.read_bytes()) for s in (src, dst)}
                        for step in tool.steps(job):
                            run_measured(
                                step.argv,
                                env=step.env,
                                cwd=scratch,
                                log=scratch / "out.log",
                                timeout=600,
                            )
                        for side, server in (("source", src), ("target", dst)):
                            text = server.log.read_bytes()[seen[server.port] :].decode(
                                errors="replace"
                            )
                            counts = collections.Counter(OPERATION.findall(text))
                            print(
                                f"{tool.label:22} {phase:6} {side}: {dict(sorted(counts.items()))}"
                            )
                finally:
                    dst.stop()
        finally:
            src.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
