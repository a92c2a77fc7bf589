"""Where ranges run: worker processes on this machine, or Ray tasks on a cluster.

An executor runs one `RangeWork` at a time per slot and gives back its `RangeOutcome`.
A worker that dies mid-range (killed process, lost Ray node) is reported as
`WorkerLost`, so the coordinator gives the range to another; any other error is the
range's own (a listing that failed) and ends the run, as it would in one process.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Protocol

from bucketvault.errors import BucketvaultError, UsageError
from bucketvault.scaleout.choice import check_executor
from bucketvault.scaleout.sealing import cluster_key, new_key
from bucketvault.scaleout.work import RangeOutcome, RangeWork, perform, start_worker


class WorkerLost(BucketvaultError):
    """The worker doing a range went away; the range is to be done again."""


class Executor(Protocol):
    @property
    def key(self) -> bytes:
        """The key the run's store descriptions are sealed with for these workers."""
        ...

    @property
    def slots(self) -> int:
        """How many ranges run at once."""
        ...

    async def run(self, work: RangeWork) -> RangeOutcome: ...

    async def close(self) -> None: ...


class ProcessExecutor:
    """N worker processes on this machine (spawned: nothing of the parent's state leaks
    in); the run's key reaches them over their private pipe, never a file."""

    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers or os.cpu_count() or 1
        self._key = new_key()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=get_context("spawn"),
            initializer=start_worker,
            initargs=(self._key,),
        )

    @property
    def key(self) -> bytes:
        return self._key

    @property
    def slots(self) -> int:
        return self._workers

    async def run(self, work: RangeWork) -> RangeOutcome:
        pool = self._pool
        try:
            return await asyncio.wrap_future(pool.submit(perform, work))
        except BrokenProcessPool as exc:
            # one dead process breaks the whole pool: start a new one for what remains
            if self._pool is pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            raise WorkerLost(f"a worker process died: {exc}") from None

    async def close(self) -> None:
        pool = self._pool
        await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)


def _ray_perform(work: RangeWork) -> RangeOutcome:
    start_worker(cluster_key())  # from the node's own key file: never a task argument
    return perform(work)


class RayExecutor:
    """Ray tasks on the cluster at `$RAY_ADDRESS` (or a local one started for the run).

    Ray's own task retries are off: a lost task is redone by the coordinator, which
    knows what the range already counted. The key is the cluster key file every node
    holds, so task arguments carry only ciphertext."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray needs Ray: pip install 'bucketvault[ray]'") from None
        address = address or os.environ.get("RAY_ADDRESS")
        if not ray.is_initialized():
            _start_driver(address)
        self._key = cluster_key(create=address is None)
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        self._workers = workers or max(1, cpus)
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_ray_perform)

    @property
    def key(self) -> bytes:
        return self._key

    @property
    def slots(self) -> int:
        return self._workers

    async def run(self, work: RangeWork) -> RangeOutcome:
        from ray import exceptions

        try:
            result: RangeOutcome = await self._remote.remote(work)
        except (
            exceptions.WorkerCrashedError,
            exceptions.NodeDiedError,
            exceptions.LocalRayletDiedError,
            exceptions.OutOfMemoryError,  # killed by Ray's memory monitor
            exceptions.ObjectLostError,
            exceptions.TaskCancelledError,
        ) as exc:
            raise WorkerLost(f"a Ray worker was lost: {type(exc).__name__}") from None
        except exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, BaseException) else None
            if cause is not None:
                raise cause from None
            raise
        return result

    async def close(self) -> None:
        pass


def _start_driver(address: str | None) -> None:
    """Join the cluster at `address`, or start a local one of our own (never join some
    other local cluster Ray happens to find). A cluster on a loopback address is joined
    from loopback: Ray would otherwise announce this machine's outside address to it."""
    import ray

    host = _check_reachable(address) if address else "127.0.0.1"
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    try:
        ray.init(
            address=address or "local",
            include_dashboard=False if address is None else None,
            log_to_driver=False,
            configure_logging=False,
            _node_ip_address="127.0.0.1" if loopback else None,
        )
    except (ConnectionError, ray.exceptions.AuthenticationError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot join the Ray cluster at {address}: {first} (is its auth token "
            "in this process's environment?)"
        ) from None


def _check_reachable(address: str, timeout_s: float = 3.0) -> str:
    """Fail in seconds with one line when no Ray cluster answers at `address` (Ray itself
    would keep retrying for minutes); the host it names."""
    import socket
    from urllib.parse import urlsplit

    if address == "auto":
        return ""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise UsageError(f"RAY_ADDRESS={address!r} is not host:port (or ray://host:port)")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise UsageError(
            f"no Ray cluster answers at {host}:{port} ({exc.strerror or exc}): start one "
            "with `ray start --head`, or unset RAY_ADDRESS to run a local one"
        ) from None
    return host


def open_executor(name: str, workers: int | None) -> Executor:
    """The executor `name` (`processes` or `ray`; `inline` runs without one)."""
    check_executor(name, workers)
    if name == "ray":
        return RayExecutor(workers)
    if name != "processes":
        raise UsageError(f"--executor {name} runs in this process: it opens no executor")
    return ProcessExecutor(workers)
