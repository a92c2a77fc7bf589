"""The benchmark workloads and how their source data is made.

Sources are written straight into the data directory of an `rclone serve s3` server before
it starts (the server maps `<root>/<bucket>/<key>` to files), then listed once so the
server has hashed every file for its ETags before any tool is timed.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB

PER_DIR = 1000  # keys are spread over "folders" of this many objects, as real buckets are


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    count: int
    min_size: int
    max_size: int  # equal to min_size for fixed-size workloads
    seed: int

    def scaled(self, scale: float) -> Workload:
        count = max(1, round(self.count * scale))
        return Workload(self.name, self.title, count, self.min_size, self.max_size, self.seed)

    @property
    def bucket(self) -> str:
        return f"bench-{self.name.lower()}"

    def objects(self) -> Iterator[tuple[str, int]]:
        """(key, size) for every object, deterministic for a given seed."""
        rng = random.Random(self.seed)
        lo, hi = math.log(self.min_size), math.log(self.max_size)
        for i in range(self.count):
            if self.min_size == self.max_size:
                size = self.min_size
            else:  # log-uniform between min_size and max_size
                size = min(self.max_size, int(math.exp(rng.uniform(lo, hi))))
            yield f"d{i // PER_DIR:04d}/obj-{i:07d}.bin", size


WORKLOADS: dict[str, Workload] = {
    "W1": Workload("W1", "5,000 objects of 4 KiB", 5000, 4 * KiB, 4 * KiB, 1),
    "W2": Workload("W2", "8 objects of 64 MiB", 8, 64 * MiB, 64 * MiB, 2),
    "W3": Workload("W3", "2,000 objects of 1 KiB-8 MiB, log-uniform", 2000, KiB, 8 * MiB, 3),
}


def rss_workload(count: int) -> Workload:
    return Workload(f"RSS-{count}", f"{count:,} objects of 1 KiB", count, KiB, KiB, 4)


def noop_workload(count: int) -> Workload:
    return Workload(f"NOOP-{count}", f"no-op of {count:,} objects of 1 KiB", count, KiB, KiB, 5)


def write_source(workload: Workload, root: Path) -> dict[str, int]:
    """Create the workload's bucket as files under `root`; return {key: size}."""
    pool = random.Random(workload.seed).randbytes(workload.max_size + 4 * KiB)
    bucket = root / workload.bucket
    manifest: dict[str, int] = {}
    made: set[Path] = set()
    for n, (key, size) in enumerate(workload.objects()):
        path = bucket / key
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        # a unique 32-byte head makes every object distinct; the body is a shifted slice
        head = hashlib.sha256(key.encode()).digest()[: min(32, size)]
        offset = (n * 4099) % (4 * KiB)
        path.write_bytes(head + pool[offset : offset + size - len(head)])
        manifest[key] = size
    return manifest


def total_bytes(manifest: dict[str, int]) -> int:
    return sum(manifest.values())
