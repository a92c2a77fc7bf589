"""Measure the store's two data planes: copy N small objects between two rclone servers
with the obstore fast path on (default) and off (aiobotocore only), in the same run.

    .venv/bin/python -m tests.store.measure_fast_path [--objects 2000] [--size 4096]

Not a test (timings never belong in asserting tests); move to bench/ when convenient.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from bucketvault.loopback import loopback_server
from bucketvault.store import ObjectAttributes, S3Endpoint


async def one_chunk(data: bytes):  # type: ignore[no-untyped-def]
    yield data


async def copy_all(src: S3Endpoint, dst: S3Endpoint, bucket: str, target: str, jobs: int) -> int:
    source = src.bucket(bucket)
    dest = dst.bucket(target)
    await dest.create()
    semaphore = asyncio.Semaphore(jobs)
    copied = 0

    async def copy(key: str) -> None:
        nonlocal copied
        async with semaphore:
            async with source.open(key) as reader:
                data = b"".join([c async for c in reader.chunks()])
                attributes = reader.attributes
            result = await dest.write(key, one_chunk(data), size=len(data), attributes=attributes)
            assert result.etag == result.expected_etag
            copied += 1

    async with asyncio.TaskGroup() as group:
        async for info in source.list():
            group.create_task(copy(info.key))
    return copied


async def main(objects: int, size: int, jobs: int, rounds: int) -> None:
    with loopback_server("rclone") as a, loopback_server("rclone") as b:
        seed = S3Endpoint(a.endpoint())
        bucket = seed.bucket("src")
        await bucket.create()
        payload = os.urandom(size)
        sem = asyncio.Semaphore(32)

        async def put(n: int) -> None:
            async with sem:
                await bucket.write(
                    f"obj/{n:06d}", one_chunk(payload), size=size, attributes=ObjectAttributes()
                )

        async with asyncio.TaskGroup() as group:
            for n in range(objects):
                group.create_task(put(n))
        await seed.close()
        for round_ in range(rounds):
            for fast in (True, False) if round_ % 2 == 0 else (False, True):
                src = S3Endpoint(a.endpoint(), fast_path=fast)
                dst = S3Endpoint(b.endpoint(), fast_path=fast)
                start = time.perf_counter()
                n = await copy_all(src, dst, "src", f"dst-{round_}-{int(fast)}", jobs)
                elapsed = time.perf_counter() - start
                await src.close()
                await dst.close()
                name = "obstore fast path" if fast else "aiobotocore only "
                print(
                    f"round {round_}: {name}: {n} x {size} B in {elapsed:.2f} s "
                    f"({n / elapsed:.0f} obj/s)"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--jobs", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.objects, args.size, args.jobs, args.rounds))
