"""The coordinator, with ranges done in this process on the memory store: the same result
as one process, nothing counted twice when a worker dies, deletes only after a clean run."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bucketvault.errors import PermanentStoreError
from bucketvault.mirror import MirrorJob, MirrorOptions, MirrorSummary, run_mirror
from bucketvault.mirror.decide import Action
from bucketvault.mirror.ranges import WHOLE, KeyRange
from bucketvault.scaleout.coordinator import MAX_ATTEMPTS, RangeLostError, run_distributed
from bucketvault.store.keys import sort_key
from bucketvault.store.memory import MemoryBucket, MemoryEndpoint
from tests.scaleout.support import (
    FAST_RETRY,
    InProcessExecutor,
    contents,
    counts,
    distributed,
    put,
)

BAD_KEY = "d4/obj-00151.bin"  # the one object whose read fails, in FailingBucket


class FailingBucket(MemoryBucket):
    """A source whose every read of `BAD_KEY` is refused (an object it may not read)."""

    @asynccontextmanager
    async def open(self, key: str, *, version_id: str | None = None) -> AsyncIterator[Any]:
        if key == BAD_KEY:
            raise PermanentStoreError(f"access denied to {key!r} (test)", code="AccessDenied")
        async with super().open(key, version_id=version_id) as reader:
            yield reader


async def world(n: int = 400, *, stale: int = 0, seed: int = 1) -> MemoryEndpoint:
    """`src` with `n` objects; `dst` holding a third of them, a few changed (same size:
    conflicts), and `stale` keys the source does not have."""
    rng = random.Random(seed)
    endpoint = MemoryEndpoint()
    src, dst = endpoint.bucket("src"), endpoint.bucket("dst")
    await src.create()
    await dst.create()
    for i in range(n):
        key = f"d{i % 7}/obj-{i:05d}.bin"
        data = rng.randbytes(rng.randint(0, 300))
        attrs = {"content_type": "text/plain", "metadata": {"index": str(i)}}
        await put(src, key, data, **attrs)
        if i % 3 == 0:
            changed = bytes(b ^ 1 for b in data) if i % 30 == 0 and data else data
            await put(dst, key, changed, **attrs)
    for j in range(stale):
        await put(dst, f"stale/{j:04d}", b"old")
    return endpoint


Actions = list[tuple[str, Action, int]]


async def inline(
    endpoint: MemoryEndpoint, source_kind: type[MemoryBucket] = MemoryBucket, **options: Any
) -> tuple[MirrorSummary, Actions]:
    actions: Actions = []
    options.setdefault("retry", FAST_RETRY)
    source = source_kind(endpoint, "src")
    job = MirrorJob(source, endpoint.bucket("dst"), MirrorOptions(**options))
    summary = await run_mirror(job, on_action=lambda *a: actions.append(a))
    return summary, actions


async def spread(
    executor: InProcessExecutor, range_keys: int = 37, **options: Any
) -> tuple[MirrorSummary, Actions]:
    actions: Actions = []
    work = distributed(executor, "src", "dst", **options)
    if "src" in executor.buckets:
        failing = executor.buckets["src"](executor.endpoint, "src")
        work = type(work)(MirrorJob(failing, work.job.target, work.job.options), work.spec)
    summary = await run_distributed(
        work, executor, on_action=lambda *a: actions.append(a), range_keys=range_keys
    )
    return summary, actions


OPTIONS = [
    {},
    {"overwrite": True},
    {"remove": True},
    {"remove": True, "overwrite": True, "workers": 3},
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "default")
async def test_the_same_result_as_one_process(options: dict[str, Any]) -> None:
    one, many = await world(stale=25), await world(stale=25)
    want, _ = await inline(one, **options)
    executor = InProcessExecutor(many, slots=3)
    got, _ = await spread(executor, **options)
    assert counts(got) == counts(want)
    assert await contents(many.bucket("dst")) == await contents(one.bucket("dst"))
    assert len(executor.works) > 5  # the run really was cut into many ranges
    again, _ = await spread(InProcessExecutor(many, slots=3), **options)
    assert (again.copied, again.deleted, again.transferred_bytes) == (0, 0, 0)


async def test_ranges_handed_out_cover_the_key_space_once() -> None:
    endpoint = await world()
    executor = InProcessExecutor(endpoint, slots=4)
    summary, _ = await spread(executor)
    ranges = sorted(
        (w.key_range for w in executor.works), key=lambda r: sort_key(r.start_after or "")
    )
    # every handed-out range, minus the part its worker handed back, tiles the key space
    done = []
    for outcome in executor.outcomes:
        r = outcome.key_range
        done.append(KeyRange(r.start_after, outcome.stopped_after or r.last))
    done.sort(key=lambda r: sort_key(r.start_after or ""))
    assert done[0].start_after is None and done[-1].last is None
    for left, right in itertools.pairwise(done):
        assert left.last == right.start_after
    assert sum(o.summary.listed_source for o in executor.outcomes if o.summary) == 400
    assert summary.listed_source == 400
    assert ranges[0] == WHOLE


KEYS = st.lists(
    st.text(st.sampled_from(list("09azAZ-/._ é日😀")), min_size=1, max_size=6),
    min_size=0,
    max_size=80,
    unique=True,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys=KEYS,
    range_keys=st.integers(2, 15),
    slots=st.integers(1, 5),
    lose=st.frozensets(st.integers(0, 12), max_size=3),
    lose_after=st.one_of(st.none(), st.integers(1, 4)),
)
def test_every_key_is_copied_exactly_once(
    keys: list[str], range_keys: int, slots: int, lose: frozenset[int], lose_after: int | None
) -> None:
    async def scenario() -> None:
        endpoint = MemoryEndpoint()
        for key in keys:
            await put(endpoint.bucket("src"), key, key.encode() * 2)
        await endpoint.bucket("src").create()
        executor = InProcessExecutor(endpoint, slots=slots, lose=lose, lose_after_writes=lose_after)
        summary, _ = await spread(executor, range_keys=range_keys)
        assert set(executor.writes) == set(keys)
        assert set(executor.writes.values()) <= {1}  # a lost worker's copies are not redone
        assert summary.listed_source == len(keys)
        assert summary.copied + summary.skipped == len(keys)
        assert summary.failed == 0
        got = await contents(endpoint.bucket("dst"))
        assert {k: v[0] for k, v in got.items()} == {k: k.encode() * 2 for k in keys}

    asyncio.run(scenario())


@pytest.mark.parametrize("lose_after", [5, None], ids=["mid-range", "before-reporting"])
async def test_a_lost_worker_s_range_is_redone_and_counted_once(lose_after: int | None) -> None:
    one, many = await world(stale=10), await world(stale=10)
    want, _ = await inline(one, remove=True)
    executor = InProcessExecutor(
        many, slots=3, lose=frozenset({0, 2, 3}), lose_after_writes=lose_after
    )
    got, _ = await spread(executor, remove=True)
    assert executor.lost == 3
    assert await contents(many.bucket("dst")) == await contents(one.bucket("dst"))
    # what the lost workers copied is found at the target when the range is redone:
    # skipped then, never copied (or listed) twice
    lost_copies = sum(executor.writes.values()) - got.copied
    assert lost_copies > 0
    assert set(executor.writes.values()) == {1}
    assert got.copied == want.copied - lost_copies
    assert got.skipped == want.skipped + lost_copies
    assert got.listed_target == want.listed_target + lost_copies
    same = ("listed_source", "conflicts", "deleted", "kept_extra", "failed")
    assert {k: counts(got)[k] for k in same} == {k: counts(want)[k] for k in same}


async def test_a_range_whose_workers_keep_dying_ends_the_run_and_deletes_nothing() -> None:
    endpoint = await world(stale=10)
    executor = InProcessExecutor(
        endpoint,
        slots=2,
        lose_if=lambda r: r.start_after is not None,  # every range but the first
        lose_after_writes=1,
    )
    with pytest.raises(RangeLostError, match=f"{MAX_ATTEMPTS} workers died"):
        await spread(executor, remove=True)
    stale = [k for k in await contents(endpoint.bucket("dst")) if k.startswith("stale/")]
    assert len(stale) == 10


async def test_remove_with_one_failed_object_deletes_nothing() -> None:
    one, many = await world(stale=25), await world(stale=25)
    want, _ = await inline(one, remove=True, source_kind=FailingBucket)
    executor = InProcessExecutor(many, slots=3, buckets={"src": FailingBucket})
    got, _ = await spread(executor, remove=True)
    assert got.failed == 1 and got.failed_objects[0].key == BAD_KEY
    assert got.deleted == 0
    assert "failed to copy; deleting nothing" in (got.delete_skipped_reason or "")
    assert counts(got) == counts(want)
    stale = [k for k in await contents(many.bucket("dst")) if k.startswith("stale/")]
    assert len(stale) == 25
    # the failing object was in one range among many: the others all ran and copied
    assert len(executor.outcomes) > 5
    assert await contents(many.bucket("dst")) == await contents(one.bucket("dst"))


async def test_max_delete_is_respected_across_ranges() -> None:
    one, many = await world(stale=30), await world(stale=30)
    want, _ = await inline(one, remove=True, max_delete=29)
    got, _ = await spread(InProcessExecutor(many, slots=3), remove=True, max_delete=29)
    assert got.deleted == 0 and got.kept_extra == want.kept_extra
    assert "exceed --max-delete 29" in (got.delete_skipped_reason or "")
    assert counts(got) == counts(want)
    allowed, _ = await spread(InProcessExecutor(many, slots=3), remove=True, max_delete=30)
    assert allowed.deleted == 30


async def test_deletes_happen_only_after_every_range_ended() -> None:
    endpoint = await world(stale=20)
    operations: list[str] = []
    endpoint.fault = lambda operation, key: operations.append(operation)
    got, _ = await spread(InProcessExecutor(endpoint, slots=3), remove=True)
    assert got.deleted == 20
    first_delete = operations.index("delete")
    assert {"list", "get", "put"} <= set(operations[:first_delete])
    assert set(operations[first_delete:]) == {"delete"}


@pytest.mark.parametrize("target_exists", [True, False])
async def test_dry_run_lists_the_same_actions_and_changes_nothing(target_exists: bool) -> None:
    one, many = await world(stale=12), await world(stale=12)
    if not target_exists:
        for endpoint in (one, many):
            await endpoint.delete_bucket("dst")
    before = await contents(many.bucket("dst")) if target_exists else None
    want, want_actions = await inline(one, remove=True, dry_run=True)
    got, got_actions = await spread(InProcessExecutor(many, slots=3), remove=True, dry_run=True)
    assert counts(got) == counts(want)
    assert sorted(got_actions) == sorted(want_actions)
    assert len(got_actions) == len(want_actions) > 0
    # deletions are told after every copy, as in one process
    kinds = [action for _, action, _ in got_actions]
    if Action.DELETE in kinds:
        assert all(k is Action.DELETE for k in kinds[kinds.index(Action.DELETE) :])
    if target_exists:
        assert await contents(many.bucket("dst")) == before
    else:
        assert not await many.bucket("dst").exists()
