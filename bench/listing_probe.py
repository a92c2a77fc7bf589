"""List one bucket with one ListObjectsV2 stream, or with N parallel range listers.

    python bench/listing_probe.py --url http://127.0.0.1:P --bucket B --mode single
    python bench/listing_probe.py --url ... --bucket B --mode ranges --listers 4
    python bench/listing_probe.py --url ... --bucket B --mode static --listers 4 --folders 1000

Credentials come from $PROBE_ACCESS_KEY and $PROBE_SECRET_KEY (never argv).

- single: one stream, in this process, through bucketvault's S3 store (`Bucket.list`).
- ranges: N spawned worker processes and a pull queue of `mirror.ranges.KeyRange`s, cut
  while running as `scaleout.coordinator` cuts them: the whole key space first (stopping
  after `FIRST_RANGE_KEYS`), then each range stops after `--range-keys` keys (fixed, as
  the coordinator's budget was before 966bc99 made it grow) and hands back the rest with a
  sample, which `split_remainder` cuts for the idle workers. Only listing: nothing is
  compared or copied.
- static: N ranges cut in advance on the known layout (`dNNNN/` folders, equal shares),
  one stream each: the best any cutting could do, for comparison.
- replay: no server. The coordinator's loop replayed on the benchmark's key layout
  (`--keys` keys, both sides of a no-op listed, `--listers` slots, the same budgets and
  `split_remainder`; `--grow` uses `coordinator.next_budget`): ranges, empty ranges, LIST
  pages against one stream's, and slot use, with one time unit per range handed out plus
  one per 1,000 keys a side.

Prints one JSON line: keys listed, ranges handed out, wall seconds, and per range kind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from bucketvault.config.endpoint import EndpointConfig
from bucketvault.config.secret import Secret
from bucketvault.mirror.ranges import WHOLE, KeyRange, split_remainder
from bucketvault.scaleout.coordinator import cut_parts
from bucketvault.scaleout.work import FIRST_RANGE_KEYS
from bucketvault.store.keys import sort_key

SAMPLE_EVERY = 25  # one side's keys: the engine keeps 2 of every 50 of both sides


@dataclass(frozen=True)
class Listed:
    count: int
    stopped_after: str | None
    sample: tuple[str, ...]


_state: dict[str, Any] = {}


def _init(url: str, bucket: str) -> None:
    from bucketvault.store import open_endpoint

    config = EndpointConfig(
        url=url,
        access_key_id=os.environ["PROBE_ACCESS_KEY"],
        secret_access_key=Secret(os.environ["PROBE_SECRET_KEY"]),
    )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    endpoint = open_endpoint(config)
    _state.update(loop=loop, endpoint=endpoint, bucket=endpoint.bucket(bucket, ""))


async def _list(key_range: KeyRange, budget: int | None) -> Listed:
    count, sample, stopped = 0, [], None
    async for info in _state["bucket"].list(start_after=key_range.start_after):
        if key_range.last is not None and key_range.past_end(sort_key(info.key)):
            break
        count += 1
        if count % SAMPLE_EVERY == 0:
            sample.append(info.key)
        if budget is not None and count >= budget:
            stopped = info.key
            break
    return Listed(count, stopped, tuple(sample))


def list_range(key_range: KeyRange, budget: int | None) -> Listed:
    result: Listed = _state["loop"].run_until_complete(_list(key_range, budget))
    return result


def pull_queue(pool: ProcessPoolExecutor, listers: int, range_keys: int) -> tuple[int, int]:
    """The coordinator's strategy, listing only; (keys, ranges handed out)."""
    waiting: deque[KeyRange] = deque([WHOLE])
    running: dict[Future[Listed], KeyRange] = {}
    keys = ranges = 0
    first = True
    while waiting or running:
        while waiting and len(running) < listers:
            budget = min(FIRST_RANGE_KEYS, range_keys) if first else range_keys
            first = False
            key_range = waiting.popleft()
            running[pool.submit(list_range, key_range, budget)] = key_range
            ranges += 1
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            key_range = running.pop(future)
            listed = future.result()
            keys += listed.count
            if listed.stopped_after is not None:
                rest = key_range.rest_after(listed.stopped_after)
                if rest is not None:
                    idle = listers - len(running) - len(waiting)
                    waiting.extend(split_remainder(rest, listed.sample, cut_parts(idle, listers)))
    return keys, ranges


