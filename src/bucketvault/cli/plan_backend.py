"""The two ways `bucketvault plan ...` reaches plans, behind one small interface.

- `HttpBackend`: a running scheduler (`--url` / `BUCKETVAULT_URL`, token from `--token` /
  `BUCKETVAULT_TOKEN`); plans run there.
- `LocalBackend`: in-process, on the state database; `start` (and `resume`,
  `force-restart`, `force-complete` when there is work to do and nobody runs the plan)
  drives the plan in the foreground until it completes, fails or is interrupted.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from bucketvault import event_loop
from bucketvault.errors import (
    BucketvaultError,
    ConflictError,
    NotFoundError,
    PlanInputError,
    StoreError,
    UsageError,
)

# how long a foreground run waits for its webhooks before the CLI exits
WEBHOOK_WAIT_S = 10.0

if TYPE_CHECKING:
    import httpx

    from bucketvault.plans.engine import PlanManager
    from bucketvault.plans.status import Status


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class PlanBackend(Protocol):
    local: bool

    def names(self) -> list[str]: ...
    def status(self, plan: str) -> dict[str, Any]: ...
    def start(self, plan: str, params: Mapping[str, str]) -> None: ...
    def stop(self, plan: str) -> None: ...
    def interrupt(self, plan: str, phase: str | None) -> bool: ...
    def proceed(self, plan: str, phase: str | None, params: Mapping[str, str]) -> bool: ...
    def force_complete(self, plan: str, phase: str, step: str) -> bool: ...
    def restart(
        self, plan: str, phase: str | None, step: str | None, params: Mapping[str, str]
    ) -> bool: ...
    def logs(self, plan: str, step: str | None) -> list[dict[str, Any]]: ...


class HttpBackend:
    local = False

    def __init__(
        self,
        url: str,
        token: str | None,
        service: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx  # only this back-end needs it: in-process plans do not pay for it

        self.url = url.rstrip("/")
        prefix = (
            f"/v1/service/{urllib.parse.quote(service, safe='')}/plans" if service else "/v1/plans"
        )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._base = self.url + prefix
        self._client = httpx.Client(headers=headers, timeout=30.0, transport=transport)

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            response = self._client.request(method, self._base + path, **kwargs)
        except httpx.HTTPError as exc:
            raise BucketvaultError(f"cannot reach the scheduler at {self.url}: {exc}") from exc
        if response.status_code in (200, 202, 208, 417):
            return response
        try:
            message = str(response.json().get("message", ""))
        except (ValueError, AttributeError):
            message = ""
        message = message or f"the scheduler answered HTTP {response.status_code}"
        errors: dict[int, Callable[[str], BucketvaultError]] = {
            400: PlanInputError,
            401: lambda m: UsageError(f"{m} (pass --token or set BUCKETVAULT_TOKEN)"),
            404: NotFoundError,
            409: ConflictError,
            502: StoreError,
        }
        raise errors.get(response.status_code, BucketvaultError)(message)

    def names(self) -> list[str]:
        return [str(n) for n in self._call("GET", "").json()]

    def status(self, plan: str) -> dict[str, Any]:
        body: dict[str, Any] = self._call("GET", f"/{_q(plan)}").json()
        return body

    def start(self, plan: str, params: Mapping[str, str]) -> None:
        self._call("POST", f"/{_q(plan)}/start", json=dict(params))

    def stop(self, plan: str) -> None:
        self._call("POST", f"/{_q(plan)}/stop")

    def _command(
        self, plan: str, command: str, body: Mapping[str, str] | None = None, **query: str | None
    ) -> bool:
        params = {k: v for k, v in query.items() if v is not None}
        extra: dict[str, Any] = {"json": dict(body)} if body else {}
        response = self._call("POST", f"/{_q(plan)}/{command}", params=params, **extra)
        return response.status_code != 208

    def interrupt(self, plan: str, phase: str | None) -> bool:
        return self._command(plan, "interrupt", phase=phase)

    def proceed(self, plan: str, phase: str | None, params: Mapping[str, str]) -> bool:
        return self._command(plan, "continue", params, phase=phase)

    def force_complete(self, plan: str, phase: str, step: str) -> bool:
        return self._command(plan, "forceComplete", phase=phase, step=step)

    def restart(
        self, plan: str, phase: str | None, step: str | None, params: Mapping[str, str]
    ) -> bool:
        return self._command(plan, "restart", params, phase=phase, step=step)

    def logs(self, plan: str, step: str | None) -> list[dict[str, Any]]:
        query = {"step": step} if step else {}
        events: list[dict[str, Any]] = self._call("GET", f"/{_q(plan)}/logs", params=query).json()
        return events


class LocalBackend:
    local = True

    def __init__(self, manager: PlanManager) -> None:
        self.manager = manager

    def names(self) -> list[str]:
        return self.manager.plan_names()

    def status(self, plan: str) -> dict[str, Any]:
        return self.manager.status(plan)

    def start(self, plan: str, params: Mapping[str, str]) -> None:
        event_loop.run(self.manager.start(plan, params))

    def stop(self, plan: str) -> None:
        self.manager.stop(plan)

    def interrupt(self, plan: str, phase: str | None) -> bool:
        return self.manager.interrupt(plan, phase)

    def proceed(self, plan: str, phase: str | None, params: Mapping[str, str]) -> bool:
        return self.manager.proceed(plan, phase, params)

    def force_complete(self, plan: str, phase: str, step: str) -> bool:
        return self.manager.force_complete(plan, phase, step)

    def restart(
        self, plan: str, phase: str | None, step: str | None, params: Mapping[str, str]
    ) -> bool:
        return self.manager.restart(plan, phase, step, params)

    def logs(self, plan: str, step: str | None) -> list[dict[str, Any]]:
        return [event.as_dict() for event in self.manager.logs(plan, step)]

    def needs_runner(self, plan: str) -> bool:
        """Whether the plan has work to start now and no process is running it."""
        return self.manager.running_pid(plan) is None and self.manager.has_runnable(plan)

    async def run(self, plan: str) -> Status:
        started = time.time()
        status = await self.manager.run(plan, interrupt_on_cancel=True)
        await self._tell_end(plan, status, started)
        return status

    async def _tell_end(self, plan: str, status: Status, started: float) -> None:
        """A run in the foreground (by hand, or from cron) counts like one of `bucketvault
        serve`: it goes into the run history that /metrics and the web view read, and to
        the service's webhooks, waited for a few seconds at most before the CLI exits."""
        from bucketvault.notify import Notifier, load_targets
        from bucketvault.plans.scheduler import RunEnd
        from bucketvault.plans.status import Status
        from bucketvault.runs import RunStore, record_run

        if status not in (Status.COMPLETE, Status.ERROR):
            return
        manager = self.manager
        end = RunEnd(manager.service, plan, status, started, time.time())
        record = record_run(manager.state, end)
        RunStore(manager.state).add(record)
        notifier = Notifier(load_targets)
        notifier.notify(record)
        await notifier.aclose(grace=WEBHOOK_WAIT_S)
