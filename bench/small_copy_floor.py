"""Client CPU per small-object copy: obstore alone against bucketvault's whole copy path.

Two fresh `rclone serve s3` servers on loopback; N objects of 4 KiB are written to the
first, then copied to the second twice, 32 at a time: once with bare obstore calls
(GET, read the body, PUT: the least any obstore-based client can do) and once with
`mirror.transfer.copy_object` (bucketvault's path: checks, attributes, verification,
accounting). It prints this process's CPU time per object for both, the floor and what
bucketvault adds to it. The CPU the servers spend is not counted.

    .venv/bin/python bench/small_copy_floor.py --objects 1500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
from collections.abc import Awaitable, Callable

import obstore

from bucketvault.loopback import loopback_server
from bucketvault.mirror.stats import MirrorStats
from bucketvault.mirror.transfer import TransferSettings, copy_object
from bucketvault.store import RetryPolicy, S3Endpoint


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def timed(label: str, count: int, copy: Callable[[str], Awaitable[None]]) -> None:
    gate = asyncio.Semaphore(32)

    async def one(key: str) -> None:
        async with gate:
            await copy(key)

    wall, cpu = time.perf_counter(), cpu_seconds()
    await asyncio.gather(*(one(f"d/k{i:06d}") for i in range(count)))
    used = cpu_seconds() - cpu
    print(
        f"{label:<28} {time.perf_counter() - wall:6.2f} s wall  {used:6.2f} s CPU  "
        f"{used / count * 1e6:6.0f} us CPU per object"
    )


async def main(count: int) -> None:
    retry = RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.5)
    with loopback_server("rclone") as a, loopback_server("rclone") as b:
        source, target = S3Endpoint(a.endpoint(), retry_policy=retry), S3Endpoint(b.endpoint())
        try:
            src = source.bucket("small-src")
            await src.create()
            raw = source.clients.store("small-src")

            async def fill(key: str) -> None:
                for _ in range(10):  # rclone answers 500 to a few concurrent first writes
                    try:
                        await obstore.put_async(raw, key, os.urandom(4096))
                        return
                    except Exception:
                        await asyncio.sleep(0.05)

            await asyncio.gather(*(fill(f"d/k{i:06d}") for i in range(count)))

            obstore_dst = target.bucket("small-obstore")
            bucketvault_dst = target.bucket("small-bucketvault")
            await obstore_dst.create()
            await bucketvault_dst.create()
            raw_target = target.clients.store("small-obstore")

            async def bare(key: str) -> None:
                got = await obstore.get_async(raw, key)
                body = bytes(await got.bytes_async())
                await obstore.put_async(raw_target, key, body, use_multipart=False)

            stats, settings = MirrorStats(), TransferSettings()

            async def whole(key: str) -> None:
                await copy_object(src, bucketvault_dst, key, stats, settings)

            await timed("obstore GET + PUT only", count, bare)
            await timed("bucketvault copy_object", count, whole)
        finally:
            await source.close()
            await target.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1500)
    asyncio.run(main(parser.parse_args().objects))