def static_ranges(listers: int, folders: int) -> list[KeyRange]:
    bounds: list[str | None] = [None]
    bounds += [f"d{folders * i // listers:04d}" for i in range(1, listers)]
    bounds.append(None)
    return [KeyRange(bounds[i], bounds[i + 1]) for i in range(listers)]


def replay(keys: int, slots: int, *, grow: bool) -> dict[str, Any]:
    """The coordinator's pull queue on a sorted key list, in simulated time."""
    import bisect
    import heapq

    from bucketvault.scaleout.work import RANGE_KEYS

    names = [f"d{i // 1000:04d}/obj-{i:07d}.bin" for i in range(keys)]
    waiting: deque[KeyRange] = deque([WHOLE])
    running: list[tuple[float, int, KeyRange, str | None, list[str]]] = []
    now = busy = 0.0
    first, seq, listed, ranges, empty, pages = True, 0, 0, 0, 0, 0
    while waiting or running:
        while waiting and len(running) < slots:
            key_range = waiting.popleft()
            if first:
                budget = min(FIRST_RANGE_KEYS, RANGE_KEYS)
            elif grow:
                from bucketvault.scaleout.coordinator import next_budget

                budget = next_budget(RANGE_KEYS, listed, slots, windowed=False)
            else:
                budget = RANGE_KEYS
            first = False
            start = (
                0
                if key_range.start_after is None
                else bisect.bisect_right(names, key_range.start_after)
            )
            end = keys if key_range.last is None else bisect.bisect_right(names, key_range.last)
            per_side = budget // 2  # a no-op lists both sides; the budget counts both
            n = min(end - start, per_side)
            stopped = names[start + n - 1] if n == per_side else None
            sample = [names[j] for j in range(start, start + n) if ((j - start + 1) * 2) % 50 < 2]
            more = start + n < keys  # the listing prefetched one more page
            pages += 2 * (max(1, -(-n // 1000)) + more)
            ranges, empty, listed = ranges + 1, empty + (n == 0), listed + 2 * n
            heapq.heappush(running, (now + 1 + n / 1000, seq, key_range, stopped, sample))
            seq += 1
        end_time, _, key_range, stopped, sample = heapq.heappop(running)
        busy += (end_time - now) * (len(running) + 1)
        now = end_time
        if stopped is not None:
            rest = key_range.rest_after(stopped)
            if rest is not None:
                idle = slots - len(running) - len(waiting)
                waiting.extend(split_remainder(rest, sample, cut_parts(idle, slots)))
    return {
        "mode": "replay",
        "listers": slots,
        "keys": keys,
        "grow": grow,
        "ranges": ranges,
        "empty_ranges": empty,
        "list_pages_vs_one_stream": pages / (2 * -(-keys // 1000)),
        "slot_use": busy / (now * slots),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--bucket")
    parser.add_argument(
        "--mode", choices=("single", "ranges", "static", "replay"), default="single"
    )
    parser.add_argument("--keys", type=int, default=1_000_000, help="replay: keys a side")
    parser.add_argument("--grow", action="store_true", help="replay: growing budgets")
    parser.add_argument("--listers", type=int, default=1)
    parser.add_argument("--range-keys", type=int, default=2000)
    parser.add_argument("--folders", type=int, default=1000)
    args = parser.parse_args()
    if args.mode == "replay":
        print(json.dumps(replay(args.keys, args.listers, grow=args.grow)))
        return 0
    if args.url is None or args.bucket is None:
        parser.error("--url and --bucket are needed to list")
    started = time.perf_counter()
    if args.mode == "single":
        _init(args.url, args.bucket)
        keys, ranges = list_range(WHOLE, None).count, 1
    else:
        with ProcessPoolExecutor(
            max_workers=args.listers,
            mp_context=get_context("spawn"),
            initializer=_init,
            initargs=(args.url, args.bucket),
        ) as pool:
            if args.mode == "ranges":
                keys, ranges = pull_queue(pool, args.listers, args.range_keys)
            else:
                parts = static_ranges(args.listers, args.folders)
                keys = sum(
                    f.result().count for f in [pool.submit(list_range, r, None) for r in parts]
                )
                ranges = len(parts)
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "mode": args.mode,
                "listers": args.listers,
                "keys": keys,
                "ranges": ranges,
                "wall_s": wall,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
